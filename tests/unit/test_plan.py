"""plan_send / plan_get, branch by branch; each test is named after the rule its branch keeps."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from calferry.contracts import PsaSnapshot
from calferry.errors import SideLooksEmpty, TooManyDeletions
from calferry.mapping import PRIVATE_TITLE, personal_hash, psa_hash
from calferry.model import (
    ItemKey,
    Link,
    Origin,
    PersonalItem,
    PsaAppointment,
    PsaKind,
    PsaRef,
    PsaServiceCall,
    PsaToDo,
    Stamp,
    Window,
)
from calferry.plan import (
    UNCHANGED,
    ActionKind,
    GetOptions,
    Plan,
    SendOptions,
    Target,
    downloaded_uid,
    plan_get,
    plan_send,
    psa_version,
)
from tests.unit.engine_helpers import ACME, ALICE, ME, MEETING_TYPE, NOW, TICKET, at, item

WINDOW = Window.around(NOW, 7, 30)
APPT = PsaRef(PsaKind.APPOINTMENT, 5)


def send(*items: PersonalItem, links: tuple[Link, ...] = (), **options: object) -> Plan:
    return plan_send(items, links, ME, SendOptions(**options), NOW)  # type: ignore[arg-type]


def only(plan: Plan):  # type: ignore[no-untyped-def]
    assert len(plan.actions) == 1, plan.actions
    return plan.actions[0]


def psa_appt(id_: int = 5, title: str = "Dentist", day: int = 11, updated_s: int = 1) -> PsaAppointment:
    return PsaAppointment(id_, title, at(day, 9), at(day, 10), ME.id, "", NOW + timedelta(seconds=updated_s))


def linked(personal: PersonalItem, psa: PsaAppointment | PsaToDo | PsaServiceCall, **changes: object) -> Link:
    kind = (
        PsaKind.APPOINTMENT
        if isinstance(psa, PsaAppointment)
        else PsaKind.TODO
        if isinstance(psa, PsaToDo)
        else PsaKind.SERVICE_CALL
    )
    link = Link(
        personal.key, PsaRef(kind, psa.id or 0), Origin.SENT,
        personal_version=personal.version, personal_hash=personal_hash(personal),
        psa_version=psa_version(psa), psa_hash=psa_hash(psa),
    )  # fmt: skip
    return replace(link, **changes)  # type: ignore[arg-type]


def get(
    personal: tuple[PersonalItem, ...],
    psa: tuple[object, ...],
    links: tuple[Link, ...] = (),
    **options: object,
) -> Plan:
    snap = PsaSnapshot(psa, {ACME.id: ACME}, {ALICE.id: ALICE}, {MEETING_TYPE.id: MEETING_TYPE})  # type: ignore[arg-type]
    return plan_get(personal, snap, links, WINDOW, GetOptions(time_zone="UTC", **options), NOW)  # type: ignore[arg-type]


# --- Send -----------------------------------------------------------------------------------


def test_r16_first_send_creates_psa_item() -> None:
    action = only(send(item("a", subject="Dentist", version="v1")))
    assert (action.kind, action.target, action.psa_kind) == (
        ActionKind.CREATE,
        Target.PSA,
        PsaKind.APPOINTMENT,
    )
    assert action.rule == "R16"
    assert action.psa_item.title == "Dentist" and action.psa_item.resource_id == ME.id
    assert action.link.origin is Origin.SENT and action.personal_version == "v1"


def test_r14_kind_defaults_to_appointment_and_todo_needs_company() -> None:
    assert only(send(item("a"))).psa_kind is PsaKind.APPOINTMENT
    action = only(send(item("a"), kind=PsaKind.TODO, default_action_type_id=3))
    assert action.kind is ActionKind.SKIP and "company" in action.reason and action.rule == "R14"


def test_r14_todo_shows_the_default_action_type() -> None:
    action = only(send(item("a"), kind=PsaKind.TODO, company_id=1, default_action_type_id=3))
    assert isinstance(action.psa_item, PsaToDo)
    assert (action.psa_item.company_id, action.psa_item.action_type_id) == (1, 3)
    edited = only(
        send(item("a"), kind=PsaKind.TODO, company_id=1, action_type_id=4, default_action_type_id=3)
    )
    assert edited.psa_item.action_type_id == 4


def test_r15_recurring_item_is_always_an_appointment() -> None:
    occurrence = item("s", recurring=True, recurrence_id=at(11, 9))
    action = only(send(occurrence, kind=PsaKind.TODO, company_id=1, default_action_type_id=3))
    assert action.psa_kind is PsaKind.APPOINTMENT
    assert any("always sent as an Appointment" in w for w in action.warnings)


def test_r17_resend_updates_same_psa_item() -> None:
    mine = item("a", subject="Dentist moved")
    action = only(send(mine, links=(Link(mine.key, APPT, Origin.SENT),)))
    assert (action.kind, action.psa_id, action.psa_item.id) == (ActionKind.UPDATE, 5, 5)
    assert action.rule == "R17"


def test_r17_resend_prefills_kind_company_and_action_type_from_the_link() -> None:
    mine = item("a")
    link = Link(mine.key, PsaRef(PsaKind.TODO, 9), Origin.SENT, company_id=1, contact_id=11, action_type_id=4)
    action = only(send(mine, links=(link,)))
    assert isinstance(action.psa_item, PsaToDo)
    assert (action.psa_item.id, action.psa_item.company_id, action.psa_item.contact_id) == (9, 1, 11)
    assert action.psa_item.action_type_id == 4


def test_r17_resend_cannot_change_the_kind() -> None:
    mine = item("a")
    action = only(send(mine, links=(Link(mine.key, APPT, Origin.SENT),), kind=PsaKind.TODO, company_id=1))
    assert action.kind is ActionKind.SKIP and action.rule == "R17"


def test_r18_private_item_is_sent_as_appointment_without_text() -> None:
    action = only(send(item("a", subject="Therapy", description="very private", private=True)))
    assert action.psa_item.title == PRIVATE_TITLE and action.psa_item.description == ""
    assert "very private" not in json.dumps(action.to_json())


def test_r19_meeting_attendees_are_never_sent() -> None:
    action = only(send(item("m", subject="Review", attendees=("bob@example.com",))))
    assert "bob@example.com" not in json.dumps(action.to_json())
    assert action.psa_item.resource_id == ME.id


def test_r20_occurrence_creates_its_own_appointment_linked_to_its_series() -> None:
    first = item("s", recurring=True, recurrence_id=at(11, 9))
    second = item("s", day=18, recurring=True, recurrence_id=at(18, 9))
    plan = send(first, second)
    assert [a.kind for a in plan.actions] == [ActionKind.CREATE, ActionKind.CREATE]
    assert [a.link.series_uid for a in plan.actions] == ["s", "s"]
    assert [a.ref for a in plan.actions] == ["s@20260311T090000Z", "s@20260318T090000Z"]
    assert all(a.rule == "R20" for a in plan.actions)


def test_r7_service_call_cannot_be_sent() -> None:
    assert only(send(item("a"), kind=PsaKind.SERVICE_CALL)).rule == "R7"
    mine = item("d")
    link = Link(mine.key, PsaRef(PsaKind.SERVICE_CALL, 3), Origin.DOWNLOADED, company_id=1)
    action = only(send(mine, links=(link,)))
    assert action.kind is ActionKind.SKIP and action.rule == "R7"


def test_r17_downloaded_item_resent_updates_its_psa_item() -> None:
    mine = item("calferry-appointment-5", subject="Edited")
    action = only(send(mine, links=(Link(mine.key, APPT, Origin.DOWNLOADED),)))
    assert (action.kind, action.psa_id, action.link.origin) == (ActionKind.UPDATE, 5, Origin.DOWNLOADED)


def test_b_stamp_copied_to_another_item_is_reported_not_followed() -> None:
    original = item("a", stamp=Stamp(PsaKind.APPOINTMENT, 5, Origin.SENT))
    copy = replace(original, uid="a-copy")
    action = only(send(copy, links=(Link(original.key, APPT, Origin.SENT),)))
    assert action.kind is ActionKind.SKIP and "a" in action.reason and "not followed" in action.reason


def test_b1_plan_round_trips_json_exactly() -> None:
    occurrence = item("s", recurring=True, recurrence_id=at(11, 9), subject="Stand-up")
    plan = send(item("a", subject="Dentist", version="v1"), occurrence)
    snap_item = PsaServiceCall(4, 1, at(12, 9), at(12, 11), "fix it", (TICKET,), NOW)
    plan_g = get((), (snap_item, psa_appt()))
    for p in (plan, plan_g):
        text = json.dumps(p.to_json())
        assert Plan.from_json(json.loads(text)) == p
    head = plan.to_json()["actions"][0]
    assert list(head)[:5] == ["action", "ref", "psa_kind", "psa_id", "reason"]


def test_b1_plan_keeps_time_zones_by_name() -> None:
    plan = plan_get((), PsaSnapshot((psa_appt(),)), (), WINDOW, GetOptions(time_zone="Europe/Berlin"), NOW)
    back = Plan.from_json(json.loads(json.dumps(plan.to_json())))
    assert str(back.actions[0].fields.start.tzinfo) == "Europe/Berlin"


# --- Get ------------------------------------------------------------------------------------


def test_r23_psa_item_not_yet_downloaded_becomes_personal_item() -> None:
    action = only(get((), (psa_appt(),)))
    assert (action.kind, action.target, action.ref) == (
        ActionKind.CREATE,
        Target.PERSONAL,
        downloaded_uid(APPT),
    )
    assert action.fields.subject == "Dentist" and action.link.origin is Origin.DOWNLOADED
    assert action.rule == "R23"


def test_r2_get_brings_only_the_configured_kinds() -> None:
    todo = PsaToDo(9, 1, 3, ME.id, at(12, 9), at(12, 10), "call", 11, NOW)
    plan = get((), (psa_appt(), todo), kinds=(PsaKind.TODO,))
    assert [a.psa_kind for a in plan.actions] == [PsaKind.TODO]


def test_r28_todo_and_service_call_rendering() -> None:
    todo = PsaToDo(9, 1, 3, ME.id, at(12, 9), at(12, 10), "call", 11, NOW)
    call = PsaServiceCall(4, 1, at(12, 9), at(12, 11), "fix it", (TICKET,), NOW)
    by_kind = {a.psa_kind: a for a in get((), (todo, call)).actions}
    assert by_kind[PsaKind.TODO].fields.subject == "Meeting: Acme / Alice Able"
    sc = by_kind[PsaKind.SERVICE_CALL].fields
    assert sc.subject == "Service Call: Acme" and sc.location.startswith("1 Main St")
    assert sc.description.startswith("Service Call Description:") and "Printer down" in sc.description


def test_r26_items_outside_the_window_are_not_added() -> None:
    far = PsaAppointment(
        6, "Later", NOW + timedelta(days=90), NOW + timedelta(days=90, hours=1), ME.id, "", NOW
    )
    assert get((), (far,)).actions == ()


def test_r24_psa_change_updates_the_personal_item() -> None:
    mine = item("a", subject="Dentist", version="v1")
    link = linked(mine, psa_appt())
    action = only(get((mine,), (psa_appt(title="Dentist (moved)", updated_s=2),), (link,)))
    assert (action.kind, action.target, action.fields.subject) == (
        ActionKind.UPDATE,
        Target.PERSONAL,
        "Dentist (moved)",
    )
    assert action.rule == "R24"


def test_changed_means_version_moved_and_hash_differs() -> None:
    mine = item("a", subject="Dentist")
    link = linked(mine, psa_appt())
    assert get((mine,), (psa_appt(updated_s=99),), (link,)).actions == ()


def test_r27_recurring_item_sent_from_personal_is_never_updated() -> None:
    occ = item("s", recurring=True, recurrence_id=at(11, 9), subject="Dentist")
    link = linked(occ, psa_appt(), series_uid="s")
    action = only(get((occ,), (psa_appt(title="Changed in PSA", updated_s=3),), (link,)))
    assert action.kind is ActionKind.SKIP and action.rule == "R27"


def test_r22_recurring_occurrence_deleted_in_psa_is_not_deleted_here() -> None:
    occ = item("s", recurring=True, recurrence_id=at(11, 9), subject="Dentist")
    other = psa_appt(id_=6, title="Other")
    assert get((occ,), (other,), (linked(occ, psa_appt(), series_uid="s"),)).actions[0].psa_id == 6


def test_r5_personal_edit_without_psa_change_waits_for_a_resend() -> None:
    mine = item("a", subject="Dentist")
    link = linked(mine, psa_appt())
    action = only(get((replace(mine, subject="Dentist + notes"),), (psa_appt(),), (link,)))
    assert action.kind is ActionKind.SKIP and "edited since sent" in action.reason


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("keep-personal", ActionKind.CONFLICT), ("ask", ActionKind.CONFLICT), ("psa-wins", ActionKind.UPDATE)],
)
def test_r5_conflict_policy(policy: str, expected: ActionKind) -> None:
    mine = item("a", subject="Dentist")
    link = linked(mine, psa_appt())
    edited = replace(mine, subject="My edit")
    action = only(get((edited,), (psa_appt(title="PSA edit", updated_s=2),), (link,), policy=policy))
    assert action.kind is expected and action.rule == "R5"
    assert action.target is (Target.PERSONAL if policy == "psa-wins" else Target.NONE)


def from_stamp(personal: PersonalItem, kind: PsaKind = PsaKind.APPOINTMENT) -> Link:
    """A link rebuilt from a stamp: no PSA version or hash known (second home, lost store)."""
    return Link(personal.key, PsaRef(kind, 5), Origin.SENT, personal_hash=personal_hash(personal))


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("keep-personal", ActionKind.CONFLICT), ("ask", ActionKind.CONFLICT), ("psa-wins", ActionKind.UPDATE)],
)
def test_r5_a_link_rebuilt_from_a_stamp_never_overwrites_a_difference(
    policy: str, expected: ActionKind
) -> None:
    mine = item("a", subject="My words")
    action = only(get((mine,), (psa_appt(title="Dentist"),), (from_stamp(mine),), policy=policy))
    assert action.kind is expected
    assert action.target is (Target.PERSONAL if policy == "psa-wins" else Target.NONE)


def test_r24_a_link_rebuilt_from_a_stamp_where_both_sides_agree_is_only_recorded() -> None:
    mine = item("a", subject="Dentist")
    action = only(get((mine,), (psa_appt(title="Dentist"),), (from_stamp(mine),)))
    assert action.kind is ActionKind.UPDATE and "restored from the PSA id kept in the item" in action.reason


def test_r18_a_rebuilt_link_of_a_sent_todo_agrees_though_its_subject_is_not_mapped() -> None:
    mine = item("a", subject="Call Alice about the quote")
    todo = PsaToDo(5, ACME.id, MEETING_TYPE.id, ME.id, at(11, 9), at(11, 10), "", ALICE.id, NOW)
    action = only(get((mine,), (todo,), (from_stamp(mine, PsaKind.TODO),)))
    assert action.kind is ActionKind.UPDATE and "restored from the PSA id kept in the item" in action.reason


def test_r25_item_missing_from_psa_is_deleted_only_if_gone() -> None:
    mine = item("a", subject="Dentist")
    keep = item("b", subject="Other")
    other = psa_appt(id_=6, title="Other")
    plan = get((mine, keep), (other,), (linked(mine, psa_appt()), linked(keep, other)))
    action = only(plan)
    assert (action.kind, action.verify_gone, action.ref) == (ActionKind.DELETE, True, "a")
    assert action.rule == "R25"


def test_r8_service_call_deleted_in_psa_is_deleted_here() -> None:
    mine = item("calferry-service-call-4")
    call = PsaServiceCall(4, 1, at(12, 9), at(12, 11), "", (TICKET,), NOW)
    link = replace(linked(mine, call), origin=Origin.DOWNLOADED)
    plan = get((mine, item("x")), (psa_appt(id_=8),), (link,), force_delete=False)
    gone = [a for a in plan.actions if a.kind is ActionKind.DELETE]
    assert len(gone) == 1 and gone[0].rule == "R8"


def test_guard_psa_side_that_lists_nothing_stops_the_get() -> None:
    mine = item("a")
    with pytest.raises(SideLooksEmpty):
        get((mine,), (), (linked(mine, psa_appt()),))
    assert only(get((mine,), (), (linked(mine, psa_appt()),), force_delete=True)).kind is ActionKind.DELETE


def test_guard_personal_side_that_lists_nothing_stops_the_get() -> None:
    with pytest.raises(SideLooksEmpty):
        get((), (psa_appt(),), (linked(item("a"), psa_appt()),))


def test_guard_too_many_deletions() -> None:
    mine = [item(f"i{n}") for n in range(4)]
    links = tuple(linked(m, psa_appt(id_=10 + n)) for n, m in enumerate(mine))
    with pytest.raises(TooManyDeletions):
        get(tuple(mine), (psa_appt(id_=99),), links, delete_threshold=3)
    assert len(get(tuple(mine), (psa_appt(id_=99),), links, delete_threshold=4).actions) == 5


def test_b_stamp_on_two_items_is_reported_in_get() -> None:
    mine = item("a", subject="Dentist", stamp=Stamp(PsaKind.APPOINTMENT, 5, Origin.SENT))
    copy = replace(mine, uid="copy")
    plan = get((mine, copy), (psa_appt(),), (linked(mine, psa_appt()),))
    action = only(plan)
    assert (action.kind, action.ref) == (ActionKind.SKIP, "copy")


def test_r26_personal_copy_missing_is_not_recreated() -> None:
    gone_here = item("a", subject="Dentist")
    link = linked(gone_here, psa_appt())
    plan = get((item("z"),), (psa_appt(title="changed", updated_s=5),), (link,))
    action = only(plan)
    # updated only if the copy is still there (outside the window); the applier never re-creates it
    assert (action.kind, action.if_present, action.target) == (ActionKind.UPDATE, True, Target.PERSONAL)
    assert "not re-created" in action.reason and action.personal_hash == link.personal_hash
    assert ItemKey("a") == link.personal


def test_r5_item_gone_from_psa_but_edited_here_is_a_conflict() -> None:
    mine = item("a", subject="Dentist")
    other = psa_appt(id_=6, title="Other")
    plan = get((replace(mine, subject="my notes"),), (other,), (linked(mine, psa_appt()),))
    action = next(a for a in plan.actions if a.ref == "a")
    assert action.kind is ActionKind.CONFLICT and action.rule == "R5"
    psa_wins = get(
        (replace(mine, subject="my notes"),), (other,), (linked(mine, psa_appt()),), policy="psa-wins"
    )
    assert [a.kind for a in psa_wins.actions if a.ref == "a"] == [ActionKind.DELETE]


# --- R17: an item unchanged on both sides is not sent again --------------------------------------


def test_r17_resend_unchanged_on_both_sides_is_skipped() -> None:
    mine = item("a", subject="Dentist")
    link = linked(mine, psa_appt())
    plan = plan_send((mine,), (link,), ME, SendOptions(), NOW, {APPT: link.psa_version})
    action = only(plan)
    assert (action.kind, action.target, action.psa_id) == (ActionKind.SKIP, Target.NONE, 5)
    assert action.reason == UNCHANGED and action.reason.startswith("unchanged")


def test_r17_only_the_unchanged_skip_is_marked_and_a_saved_plan_keeps_the_mark() -> None:
    mine, private = item("a", subject="Dentist"), item("b", subject="Dentist")
    link = linked(mine, psa_appt())
    plan = plan_send((mine, private), (link,), ME, SendOptions(kind=PsaKind.SERVICE_CALL), NOW)
    assert [a.unchanged for a in plan.actions] == [False, False]  # R7: skipped, but not for being current
    plan = plan_send((mine,), (link,), ME, SendOptions(), NOW, {APPT: link.psa_version})
    saved = Plan.from_json(json.loads(json.dumps(plan.to_json())))
    assert [(a.kind, a.unchanged) for a in saved.actions] == [(ActionKind.SKIP, True)]


def test_r17_resend_after_a_change_on_either_side_or_of_the_choice_updates() -> None:
    mine = item("a", subject="Dentist")
    link = linked(mine, psa_appt())
    current = {APPT: link.psa_version}
    edited = replace(mine, subject="Dentist moved")
    psa_edited = {APPT: psa_version(psa_appt(updated_s=2))}
    todo = Link(mine.key, PsaRef(PsaKind.TODO, 9), Origin.SENT, company_id=1, action_type_id=4)
    todo = replace(todo, personal_hash=personal_hash(mine), psa_version="v1")
    cases = [
        plan_send((edited,), (link,), ME, SendOptions(), NOW, current),
        plan_send((mine,), (link,), ME, SendOptions(), NOW, psa_edited),
        plan_send((mine,), (link,), ME, SendOptions(), NOW),  # the PSA item was not looked up
        plan_send((mine,), (todo,), ME, SendOptions(company_id=2), NOW, {todo.psa: "v1"}),
    ]
    assert [only(plan).kind for plan in cases] == [ActionKind.UPDATE] * 4
    assert only(plan_send((mine,), (todo,), ME, SendOptions(), NOW, {todo.psa: "v1"})).reason == UNCHANGED


def test_r14_reason_in_words_without_the_ref_the_rule_beside_it() -> None:
    action = only(send(item("demo-dentist"), kind=PsaKind.TODO, default_action_type_id=3))
    assert (action.reason, action.rule) == ("a To-Do needs a company", "R14")
    no_type = only(send(item("demo-dentist"), kind=PsaKind.TODO, company_id=1))
    assert (no_type.reason, no_type.rule) == ("a To-Do needs an action type", "R14")
    backwards = only(send(item("demo-dentist", hours=-1)))
    assert backwards.reason.startswith("ends before it starts") and backwards.rule == "R14"
