"""An in-memory PSA that keeps the whole ``Psa`` contract; the engine's tests run on it.

It behaves like ``AutotaskPsa`` on ``calferry psa serve`` where the engine can tell, as the PSA contract
suite (tests/contract/test_psa_contract.py) proves on both: ids per entity, an ``updated`` change marker
that moves on every write, To-Dos refused without CRM access (R33, nothing stored), the PSA's own
refusals (unknown records, a contact of another company, a text over the field limits the mapping
truncates to) with nothing stored, updates that write only what calferry owns (never the owner, a
service call's company or its tickets and tasks), lookups by id or unique name, and request counts per
``VERB Entity``. A service call made through ``create`` belongs to the technician its tickets and tasks
are assigned to (``me``), and to nobody without any; one a test puts into ``items`` is everyone's.
Test switches:

- ``lose_next_create_answer()``: the next ``create`` stores the item and then fails as if the answer
  was lost on the wire (``PsaUnavailable``), so tests can prove the engine adopts instead of duplicating.
  A service call is stored bare: its tickets and tasks are linked only after its answer.
- ``edit(ref, **fields)`` / ``remove(ref)``: someone else changes the PSA (not counted as requests).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from calferry.contracts import PsaMarker, PsaSnapshot
from calferry.errors import LookupFailed, NotFound, PermissionDenied, PsaUnavailable, PsaValidationError
from calferry.identity import fingerprint
from calferry.mapping import FIELD_LIMITS
from calferry.model import (
    ActionType,
    Company,
    Contact,
    PsaAppointment,
    PsaItem,
    PsaKind,
    PsaRef,
    PsaServiceCall,
    PsaToDo,
    Resource,
    ServiceCallWork,
    Window,
    psa_kind_of,
)

_ENTITY = {PsaKind.APPOINTMENT: "Appointments", PsaKind.TODO: "ToDos", PsaKind.SERVICE_CALL: "ServiceCalls"}
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
R = TypeVar("R")


class MemoryPsa:
    """A PSA held in dicts; see the module docstring."""

    def __init__(
        self,
        me: Resource,
        *,
        companies: Iterable[Company] = (),
        contacts: Iterable[Contact] = (),
        action_types: Iterable[ActionType] = (),
        resources: Iterable[Resource] = (),
        work: Iterable[ServiceCallWork] = (),
        work_companies: Mapping[int, int] | None = None,
    ) -> None:
        """``work_companies``: the company id of each ticket or task id (work not listed belongs to any)."""
        self._me = me
        self.companies = {c.id: c for c in companies}
        self.contacts = {c.id: c for c in contacts}
        self.action_types = {a.id: a for a in action_types}
        self.resources = {r.id: r for r in (me, *resources)}
        self.work_items = list(work)
        self.work_companies = dict(work_companies or {})
        self.items: dict[PsaRef, PsaItem] = {}
        self._call_owners: dict[PsaRef, int | None] = {}  # service calls made by ``create``
        self._next_id: Counter[PsaKind] = Counter()
        self._clock = 0
        self._lose_answers = 0
        self.counts: Counter[str] = Counter()

    # --- test switches ---------------------------------------------------------------------

    def lose_next_create_answer(self, times: int = 1) -> None:
        self._lose_answers = times

    def edit(self, ref: PsaRef, **changes: Any) -> PsaItem:
        """Someone changes an item in the PSA: its change marker moves."""
        item = replace(self.items[ref], **changes, updated=self._tick())
        self.items[ref] = item
        return item

    def remove(self, ref: PsaRef) -> None:
        """Someone deletes an item in the PSA."""
        self.items.pop(ref, None)
        self._call_owners.pop(ref, None)

    def touch(self, ref: PsaRef) -> PsaItem:
        """Only the change marker moves (noise, as a no-op save in the PSA)."""
        return self.edit(ref)

    # --- the contract ----------------------------------------------------------------------

    def me(self) -> Resource:
        self._count("GET", "Resources")
        return self._me

    def snapshot(self, window: Window, resource_id: int, kinds: Iterable[PsaKind]) -> PsaSnapshot:
        wanted = set(kinds)
        for kind in wanted:
            self._count("POST", f"{_ENTITY[kind]}/query")
        return self._with_references(
            tuple(i for i in self._mine(window, resource_id) if psa_kind_of(i) in wanted)
        )

    def markers(self, window: Window, resource_id: int, kinds: Iterable[PsaKind]) -> list[PsaMarker]:
        wanted = set(kinds)
        for kind in wanted:
            self._count("POST", f"{_ENTITY[kind]}/query")
        return [
            PsaMarker(_ref(i), None if i.updated is None else i.updated.isoformat())
            for i in self._mine(window, resource_id)
            if psa_kind_of(i) in wanted
        ]

    def fetch(self, refs: Iterable[PsaRef]) -> PsaSnapshot:
        """One ``in`` query per kind asked for, as the Autotask gateway does."""
        wanted = list(refs)
        for kind in {r.kind for r in wanted}:
            self._count("POST", f"{_ENTITY[kind]}/query")
        return self._with_references(tuple(self.items[r] for r in wanted if r in self.items))

    def get(self, ref: PsaRef) -> PsaItem:
        self._count("GET", _ENTITY[ref.kind])
        try:
            return self.items[ref]
        except KeyError:
            raise NotFound(f"no {ref.kind.value} {ref.id} in the PSA", side="psa") from None

    def create(self, item: PsaItem) -> PsaItem:
        kind = psa_kind_of(item)
        self._count("POST", _ENTITY[kind])
        item = self._validate(item)
        self._next_id[kind] += 1
        stored = replace(item, id=self._next_id[kind], updated=self._tick())
        if self._lose_answers:
            self._lose_answers -= 1
            self._store(stored if not isinstance(stored, PsaServiceCall) else replace(stored, work=()))
            raise PsaUnavailable("connection dropped before the answer arrived")
        return self._store(stored)

    def update(self, item: PsaItem) -> PsaItem:
        ref = _ref(item)
        self._count("PATCH", _ENTITY[ref.kind])
        if ref not in self.items:
            raise NotFound(f"no {ref.kind.value} {ref.id} in the PSA", side="psa")
        owned = _keep_fixed(self.items[ref], self._validate(item))
        stored = replace(owned, updated=self._tick())
        self.items[ref] = stored
        return stored

    def delete(self, ref: PsaRef) -> None:
        self._count("DELETE", _ENTITY[ref.kind])
        self.remove(ref)

    def find_matching(self, item: PsaItem) -> list[PsaItem]:
        kind = psa_kind_of(item)
        self._count("POST", f"{_ENTITY[kind]}/query")
        wanted = fingerprint(item)
        return [i for i in self.items.values() if fingerprint(i) == wanted]

    def company(self, id_or_name: str | int) -> Company:
        self._count("GET", "Companies")
        return _lookup(self.companies, id_or_name, lambda c: c.name, "company")

    def contact(self, id_or_name: str | int, company_id: int) -> Contact:
        self._count("GET", "Contacts")
        mine = {i: c for i, c in self.contacts.items() if c.company_id == company_id}
        return _lookup(mine, id_or_name, lambda c: c.name, "contact")

    def action_type(self, id_or_name: str | int) -> ActionType:
        self._count("GET", "ActionTypes")
        return _lookup(self.action_types, id_or_name, lambda a: a.name, "action type")

    def work(self, kind: str, number_or_title: str, company_id: int | None = None) -> ServiceCallWork:
        self._count("GET", "Tickets" if kind == "ticket" else "Tasks")
        wanted = number_or_title.strip().lower()
        for w in self.work_items:
            if w.kind.value == kind and wanted in (w.number.lower(), w.title.lower()):
                if not self._of(w, company_id):
                    raise LookupFailed(f"{kind} {w.number} ({w.title}) belongs to another company")
                return w
        raise LookupFailed(f"no {kind} {number_or_title!r} in the PSA")

    def _of(self, work: ServiceCallWork, company_id: int | None) -> bool:
        owner = self.work_companies.get(work.id)
        return company_id is None or owner is None or owner == company_id

    def todo_action_types(self) -> list[ActionType]:
        self._count("POST", "ActionTypes/query")
        found = [a for a in self.action_types.values() if a.active and a.for_todos]
        return sorted(found, key=lambda a: a.name.lower())

    def contacts_of(self, company_id: int, limit: int = 200) -> list[Contact]:
        self._count("POST", "Contacts/query")
        found = [c for c in self.contacts.values() if c.company_id == company_id and c.active]
        return sorted(found, key=lambda c: c.name.lower())[:limit]

    def active_companies(self, limit: int = 500) -> list[Company]:
        self._count("POST", "Companies/query")
        active = [c for c in self.companies.values() if c.active]
        return sorted(active, key=lambda c: c.name.lower())[:limit]

    def open_work(self, kind: str, limit: int = 50, company_id: int | None = None) -> list[ServiceCallWork]:
        self._count("POST", f"{'Tickets' if kind == 'ticket' else 'Tasks'}/query")
        return [w for w in self.work_items if w.kind.value == kind and self._of(w, company_id)][:limit]

    def request_counts(self) -> dict[str, int]:
        return dict(self.counts)

    def warnings(self) -> list[str]:
        """No API budget to run low on."""
        return []

    def close(self) -> None:
        """Nothing to release."""

    # --- internals -------------------------------------------------------------------------

    def _count(self, verb: str, entity: str) -> None:
        self.counts[f"{verb} {entity}"] += 1

    def _tick(self) -> datetime:
        self._clock += 1
        return _EPOCH + timedelta(seconds=self._clock)

    def _store(self, item: PsaItem) -> PsaItem:
        ref = _ref(item)
        self.items[ref] = item
        if isinstance(item, PsaServiceCall):
            self._call_owners[ref] = self._me.id if item.work else None
        return item

    def _sees(self, resource_id: int, item: PsaItem) -> bool:
        """Whether the resource's calendar shows the item: an appointment's or to-do's own resource; a
        service call made through ``create`` its creator while it has tickets or tasks (assigned to the
        creator); one a test put into ``items`` everyone."""
        if isinstance(item, PsaAppointment):
            return item.resource_id == resource_id
        if isinstance(item, PsaToDo):
            return item.assigned_resource_id == resource_id
        ref = _ref(item)
        return ref not in self._call_owners or self._call_owners[ref] == resource_id

    def _mine(self, window: Window, resource_id: int) -> list[PsaItem]:
        found = [i for i in self.items.values() if self._sees(resource_id, i)]
        return sorted(
            (i for i in found if window.overlaps(i.start, i.end)), key=lambda i: (i.start, _ref(i).id)
        )

    def _with_references(self, items: tuple[PsaItem, ...]) -> PsaSnapshot:
        company_ids = {i.company_id for i in items if not isinstance(i, PsaAppointment)}
        contact_ids = {i.contact_id for i in items if isinstance(i, PsaToDo) and i.contact_id is not None}
        action_ids = {i.action_type_id for i in items if isinstance(i, PsaToDo)}
        return PsaSnapshot(
            items,
            {i: self.companies[i] for i in company_ids if i in self.companies},
            {i: self.contacts[i] for i in contact_ids if i in self.contacts},
            {i: self.action_types[i] for i in action_ids if i in self.action_types},
        )

    def _validate(self, item: PsaItem) -> PsaItem:
        """The PSA's own checks (nothing stored when one fails): times in order, texts (lengths, NUL), known
        records, R33's CRM permission, a to-do's contact of its company. Returns the item with its
        tickets and tasks as the PSA knows them (number and title)."""
        if item.end < item.start:
            raise PsaValidationError("endDateTime must not be before startDateTime", status=500)
        _check_texts(item)
        if isinstance(item, PsaToDo):
            self._check_crm(item)
            self._check_contact(item)
        if not isinstance(item, PsaAppointment) and item.company_id not in self.companies:
            raise PsaValidationError(f"companyID {item.company_id} does not exist", status=500)
        if isinstance(item, PsaServiceCall):
            return replace(item, work=tuple(map(self._known_work, item.work)))
        return item

    def _check_contact(self, todo: PsaToDo) -> None:
        if todo.contact_id is None:
            return
        contact = self.contacts.get(todo.contact_id)
        if contact is None or contact.company_id != todo.company_id:
            raise PsaValidationError(
                f"contactID {todo.contact_id} is no contact of company {todo.company_id}", status=500
            )

    def _known_work(self, piece: ServiceCallWork) -> ServiceCallWork:
        for known in self.work_items:
            if (known.kind, known.id) == (piece.kind, piece.id):
                return known
        raise PsaValidationError(f"{piece.kind.value}ID {piece.id} does not exist", status=500)

    def _check_crm(self, todo: PsaToDo) -> None:
        if not self._me.crm_access:
            raise PermissionDenied(
                f"{self._me.name} may not create or change To-Dos: CRM permission missing", side="psa"
            )
        assignee = self.resources.get(todo.assigned_resource_id)
        if assignee is None or not assignee.crm_access:
            raise PermissionDenied(
                f"resource {todo.assigned_resource_id} has no CRM access and cannot be assigned a To-Do",
                side="psa",
            )
        if todo.action_type_id not in self.action_types:
            raise PsaValidationError(f"actionType {todo.action_type_id} does not exist", status=500)


def _ref(item: PsaItem) -> PsaRef:
    return PsaRef(psa_kind_of(item), item.id or 0)


def _check_texts(item: PsaItem) -> None:
    """Autotask's field lengths, which the mapping truncates to (one character more is refused), and
    text a database can hold: no NUL, no lone surrogate (which cannot even be sent as JSON)."""
    kind = psa_kind_of(item)
    for (limited, name), limit in FIELD_LIMITS.items():
        value = getattr(item, name) if limited is kind else ""
        if len(value) > limit:
            raise PsaValidationError(
                f"{name} is {len(value)} characters long; the maximum is {limit}", status=500
            )
        if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
            raise PsaValidationError(f"{name} holds a NUL character or a lone surrogate", status=500)


def _keep_fixed(before: PsaItem, after: PsaItem) -> PsaItem:
    """What an update writes: only the fields calferry owns; the owner, a service call's company and
    its tickets and tasks stay as they were made."""
    if isinstance(before, PsaAppointment) and isinstance(after, PsaAppointment):
        return replace(after, resource_id=before.resource_id)
    if isinstance(before, PsaToDo) and isinstance(after, PsaToDo):
        return replace(after, assigned_resource_id=before.assigned_resource_id)
    if isinstance(before, PsaServiceCall) and isinstance(after, PsaServiceCall):
        return replace(after, company_id=before.company_id, work=before.work)
    return after


def _lookup(records: dict[int, R], id_or_name: str | int, name_of: Callable[[R], str], what: str) -> R:
    """By id, else by unique case-insensitive name; LookupFailed otherwise."""
    text = str(id_or_name).strip()
    if text.isdigit() and int(text) in records:
        return records[int(text)]
    matches = [r for r in records.values() if name_of(r).lower() == text.lower()]
    if len(matches) == 1:
        return matches[0]
    problem = "is ambiguous" if matches else "matches nothing"
    raise LookupFailed(f"{what} {id_or_name!r} {problem} in the PSA")
