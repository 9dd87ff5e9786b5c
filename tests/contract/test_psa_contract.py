"""The PSA contract (psa/base.py), run on every implementation in PSA_WORLDS: the in-memory PSA the
engine's tests trust, and ``AutotaskPsa`` against ``calferry psa serve`` on SQLite and PostgreSQL.

Every test writes only its own items, in a day of its own far from the demo items, so the server is
seeded once per module and never reset.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from calferry.errors import (
    LookupFailed,
    NotFound,
    PermissionDenied,
    PsaUnavailable,
    PsaValidationError,
)
from calferry.mapping import FIELD_LIMITS
from calferry.model import (
    ActionType,
    Address,
    Company,
    Contact,
    PsaAppointment,
    PsaItem,
    PsaKind,
    PsaRef,
    PsaServiceCall,
    PsaToDo,
    ServiceCallWork,
    Window,
    WorkKind,
    psa_kind_of,
)
from calferry.psa.autotask import AutotaskClient
from calferry.psa.gateway import AutotaskPsa
from calferry.psa.query import ALL
from tests.contract.psa_support import (
    ME_MAIL,
    NO_CRM_MAIL,
    OTHER_MAIL,
    PSA_WORLDS,
    PsaWorld,
    ignore,
    memory_world,
    slot_start,
)
from tests.contract.test_autotask_client import make_client
from tests.fixtures.psa_server import PsaServer

ALL_KINDS = (PsaKind.APPOINTMENT, PsaKind.TODO, PsaKind.SERVICE_CALL)
_SLOTS = itertools.count()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "implementation" in metafunc.fixturenames:
        marks = {"autotask-postgres": pytest.mark.postgres}
        names = sorted(PSA_WORLDS)
        metafunc.parametrize("implementation", [pytest.param(n, marks=marks.get(n, ())) for n in names])


@pytest.fixture
def world(implementation: str, request: pytest.FixtureRequest) -> PsaWorld:
    found: PsaWorld = request.getfixturevalue(PSA_WORLDS[implementation])
    return found


@pytest.fixture
def slot() -> Window:
    """A day of this test's own: nothing else is written there."""
    start = slot_start(next(_SLOTS))
    return Window(start, start + timedelta(days=1))


# --- the worlds ---------------------------------------------------------------------------------


@pytest.fixture
def memory_psa_world() -> PsaWorld:
    return memory_world()


@dataclass(frozen=True)
class _DemoRecords:
    """The demo server's records, read with raw queries (not through the implementation under test)."""

    ids: dict[str, int]
    companies: tuple[Company, ...]
    contacts: tuple[Contact, ...]
    action_types: tuple[ActionType, ...]
    tickets: tuple[ServiceCallWork, ...]
    tasks: tuple[ServiceCallWork, ...]


def _demo_records(server: PsaServer) -> _DemoRecords:
    with make_client(server) as client:
        ids = {row["email"]: row["id"] for row in client.query("Resources", ALL)}
        countries = {row["id"]: row["displayName"] for row in client.query("Countries", ALL)}
        companies = [_company(row, countries) for row in client.query("Companies", ALL)]
        contacts = [
            Contact(row["id"], row["companyID"], row["firstName"], row["lastName"])
            for row in client.query("Contacts", ALL)
        ]
        action_types = [
            ActionType(row["id"], row["name"], row["isActive"], row["view"] in (2, 3))
            for row in client.query("ActionTypes", ALL)
        ]
        return _DemoRecords(
            ids,
            tuple(sorted(companies, key=lambda c: c.name)),
            tuple(contacts),
            tuple(action_types),
            _work(client, WorkKind.TICKET, "Tickets", "ticketNumber"),
            _work(client, WorkKind.TASK, "Tasks", "taskNumber"),
        )


def _company(row: dict[str, Any], countries: dict[int, str]) -> Company:
    address = Address(
        row["address1"], row["address2"] or "", row["city"], row["state"], row["postalCode"],
        countries[row["countryID"]],
    )  # fmt: skip
    return Company(row["id"], row["companyName"], address, row["isActive"])


def _work(client: AutotaskClient, kind: WorkKind, entity: str, number: str) -> tuple[ServiceCallWork, ...]:
    return tuple(ServiceCallWork(kind, r["id"], r[number], r["title"]) for r in client.query(entity, ALL))


