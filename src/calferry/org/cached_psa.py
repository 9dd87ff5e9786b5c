"""The PSA as a technician's run in the org service reads it: from the central poll's cache, not Autotask.

The central poll holds every item of the window, full rows included, for all technicians, and reads once
per cycle what they name (:mod:`calferry.org.ref_poll`); reading any of it again per technician is what
would spend the shared Autotask budget. ``CachedPsa`` is ``AutotaskPsa`` with its reads served from the
org store: the change markers and items of every kind (a service call with the tickets and tasks the poll
kept in its row), the companies, countries, contacts, action types, tickets and tasks they name, and the
technician's resource with its location's zone. A run that writes nothing therefore costs no Autotask
request. Writes go to Autotask through the shared gate, as do the reads that go with them (an item read
back after a write, a conflict's check of the PSA's version), and a look-up by name.

The cache is at most one cycle old, the same lag the poll has; the poll's window is a day wider on each
side than any technician's, so nothing a technician's window holds is missing from it (a missing linked
item would read as deleted). A record the poll has not read (its read failed), and an item asked for by
id that is newer than the poll (made by a send since), are read from Autotask: a run is never wrong for
the cache's sake, only dearer. A resource the PSA no longer has, or marks
inactive, is a ``LookupFailed`` of ``me``: the run disables its technician.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from calferry.contracts import PsaMarker, PsaSnapshot
from calferry.errors import LookupFailed
from calferry.model import ActionType, PsaItem, PsaKind, PsaRef, Window, WorkKind
from calferry.org.ref_poll import ENTITIES, WORK_KEY
from calferry.org.refs import RefCache
from calferry.org.store import CachedItem, OrgStore
from calferry.psa.autotask import AutotaskClient
from calferry.psa.gateway import _ITEM, _WORK, AutotaskPsa, _action_type, _marker
from calferry.psa.query import Filter

__all__ = ["CachedPsa"]

Row = dict[str, Any]
_REFERENCED = frozenset(entity.name for entity in ENTITIES)


class CachedPsa(AutotaskPsa):
    """``AutotaskPsa`` reading the window's items and what they name from the org store."""

    def __init__(self, client: AutotaskClient, resource: int, store: OrgStore) -> None:
        super().__init__(client, resource)
        self.store = store
        self.refs = RefCache(store.engine)

    def markers(self, window: Window, resource_id: int, kinds: Iterable[PsaKind]) -> list[PsaMarker]:
        return [_marker(c.kind, dict(c.row)) for c in self.store.cached_for(resource_id, kinds, window)]

    def snapshot(self, window: Window, resource_id: int, kinds: Iterable[PsaKind]) -> PsaSnapshot:
        return self._served(self.store.cached_for(resource_id, kinds, window))

    def fetch(self, refs: Iterable[PsaRef]) -> PsaSnapshot:
        """The items by ref from the cache; one it lacks (made since the poll, e.g. by a send) from Autotask."""
        wanted = list(refs)
        found: list[CachedItem] = []
        for kind in PsaKind:
            ids = [r.id for r in wanted if r.kind is kind]
            found += [rows[0] for rows in self.store.cached(kind, ids).values() if rows] if ids else []
        served = self._served(found)
        have = {PsaRef(c.kind, c.psa_id) for c in found}
        missing = [r for r in wanted if r not in have]
        return _merged(served, super().fetch(missing)) if missing else served

    def _served(self, cached: Iterable[CachedItem]) -> PsaSnapshot:
        """The cached items as the engine's, with the records they name (from the reference cache)."""
        items: list[PsaItem] = []
        calls: list[Row] = []
        for c in cached:
            if c.kind is PsaKind.SERVICE_CALL:
                calls.append(dict(c.row))
            else:
                items.append(_ITEM[c.kind](dict(c.row)))
        items.extend(self._with_work(calls, _work_links(calls)))
        return self._with_references(tuple(items))

    # --- what the items name, from the reference cache ----------------------------------------

    def _rows_in(
        self,
        entity: str,
        field: str,
        ids: list[int],
        fields: list[str] | None = None,
        extra: Filter | None = None,
    ) -> list[Row]:
        if entity not in _REFERENCED or field != "id" or extra is not None:
            return super()._rows_in(entity, field, ids, fields, extra)
        known = self.refs.rows(entity, ids)
        missing = sorted({int(i) for i in ids} - known.keys())
        return [row for row in known.values() if row is not None] + super()._rows_in(
            entity, field, missing, fields
        )

    def _all_action_types(self) -> dict[int, ActionType]:
        if self._action_types is None:
            rows = self.refs.all_rows("ActionTypes")
            if not rows:
                return super()._all_action_types()
            self._action_types = {row["id"]: _action_type(row) for row in rows}
        return self._action_types

    def _resource_row(self, ref: str | int | None) -> Row:
        """The technician's resource as the poll last read it (every hour at least)."""
        resource = int(str(ref))
        known = self.refs.rows("Resources", [resource])
        if resource not in known:
            return super()._resource_row(ref)
        row = known[resource]
        if row is None:
            raise LookupFailed(f"no resource has id {resource} in the PSA")
        if row.get("isActive") is False:
            raise LookupFailed(f"the PSA marks resource {resource} inactive")
        return row

    def _location(self, location_id: Any) -> Row | None:
        known = self.refs.rows("InternalLocations", [int(location_id)])
        return known[int(location_id)] if int(location_id) in known else super()._location(location_id)


def _merged(one: PsaSnapshot, other: PsaSnapshot) -> PsaSnapshot:
    return PsaSnapshot(
        one.items + other.items,
        {**one.companies, **other.companies},
        {**one.contacts, **other.contacts},
        {**one.action_types, **other.action_types},
    )


def _work_links(calls: list[Row]) -> dict[WorkKind, list[Row]]:
    """The ServiceCallTickets/Tasks rows the gateway reads, rebuilt from the tickets and tasks the poll
    kept in each call's row."""
    links: dict[WorkKind, list[Row]] = {kind: [] for kind in WorkKind}
    for call in calls:
        for kind, work_id in call.get(WORK_KEY, ()):
            work_kind = WorkKind(kind)
            links[work_kind].append({"serviceCallID": call["id"], _WORK[work_kind][3]: work_id})
    return links
