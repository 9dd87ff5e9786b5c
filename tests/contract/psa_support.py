"""Shared pieces of the PSA contract suite: the world each implementation is tested in, and the registry.

A world is one ``Psa`` implementation with the demo records the suite refers to (the technician, a
resource without CRM access, companies, contacts, action types, tickets, tasks) and what "someone
else" does in the PSA meanwhile. The in-memory PSA is built from the same demo tables
``calferry psa serve --seed demo`` loads, so both hold the same names.

To run the suite on another implementation, add an entry to ``PSA_WORLDS`` (name -> fixture name) and
define that fixture, returning a :class:`PsaWorld`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from calferry.model import (
    ActionType,
    Address,
    Company,
    Contact,
    PsaRef,
    Resource,
    ServiceCallWork,
    WorkKind,
)
from calferry.psa.base import Psa
from calferry.psa.memory import MemoryPsa
from calferry.psa.server.entities import NO_CRM_LEVEL
from calferry.psa.server.seed import ACTION_TYPES, COMPANIES, COUNTRIES, DEMO_DOMAIN, LOCATIONS, TECHNICIANS
from calferry.psa.zones import iana_zone

PSA_WORLDS: dict[str, str] = {
    "memory": "memory_psa_world",
    "autotask-sqlite": "autotask_sqlite_world",
    "autotask-postgres": "autotask_postgres_world",
}
"""Implementation name -> fixture returning a PsaWorld."""

ME_MAIL = f"tech.ny@{DEMO_DOMAIN}"
NO_CRM_MAIL = f"tech.nocrm@{DEMO_DOMAIN}"
OTHER_MAIL = f"tech.berlin@{DEMO_DOMAIN}"


@dataclass
class PsaWorld:
    """An implementation under test and the records the suite uses; ``companies`` sorted by name,
    ``contacts`` of ``companies[0]`` first. ``remove``/``touch``/``answer_lost`` are someone else (or
    the network) acting on the PSA meanwhile; ``psa_as(mail)`` is the same PSA as another technician."""

    psa: Psa
    me: Resource
    other: int
    no_crm: int
    companies: tuple[Company, ...]
    contacts: tuple[Contact, ...]
    action_types: tuple[ActionType, ...]
    tickets: tuple[ServiceCallWork, ...]
    tasks: tuple[ServiceCallWork, ...]
    remove: Callable[[PsaRef], None]
    touch: Callable[[PsaRef], None]
    answer_lost: Callable[[], AbstractContextManager[None]]
    psa_as: Callable[[str], Psa]

    def contacts_of(self, company: Company) -> list[Contact]:
        return [c for c in self.contacts if c.company_id == company.id]

    @property
    def todo_type(self) -> ActionType:
        return next(a for a in self.action_types if a.for_todos and a.active)


def memory_world() -> PsaWorld:
    """A ``MemoryPsa`` holding the demo records (ids of its own; names as the demo server has them)."""
    zones = {location: iana_zone(zone) for location, _, zone in LOCATIONS}
    resources = [
        Resource(
            n,
            first,
            last,
            f"{mail}@{DEMO_DOMAIN}",
            f"{mail}@{DEMO_DOMAIN}",
            zones[location] or "UTC",
            crm_access=level != NO_CRM_LEVEL,
        )
        for n, (first, last, mail, location, level) in enumerate(TECHNICIANS, start=1)
    ]
    me = next(r for r in resources if r.email == ME_MAIL)
    countries = {row[0]: row[2] for row in COUNTRIES}
    companies = [
        Company(n, name, Address(street, "", city, state, postal, countries[country]))
        for n, (name, _, street, city, state, postal, country) in enumerate(COMPANIES, start=1)
    ]
    contacts = [
        Contact(2 * c.id + k - 1, c.id, first, f"{last} {c.id}")
        for c in companies
        for k, (first, last) in enumerate((("Maria", "Garcia"), ("Sam", "Lee")))
    ]
    action_types = [ActionType(i, name, True, view in (2, 3)) for i, name, view, _ in ACTION_TYPES]
    tickets = [
        ServiceCallWork(WorkKind.TICKET, n, f"T20260101.{n:04d}", f"Printer queue stalls #{n}")
        for n in range(1, 5)
    ]
    tasks = [
        ServiceCallWork(WorkKind.TASK, n, f"T20260101.{n + 4:04d}", f"Move rack {n}") for n in range(1, 4)
    ]

    def psa_as(mail: str) -> MemoryPsa:
        """The demo records as another technician sees them (a memory PSA holds one technician's items)."""
        return MemoryPsa(
            next(r for r in resources if r.email == mail), companies=companies, contacts=contacts,
            action_types=action_types, resources=resources, work=[*tickets, *tasks],
        )  # fmt: skip

    psa = psa_as(ME_MAIL)

    @contextmanager
    def answer_lost() -> Iterator[None]:
        psa.lose_next_create_answer()
        yield

    return PsaWorld(
        psa,
        me,
        other=next(r.id for r in resources if r.email == OTHER_MAIL),
        no_crm=next(r.id for r in resources if not r.crm_access),
        companies=tuple(sorted(companies, key=lambda c: c.name)),
        contacts=tuple(contacts),
        action_types=tuple(action_types),
        tickets=tuple(tickets),
        tasks=tuple(tasks),
        remove=psa.remove,
        touch=lambda ref: ignore(psa.touch(ref)),
        answer_lost=answer_lost,
        psa_as=psa_as,
    )


def slot_start(n: int) -> datetime:
    """The start of test ``n``'s own day, far from the demo items (within weeks of today) and two days
    apart, so an item running over its edge never reaches another test's day."""
    return datetime(2031, 1, 1, tzinfo=UTC) + timedelta(days=3 * n)


def ignore(_: object) -> None:
    """Drops a result a hook's caller has no use for."""