@pytest.fixture(scope="module")
def demo_records() -> dict[str, _DemoRecords]:
    """The demo records per database (filled on first use): read once per module."""
    return {}


@pytest.fixture
def autotask_sqlite_world(
    psa_module_servers: Any, demo_records: dict[str, _DemoRecords]
) -> Iterator[PsaWorld]:
    yield from _autotask_world(psa_module_servers("sqlite"), demo_records, "sqlite")


@pytest.fixture
def autotask_postgres_world(
    psa_module_servers: Any, demo_records: dict[str, _DemoRecords]
) -> Iterator[PsaWorld]:
    yield from _autotask_world(psa_module_servers("postgres"), demo_records, "postgres")


def _autotask_world(server: PsaServer, known: dict[str, _DemoRecords], db: str) -> Iterator[PsaWorld]:
    """``AutotaskPsa`` acting as the New York technician; someone else is a second session of the same
    technician; a lost answer is the server's own fault injection (the write is committed, the answer
    never comes)."""
    if db not in known:
        known[db] = _demo_records(server)
    records = known[db]
    gateway = AutotaskPsa(make_client(server), resource=ME_MAIL)
    someone = AutotaskPsa(make_client(server), resource=ME_MAIL)
    others: dict[str, AutotaskPsa] = {}

    @contextmanager
    def answer_lost() -> Iterator[None]:
        faults = server.state.settings.faults
        saved = (faults.rate, faults.kinds)
        faults.rate, faults.kinds = 1.0, ("lost-answer",)
        try:
            yield
        finally:
            faults.rate, faults.kinds = saved

    yield PsaWorld(
        gateway,
        gateway.me(),
        other=records.ids[OTHER_MAIL],
        no_crm=records.ids[NO_CRM_MAIL],
        companies=records.companies,
        contacts=records.contacts,
        action_types=records.action_types,
        tickets=records.tickets,
        tasks=records.tasks,
        remove=someone.delete,
        touch=lambda ref: ignore(someone.update(someone.get(ref))),
        answer_lost=answer_lost,
        psa_as=lambda mail: others.setdefault(mail, AutotaskPsa(make_client(server), resource=mail)),
    )
    for psa in (gateway, someone, *others.values()):
        psa.close()


# --- items of each kind -------------------------------------------------------------------------


def at(slot: Window, hour: float) -> datetime:
    return slot.start + timedelta(hours=hour)


def appointment(world: PsaWorld, slot: Window, hour: float = 8, **fields: Any) -> PsaAppointment:
    values: dict[str, Any] = {
        "title": "Dentist",
        "description": "Bring the forms",
        "resource_id": world.me.id,
    }
    return PsaAppointment(None, **(_times(slot, hour, 1) | values | fields))


def todo(world: PsaWorld, slot: Window, hour: float = 10, **fields: Any) -> PsaToDo:
    company = world.companies[0]
    values: dict[str, Any] = {
        "company_id": company.id,
        "action_type_id": world.todo_type.id,
        "assigned_resource_id": world.me.id,
        "description": "Call back about the invoice",
        "contact_id": world.contacts_of(company)[0].id,
    }
    return PsaToDo(None, **(_times(slot, hour, 0.5) | values | fields))


def service_call(world: PsaWorld, slot: Window, hour: float = 13, **fields: Any) -> PsaServiceCall:
    values: dict[str, Any] = {
        "company_id": world.companies[1].id,
        "description": "On-site visit",
        "work": (world.tickets[0], world.tasks[0]),
    }
    return PsaServiceCall(None, **(_times(slot, hour, 2.5) | values | fields))


def _times(slot: Window, hour: float, hours: float) -> dict[str, Any]:
    return {"start": at(slot, hour), "end": at(slot, hour + hours)}


BUILD: dict[PsaKind, Callable[..., PsaItem]] = {
    PsaKind.APPOINTMENT: appointment,
    PsaKind.TODO: todo,
    PsaKind.SERVICE_CALL: service_call,
}
KINDS = pytest.mark.parametrize("kind", ALL_KINDS, ids=[k.value for k in ALL_KINDS])


def ref(item: PsaItem) -> PsaRef:
    assert item.id is not None
    return PsaRef(psa_kind_of(item), item.id)


def bare(item: PsaItem) -> PsaItem:
    """The item without what the PSA adds (id, change marker): what was sent."""
    return replace(item, id=None, updated=None)


