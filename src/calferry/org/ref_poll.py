"""The central poll's last step: the records the technicians' runs need, read once per cycle for everyone.

What a run shows beside its items (a to-do's company, contact and action type, a company's country, a
service call's company, tickets and tasks, the technician's resource and its location's zone) is read
here, after the poll's changes, into :class:`calferry.org.refs.RefCache`, so that a run reads none of
it from Autotask. Per entity and cycle, one ``in`` query per 500 ids (the client splits longer lists)
of:

- the ids the cycle's new and changed items (and the enabled technicians' resources) name that the
  cache does not hold yet: in a steady state almost none, since most items name known companies;
- the records read longer ago than the entity's ``age`` (a renamed company, a resource made inactive),
  at most 500 a cycle, the oldest first: the technicians' resources every hour, the rest once a day.

Action types are few and a run offers them all: they are read whole, in one query, when one is missing
or old. A quiet cycle therefore costs nothing here but the hourly ``⌈technicians / 500⌉`` resource
read-back; a day's refresh of the rest costs ``⌈records / 500⌉`` queries per entity, spread over cycles.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from calferry.model import PsaKind, WorkKind
from calferry.org.refs import RefCache, Row
from calferry.org.store import OrgStore
from calferry.psa.autotask import AutotaskClient
from calferry.psa.query import ALL, in_

__all__ = ["WORK_KEY", "read_references"]

WORK_KEY = "calferryWork"
"""The key of a cached service call's row holding its tickets and tasks: ``[["ticket", id], ...]``."""
BATCH = 500
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@dataclass(frozen=True)
class _Entity:
    """One referenced Autotask entity: what to read of it, how long a record is trusted, what it names."""

    name: str
    fields: tuple[str, ...] | None = None
    age: timedelta = DAY
    names: tuple[tuple[str, str], ...] = ()  # (field, entity) of what its records refer to in turn


ENTITIES = (  # in this order: an entity's records name those of later ones
    _Entity("Resources", age=HOUR, names=(("locationID", "InternalLocations"),)),
    _Entity("InternalLocations"),
    _Entity("Companies", names=(("countryID", "Countries"),)),
    _Entity("Countries", ("id", "displayName", "name")),
    _Entity("Contacts"),
    _Entity("Tickets", ("id", "ticketNumber", "title")),
    _Entity("Tasks", ("id", "taskNumber", "title")),
    _Entity("ActionTypes"),
)
WHOLE = "ActionTypes"
"""Read whole, in one query, rather than by id."""
_NAMED = {  # kind -> (field of its row, entity it names)
    PsaKind.TODO: (("companyID", "Companies"), ("contactID", "Contacts"), ("actionType", "ActionTypes")),
    PsaKind.SERVICE_CALL: (("companyID", "Companies"),),
}
_WORK_ENTITY = {WorkKind.TICKET.value: "Tickets", WorkKind.TASK.value: "Tasks"}


def read_references(client: AutotaskClient, store: OrgStore, changed: dict[PsaKind, set[int]]) -> None:
    """Read what the ``changed`` items and the enabled technicians name and the cache lacks or holds too
    long; every request is ``client``'s (so the poll counts it)."""
    refs = RefCache(store.engine)
    needed = _needed(store, changed)
    for entity in ENTITIES:
        fresh = _read(client, refs, entity, needed[entity.name])
        for field, target in entity.names:
            needed[target].update(int(row[field]) for row in fresh if row.get(field))


def _needed(store: OrgStore, changed: dict[PsaKind, set[int]]) -> defaultdict[str, set[int]]:
    needed: defaultdict[str, set[int]] = defaultdict(set)
    needed["Resources"] = {t.resource_id for t in store.technicians(enabled_only=True)}
    for kind, named in _NAMED.items():
        for cached in store.cached(kind, changed.get(kind, ())).values():
            for row in (c.row for c in cached[:1]):
                for field, entity in named:
                    if row.get(field):
                        needed[entity].add(int(row[field]))
                for work_kind, work_id in row.get(WORK_KEY, ()):
                    needed[_WORK_ENTITY[work_kind]].add(int(work_id))
    return needed


def _read(client: AutotaskClient, refs: RefCache, entity: _Entity, needed: set[int]) -> list[Row]:
    """The records of ``entity`` missing or old in the cache, read and kept; what was read."""
    missing = needed - refs.rows(entity.name, needed).keys()
    due = sorted(missing | set(refs.stale(entity.name, entity.age, BATCH)))
    if not due:
        return []
    if entity.name == WHOLE:
        found = _by_id(client.query(entity.name, ALL))
    else:
        fields = list(entity.fields) if entity.fields else None
        found = _by_id(client.query(entity.name, in_("id", due), fields))
    refs.put(entity.name, {**dict.fromkeys(due), **found})
    return list(found.values())


def _by_id(rows: Iterable[dict[str, Any]]) -> dict[int, Row]:
    return {int(row["id"]): row for row in rows}
