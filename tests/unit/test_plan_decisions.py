"""plan_add, plan_delete_series, plan_resolve and item_state, branch by branch, named after their rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calferry.errors import InputError, MappingError, NotFound
from calferry.mapping import personal_hash
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
)
from calferry.plan import (
    ActionKind,
    NewItem,
    Plan,
    Target,
    TransferState,
    item_state,
    plan_add,
    plan_delete_series,
    plan_resolve,
    psa_version,
)
from calferry.psa.base import PsaSnapshot
from tests.unit.engine_helpers import ACME, ALICE, ME, MEETING_TYPE, NOW, TICKET, at, item

START, END = datetime(2026, 3, 12, 9, 0), datetime(2026, 3, 12, 10, 0)  # wall-clock, ME's zone (Berlin)


def only(plan: Plan):  # type: ignore[no-untyped-def]
    assert len(plan.actions) == 1, plan.actions
    return plan.actions[0]


# --- Add (R30) ------------------------------------------------------------------------------


def test_r30_an_appointment_is_created_in_my_psa_calendar_at_my_wall_clock_times() -> None:
    plan = plan_add(NewItem(PsaKind.APPOINTMENT, " Visit ", START, END, "notes"), ME, NOW)
    action = only(plan)
    assert (plan.operation, plan.created) == ("add", NOW)
    assert (action.kind, action.target, action.rule, action.ref) == (
        ActionKind.CREATE,
        Target.PSA,
        "R30",
        "",
    )
    assert action.psa_item == PsaAppointment(None, "Visit", at(12, 8), at(12, 9), ME.id, "notes")


def test_r30_an_appointment_needs_a_title() -> None:
    with pytest.raises(InputError, match="needs a title"):
        plan_add(NewItem(PsaKind.APPOINTMENT, "  ", START, END), ME, NOW)


@pytest.mark.parametrize("kind", [PsaKind.TODO, PsaKind.SERVICE_CALL])
def test_r30_a_todo_or_service_call_needs_a_company(kind: PsaKind) -> None:
    with pytest.raises(InputError, match="needs a company"):
        plan_add(NewItem(kind, "", START, END, action_type_id=MEETING_TYPE.id, work=(TICKET,)), ME, NOW)


def test_r30_a_todo_carries_company_contact_and_action_type() -> None:
    new = NewItem(PsaKind.TODO, "", START, END, "call", ACME.id, ALICE.id, MEETING_TYPE.id)
    todo = only(plan_add(new, ME, NOW)).psa_item
    assert todo == PsaToDo(None, ACME.id, MEETING_TYPE.id, ME.id, at(12, 8), at(12, 9), "call", ALICE.id)


def test_r30_a_todo_needs_an_action_type() -> None:
    with pytest.raises(InputError, match="action type"):
        plan_add(NewItem(PsaKind.TODO, "", START, END, company_id=ACME.id), ME, NOW)


def test_r30_a_service_call_needs_a_ticket_or_task() -> None:
    with pytest.raises(InputError, match="at least one ticket or task"):
        plan_add(NewItem(PsaKind.SERVICE_CALL, "", START, END, company_id=ACME.id), ME, NOW)
    call = only(
        plan_add(NewItem(PsaKind.SERVICE_CALL, "", START, END, company_id=ACME.id, work=(TICKET,)), ME, NOW)
    )
    assert call.psa_item == PsaServiceCall(None, ACME.id, at(12, 8), at(12, 9), "", (TICKET,))


def test_r30_start_and_end_are_required_and_in_order() -> None:
    with pytest.raises(InputError, match="start and end are required"):
        plan_add(NewItem(PsaKind.APPOINTMENT, "Visit", START, None), ME, NOW)
    with pytest.raises(MappingError, match="end must be after the start"):
        plan_add(NewItem(PsaKind.APPOINTMENT, "Visit", END, START), ME, NOW)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    st.integers(min_value=1, max_value=24 * 60),
    st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]),
)
def test_r30_wall_clock_times_are_the_technicians_across_dst(
    start: datetime, minutes: int, zone: str
) -> None:
    """A time without an offset is read on the technician's clock, whatever the season (gaps, folds)."""
    me = replace(ME, time_zone=zone)
    end = start + timedelta(minutes=minutes)
    expected = [t.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC) for t in (start, end)]
    if expected[1] <= expected[0]:  # a DST fold swallowed the span: refused, never sent backwards
        with pytest.raises(MappingError):
            plan_add(NewItem(PsaKind.APPOINTMENT, "Visit", start, end), me, NOW)
        return
    made = only(plan_add(NewItem(PsaKind.APPOINTMENT, "Visit", start, end), me, NOW)).psa_item
    assert [made.start, made.end] == expected  # type: ignore[union-attr]
    assert made.start.tzinfo is UTC  # type: ignore[union-attr]


def test_r30_a_time_with_an_offset_keeps_it() -> None:
    offset = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
    made = only(plan_add(NewItem(PsaKind.APPOINTMENT, "Visit", offset, offset + timedelta(hours=1)), ME, NOW))
    assert made.psa_item.start == offset  # type: ignore[union-attr]


# --- delete a series (R22) ------------------------------------------------------------------


def series_link(uid: str, occurrence: str, psa_id: int) -> Link:
    return Link(ItemKey(uid, occurrence), PsaRef(PsaKind.APPOINTMENT, psa_id), Origin.SENT, series_uid=uid)


LINKS = (
    series_link("s", "20260312T090000Z", 1),
    series_link("s", "20260319T090000Z", 2),
    series_link("other", "20260312T090000Z", 3),
)
SERIES = item("s", recurring=True)