def refs_in(
    psa: Any, window: Window, resource_id: int, kinds: tuple[PsaKind, ...] = ALL_KINDS
) -> set[PsaRef]:
    return {ref(i) for i in psa.snapshot(window, resource_id, kinds).items}


# --- create, get, update, delete ------------------------------------------------------------------


@KINDS
def test_create_returns_the_item_as_sent_with_an_id_and_a_change_marker(
    world: PsaWorld, slot: Window, kind: PsaKind
) -> None:
    sent = BUILD[kind](world, slot)
    made = world.psa.create(sent)
    assert made.id is not None and made.updated is not None
    assert bare(made) == sent
    assert world.psa.get(ref(made)) == made


@KINDS
def test_update_changes_the_owned_fields_and_moves_the_marker(
    world: PsaWorld, slot: Window, kind: PsaKind
) -> None:
    made = world.psa.create(BUILD[kind](world, slot))
    later = {"start": at(slot, 15), "end": at(slot, 16), "description": "Moved to the afternoon"}
    if kind is PsaKind.APPOINTMENT:
        later["title"] = "Dentist (moved)"
    if kind is PsaKind.TODO:
        contact = world.contacts_of(world.companies[0])[1]
        other_type = next(a for a in world.action_types if a.for_todos and a.id != world.todo_type.id)
        later |= {"contact_id": contact.id, "action_type_id": other_type.id}
    wanted = replace(made, **later)
    changed = world.psa.update(wanted)
    assert bare(changed) == bare(wanted)
    assert changed.updated is not None and made.updated is not None and changed.updated > made.updated
    assert world.psa.get(ref(made)) == changed


def test_update_never_moves_an_appointment_to_another_resource(world: PsaWorld, slot: Window) -> None:
    """The owner is fixed at creation: an update writes only the fields calferry owns."""
    made = world.psa.create(appointment(world, slot))
    changed = world.psa.update(replace(made, resource_id=world.other, title="Renamed"))
    assert (changed.resource_id, changed.title) == (world.me.id, "Renamed")
    assert refs_in(world.psa, slot, world.other) == set()


def test_update_keeps_a_service_calls_company_and_work(world: PsaWorld, slot: Window) -> None:
    made = world.psa.create(service_call(world, slot))
    assert isinstance(made, PsaServiceCall)
    changed = world.psa.update(replace(made, company_id=world.companies[2].id, work=(), description="New"))
    assert isinstance(changed, PsaServiceCall)
    assert (changed.company_id, changed.work, changed.description) == (made.company_id, made.work, "New")


@KINDS
def test_update_of_an_item_deleted_meanwhile_is_not_found(
    world: PsaWorld, slot: Window, kind: PsaKind
) -> None:
    made = world.psa.create(BUILD[kind](world, slot))
    world.remove(ref(made))
    with pytest.raises(NotFound):
        world.psa.update(replace(made, description="too late"))


@KINDS
def test_delete_then_delete_again_counts_as_gone(world: PsaWorld, slot: Window, kind: PsaKind) -> None:
    made = world.psa.create(BUILD[kind](world, slot))
    world.psa.delete(ref(made))
    with pytest.raises(NotFound):
        world.psa.get(ref(made))
    world.psa.delete(ref(made))  # already gone: not an error
    assert refs_in(world.psa, slot, world.me.id) == set()


@KINDS
def test_delete_of_an_item_someone_else_deleted_is_not_an_error(
    world: PsaWorld, slot: Window, kind: PsaKind
) -> None:
    made = world.psa.create(BUILD[kind](world, slot))
    world.remove(ref(made))
    world.psa.delete(ref(made))
    with pytest.raises(NotFound):
        world.psa.get(ref(made))


def test_get_of_an_id_never_used_is_not_found(world: PsaWorld) -> None:
    for kind in ALL_KINDS:
        with pytest.raises(NotFound):
            world.psa.get(PsaRef(kind, 987_654))


# --- snapshot, markers, fetch ---------------------------------------------------------------------


def test_snapshot_lists_every_kind_with_the_records_the_items_refer_to(world: PsaWorld, slot: Window) -> None:
    made = [world.psa.create(BUILD[kind](world, slot)) for kind in ALL_KINDS]
    snap = world.psa.snapshot(slot, world.me.id, ALL_KINDS)
    assert sorted(snap.items, key=lambda i: i.start) == made
    made_todo, made_call = made[1], made[2]
    assert isinstance(made_todo, PsaToDo) and isinstance(made_call, PsaServiceCall)
    by_id = {c.id: c for c in world.companies}
    assert snap.companies == {c: by_id[c] for c in (made_todo.company_id, made_call.company_id)}
    assert snap.companies[made_call.company_id].address.city
    assert list(snap.contacts) == [made_todo.contact_id]
    assert snap.action_types[made_todo.action_type_id] == world.todo_type


def test_snapshot_keeps_to_the_window_the_kinds_and_the_resource(world: PsaWorld, slot: Window) -> None:
    inside = world.psa.create(appointment(world, slot, hour=23.5))  # runs past the end of the window
    before = world.psa.create(appointment(world, slot, hour=-1))  # ends exactly where the window starts
    theirs = world.psa.create(appointment(world, slot, hour=9, resource_id=world.other))
    call = world.psa.create(service_call(world, slot))
    listed = refs_in(world.psa, slot, world.me.id)
    assert listed == {ref(inside), ref(call)} and ref(before) not in listed
    assert refs_in(world.psa, slot, world.me.id, (PsaKind.APPOINTMENT,)) == {ref(inside)}
    assert refs_in(world.psa, slot, world.other) == {ref(theirs)}  # the call's work is assigned to me only


def test_markers_name_the_snapshot_items_with_their_change_markers(world: PsaWorld, slot: Window) -> None:
    for kind in ALL_KINDS:
        world.psa.create(BUILD[kind](world, slot))
    snap = {ref(i): i for i in world.psa.snapshot(slot, world.me.id, ALL_KINDS).items}
    markers = world.psa.markers(slot, world.me.id, ALL_KINDS)
    assert {m.ref for m in markers} == set(snap) and len(markers) == 3
    for marker in markers:
        assert marker.version is not None
        assert datetime.fromisoformat(marker.version) == snap[marker.ref].updated


def test_a_change_made_elsewhere_moves_only_that_items_marker(world: PsaWorld, slot: Window) -> None:
    made = [world.psa.create(BUILD[kind](world, slot)) for kind in ALL_KINDS]
    before = {m.ref: m.version for m in world.psa.markers(slot, world.me.id, ALL_KINDS)}
    world.touch(ref(made[1]))
    after = {m.ref: m.version for m in world.psa.markers(slot, world.me.id, ALL_KINDS)}
    assert [r for r in before if before[r] != after[r]] == [ref(made[1])]


def test_fetch_by_id_returns_what_still_exists_with_its_records(world: PsaWorld, slot: Window) -> None:
    made = [world.psa.create(BUILD[kind](world, slot)) for kind in ALL_KINDS]
    gone = world.psa.create(appointment(world, slot, hour=20))
    world.remove(ref(gone))
    snap = world.psa.fetch([*map(ref, made), ref(gone), PsaRef(PsaKind.TODO, 987_654)])
    assert sorted(snap.items, key=lambda i: i.start) == made
    made_todo = made[1]
    assert isinstance(made_todo, PsaToDo)
    assert made_todo.company_id in snap.companies and made_todo.action_type_id in snap.action_types
    assert list(snap.contacts) == [made_todo.contact_id]
    assert world.psa.fetch([]).items == ()


# --- a lost answer, refusals, field limits -------------------------------------------------------------


@KINDS
def test_an_item_whose_create_answer_was_lost_is_found_by_its_fingerprint(
    world: PsaWorld, slot: Window, kind: PsaKind
) -> None:
    sent = BUILD[kind](world, slot)
    with world.answer_lost(), pytest.raises(PsaUnavailable):
        world.psa.create(sent)
    found = world.psa.find_matching(sent)
    # A service call's tickets and tasks are linked after its own answer, so a lost answer leaves it bare.
    assert [bare(i) for i in found] == [replace(sent, work=()) if isinstance(sent, PsaServiceCall) else sent]
    assert world.psa.get(ref(found[0])) == found[0]
    assert world.psa.find_matching(replace(sent, start=sent.start + timedelta(minutes=1))) == []


def test_fingerprint_tells_appointments_by_title_and_to_dos_by_company(world: PsaWorld, slot: Window) -> None:
    made = world.psa.create(appointment(world, slot))
    assert world.psa.find_matching(appointment(world, slot, title="Another")) == []
    assert world.psa.find_matching(appointment(world, slot, description="Other words")) == [made]
    world.psa.create(todo(world, slot))
    assert world.psa.find_matching(todo(world, slot, company_id=world.companies[2].id, contact_id=None)) == []