def test_r22_the_whole_series_deletes_every_psa_copy_then_the_series() -> None:
    plan = plan_delete_series(ItemKey("s"), SERIES, LINKS, NOW)
    assert plan.operation == "delete-series"
    assert [(a.kind, a.target, a.psa_id, a.rule) for a in plan.actions] == [
        (ActionKind.DELETE, Target.PSA, 1, "R22"),
        (ActionKind.DELETE, Target.PSA, 2, "R22"),
        (ActionKind.DELETE, Target.PERSONAL, None, "R22"),
    ]
    assert plan.actions[-1].ref == "s" and "whole series" in plan.actions[-1].reason


def test_r22_one_occurrence_deletes_only_its_psa_copy_and_itself() -> None:
    key = ItemKey("s", "20260319T090000Z")
    occurrence = replace(item("s", recurring=True), recurrence_id=datetime(2026, 3, 19, 9, tzinfo=UTC))
    plan = plan_delete_series(key, occurrence, LINKS, NOW)
    assert [(a.target, a.psa_id, a.ref) for a in plan.actions] == [
        (Target.PSA, 2, "s@20260319T090000Z"),
        (Target.PERSONAL, None, "s@20260319T090000Z"),
    ]
    assert plan.actions[0].link == LINKS[1]


def test_r22_a_series_gone_from_the_calendar_still_takes_its_psa_copies() -> None:
    plan = plan_delete_series(ItemKey("s"), None, LINKS, NOW)
    assert [(a.target, a.psa_id) for a in plan.actions] == [(Target.PSA, 1), (Target.PSA, 2)]


def test_r22_a_series_neither_here_nor_linked_is_not_found() -> None:
    with pytest.raises(NotFound, match="nowhere"):
        plan_delete_series(ItemKey("nowhere"), None, LINKS, NOW)


def test_r22_a_plain_item_is_not_deleted_as_a_series() -> None:
    with pytest.raises(InputError, match="not a recurring series"):
        plan_delete_series(ItemKey("plain"), item("plain"), LINKS, NOW)


def test_r22_an_unlinked_series_is_deleted_in_the_calendar_only() -> None:
    action = only(plan_delete_series(ItemKey("fresh"), item("fresh", recurring=True), LINKS, NOW))
    assert (action.target, action.ref) == (Target.PERSONAL, "fresh")


# --- resolve a conflict (R24, R5-B) ---------------------------------------------------------


def test_r24_taking_the_psas_version_overwrites_the_personal_item_as_get_renders_it() -> None:
    todo = PsaToDo(9, ACME.id, MEETING_TYPE.id, ME.id, at(12, 8), at(12, 9), "bring cables", ALICE.id)
    link = Link(ItemKey("a"), PsaRef(PsaKind.TODO, 9), Origin.SENT, personal_hash="old")
    snapshot = PsaSnapshot((todo,), {ACME.id: ACME}, {ALICE.id: ALICE}, {MEETING_TYPE.id: MEETING_TYPE})
    plan = plan_resolve(link, snapshot, "Europe/Berlin", NOW)
    action = only(plan)
    assert (plan.operation, action.kind, action.target, action.rule) == (
        "resolve", ActionKind.UPDATE, Target.PERSONAL, "R24"
    )  # fmt: skip
    assert (action.ref, action.psa_item, action.link) == ("a", todo, link)
    assert action.psa_version == psa_version(todo)
    assert action.fields is not None and "Acme" in action.fields.subject
    assert "bring cables" in action.fields.description


def test_r24_the_linked_item_is_taken_among_others() -> None:
    mine = PsaAppointment(5, "Dentist", at(12, 8), at(12, 9), ME.id)
    other = PsaAppointment(6, "Other", at(12, 8), at(12, 9), ME.id)
    link = Link(ItemKey("a"), PsaRef(PsaKind.APPOINTMENT, 5), Origin.DOWNLOADED)
    action = only(plan_resolve(link, PsaSnapshot((other, mine)), "UTC", NOW))
    assert action.psa_item == mine and action.fields is not None and action.fields.subject == "Dentist"


# --- item state (R16, R17, R23, R5-B) -------------------------------------------------------


def state_of(personal: PersonalItem, link: Link | None, conflicts: tuple[str, ...] = ()) -> str:
    return item_state(personal, link, set(conflicts)).state


MINE = item("a", subject="Dentist")
SENT = Link(MINE.key, PsaRef(PsaKind.APPOINTMENT, 5), Origin.SENT, personal_hash=personal_hash(MINE))


def test_r16_an_item_without_link_is_not_sent() -> None:
    state = item_state(MINE, None, set())
    assert (state.state, state.psa_kind, state.psa_id) == (TransferState.NOT_SENT, None, None)
    assert state.to_json()["state"] == "not sent"


def test_r16_r23_an_unchanged_linked_item_is_sent_or_downloaded_as_it_started() -> None:
    assert state_of(MINE, SENT) == "sent"
    assert state_of(MINE, replace(SENT, origin=Origin.DOWNLOADED)) == "downloaded"
    state = item_state(MINE, SENT, set())
    assert (state.psa_kind, state.psa_id, state.subject) == (PsaKind.APPOINTMENT, 5, "Dentist")


def test_r17_an_item_edited_since_the_last_transfer_says_so() -> None:
    assert state_of(replace(MINE, subject="Dentist, moved"), SENT) == "edited since sent"


def test_r5_a_conflict_the_last_get_reported_wins_over_an_edit() -> None:
    assert state_of(replace(MINE, subject="Dentist, moved"), SENT, ("a",)) == "conflict"
    assert state_of(MINE, None, ("a",)) == "not sent"  # no link: nothing to be in conflict with