def test_r33_a_to_do_for_a_resource_without_crm_access_is_refused_and_nothing_is_made(
    world: PsaWorld, slot: Window
) -> None:
    with pytest.raises(PermissionDenied) as refused:
        world.psa.create(todo(world, slot, assigned_resource_id=world.no_crm))
    assert refused.value.side == "psa"
    assert refs_in(world.psa, slot, world.no_crm) == set() == refs_in(world.psa, slot, world.me.id)


def test_r33_a_technician_without_crm_access_cannot_make_a_to_do_even_for_a_colleague(
    world: PsaWorld, slot: Window
) -> None:
    """R33: creating a To-Do needs the CRM permission of whoever makes it, not only of the assignee."""
    without_crm = world.psa_as(NO_CRM_MAIL)
    with pytest.raises(PermissionDenied):
        without_crm.create(todo(world, slot))
    assert refs_in(world.psa, slot, world.me.id) == set()


def test_a_service_call_with_an_unknown_ticket_leaves_nothing_half_made(
    world: PsaWorld, slot: Window
) -> None:
    bad = ServiceCallWork(WorkKind.TICKET, 987_654, "T0", "No such ticket")
    with pytest.raises(PsaValidationError):
        world.psa.create(service_call(world, slot, work=(world.tasks[0], bad)))
    assert world.psa.find_matching(service_call(world, slot)) == []


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(lambda w, s: appointment(w, s, end=at(s, 7)), id="appointment-ends-before-it-starts"),
        pytest.param(lambda w, s: todo(w, s, company_id=987_654, contact_id=None), id="todo-unknown-company"),
        pytest.param(lambda w, s: todo(w, s, action_type_id=987_654), id="todo-unknown-action-type"),
        pytest.param(
            lambda w, s: todo(w, s, contact_id=w.contacts_of(w.companies[1])[0].id),
            id="todo-contact-of-another-company",
        ),
        pytest.param(lambda w, s: service_call(w, s, company_id=987_654), id="service-call-unknown-company"),
    ],
)
def test_what_the_psa_refuses_is_refused_and_nothing_is_made(
    world: PsaWorld, slot: Window, broken: Any
) -> None:
    with pytest.raises(PsaValidationError):
        world.psa.create(broken(world, slot))
    assert refs_in(world.psa, slot, world.me.id) == set()


LIMITED = sorted(FIELD_LIMITS.items(), key=str)


@pytest.mark.parametrize(("where", "limit"), LIMITED, ids=[f"{k.value}-{f}" for (k, f), _ in LIMITED])
def test_field_limits_of_the_mapping_are_what_the_psa_takes(
    world: PsaWorld, slot: Window, where: tuple[PsaKind, str], limit: int
) -> None:
    """The mapping truncates to these lengths: the PSA takes exactly that many characters, refuses one more."""
    kind, field = where
    full = world.psa.create(BUILD[kind](world, slot, **{field: "x" * limit}))
    assert getattr(world.psa.get(ref(full)), field) == "x" * limit
    with pytest.raises(PsaValidationError):
        world.psa.create(BUILD[kind](world, slot, hour=18, **{field: "y" * (limit + 1)}))
    with pytest.raises(PsaValidationError):
        world.psa.update(replace(full, **{field: "z" * (limit + 1)}))
    assert refs_in(world.psa, slot, world.me.id) == {ref(full)}
    assert getattr(world.psa.get(ref(full)), field) == "x" * limit


PROPERTIES = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
"""Few examples (each one is a write to a real server), the same ones every run."""


HOSTILE = st.sampled_from(
    ["\x00", "\ud800", "\udfff", "\u202e", "\r", "\n", "\t", "\ufeff", "😀", "'", '"', "<", "&"]
)


@PROPERTIES
@given(text=st.text(st.one_of(st.characters(), HOSTILE), max_size=40))
@example(text="Visit\x00 today")
@example(text="lone \ud800 surrogate")
def test_any_text_is_kept_exactly_or_refused_with_nothing_made(
    world: PsaWorld, slot: Window, text: str
) -> None:
    """Hostile text (NUL, lone surrogates, newlines, right-to-left marks, emoji) is either stored as it
    is, character for character, or refused whole: what a database cannot hold is refused."""
    before = refs_in(world.psa, slot, world.me.id)
    sent = appointment(world, slot, title=f"t{text}", description=text)
    storable = "\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text)
    if not storable:
        with pytest.raises(PsaValidationError):
            world.psa.create(sent)
        assert refs_in(world.psa, slot, world.me.id) == before
        return
    made = world.psa.create(sent)
    assert (made.title, made.description) == (sent.title, sent.description)
    assert world.psa.get(ref(made)) == made


ZONES = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kathmandu"])


@PROPERTIES
@given(
    zone=ZONES,
    minute=st.integers(0, 2 * 366 * 24 * 60),
    minutes=st.integers(0, 36 * 60),
)
def test_times_in_any_zone_come_back_as_the_same_instants(
    world: PsaWorld, slot: Window, zone: str, minute: int, minutes: int
) -> None:
    """Start and end given in any zone (across DST changes, zero-length included) are the same instants
    when read back, and the item is listed in a window around them."""
    from zoneinfo import ZoneInfo

    start = (datetime(2032, 1, 1, tzinfo=ZoneInfo(zone)) + timedelta(minutes=minute)).astimezone(
        ZoneInfo(zone)
    )
    made = world.psa.create(
        appointment(world, slot, start=start, end=start + timedelta(minutes=minutes), title=f"z{minute}")
    )
    read = world.psa.get(ref(made))
    assert (read.start, read.end) == (start, start + timedelta(minutes=minutes))
    around = Window(start - timedelta(hours=1), start + timedelta(minutes=minutes, hours=1))
    assert ref(made) in refs_in(world.psa, around, world.me.id, (PsaKind.APPOINTMENT,))
    world.psa.delete(ref(made))


# --- look-ups the web page and Add use ----------------------------------------------------------------


def test_companies_by_id_or_any_case_of_their_name(world: PsaWorld) -> None:
    company = world.companies[0]
    assert world.psa.company(company.id) == company
    assert world.psa.company(str(company.id)) == company
    assert world.psa.company(company.name.upper()) == company
    for unknown in ("No Such Company Ltd", 987_654):
        with pytest.raises(LookupFailed):
            world.psa.company(unknown)


def test_contacts_by_id_or_name_within_their_company_only(world: PsaWorld) -> None:
    mine, theirs = world.companies[0], world.companies[1]
    contact = world.contacts_of(mine)[1]
    assert world.psa.contact(contact.id, mine.id) == contact
    assert world.psa.contact(contact.name.lower(), mine.id) == contact
    with pytest.raises(LookupFailed):
        world.psa.contact(contact.id, theirs.id)
    with pytest.raises(LookupFailed):
        world.psa.contact(contact.name, theirs.id)


def test_action_types_by_id_or_name(world: PsaWorld) -> None:
    wanted = world.todo_type
    assert world.psa.action_type(wanted.id) == wanted
    assert world.psa.action_type(wanted.name.swapcase()) == wanted
    with pytest.raises(LookupFailed):
        world.psa.action_type("No such type")


def test_tickets_and_tasks_by_number_or_title(world: PsaWorld) -> None:
    ticket, task = world.tickets[1], world.tasks[2]
    assert world.psa.work("ticket", ticket.number) == ticket
    assert world.psa.work("ticket", ticket.title) == ticket
    assert world.psa.work("task", task.title) == task
    with pytest.raises(LookupFailed):
        world.psa.work("task", ticket.title)  # a ticket's title names no task


def test_the_forms_choices_active_companies_by_name_and_open_work(world: PsaWorld) -> None:
    listed = world.psa.active_companies()
    assert [c.id for c in listed] == [c.id for c in world.companies]
    assert [c.name for c in listed] == sorted((c.name for c in listed), key=str.lower)
    assert {w.id for w in world.psa.open_work("ticket")} == {t.id for t in world.tickets}
    assert [w.kind for w in world.psa.open_work("task", limit=2)] == [WorkKind.TASK] * 2


def test_request_counts_name_each_request_by_verb_and_entity(world: PsaWorld, slot: Window) -> None:
    def sent() -> int:
        return sum(n for key, n in world.psa.request_counts().items() if key != "total")

    before = sent()
    world.psa.snapshot(slot, world.me.id, (PsaKind.APPOINTMENT,))
    world.psa.create(appointment(world, slot))
    assert sent() >= before + 2
    assert {"POST Appointments/query", "POST Appointments"} <= set(world.psa.request_counts())
