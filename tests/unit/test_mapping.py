"""The seed's field tables (R14-R19, R28, R29, R32), the PSA's field limits, and the content hashes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calferry import mapping
from calferry.errors import MappingError
from calferry.mapping import SendChoice
from calferry.model import (
    ActionType,
    Address,
    Company,
    Contact,
    PersonalItem,
    PsaAppointment,
    PsaKind,
    PsaServiceCall,
    PsaToDo,
    Resource,
    ServiceCallWork,
    WorkKind,
)

BERLIN = ZoneInfo("Europe/Berlin")
ME = Resource(
    id=29682885, first_name="Tess", last_name="Tech", email="tess@example.com", time_zone="Europe/Berlin"
)
ACME = Company(
    7,
    "Acme Dental",
    Address("12 Harbour Road", "Suite 4", "Leeds", "West Yorkshire", "LS1 4AB", "United Kingdom"),
)
JANE = Contact(70, 7, "Jane", "Doe")
PHONE = ActionType(1, "Phone Call")


def item(**changes: object) -> PersonalItem:
    base = PersonalItem(
        uid="u1",
        start=datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN),
        end=datetime(2026, 11, 30, 10, 30, tzinfo=BERLIN),
        subject="Dentist",
        description="Bring the x-rays",
        location="Main street 1",
        categories=("Private",),
        reminder_minutes=15,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# --- personal -> PSA ------------------------------------------------------------------------


def test_r14_kind_defaults_to_appointment() -> None:
    mapped = mapping.personal_to_psa(item(), ME, SendChoice())
    assert isinstance(mapped.value, PsaAppointment)


def test_r18_subject_becomes_appointment_name_and_times_are_utc() -> None:
    appt = mapping.personal_to_appointment(item(), ME).value
    assert appt.title == "Dentist"
    assert appt.description == "Bring the x-rays"
    assert appt.start == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert appt.end == datetime(2026, 11, 30, 9, 30, tzinfo=UTC)


def test_r18_logged_in_user_becomes_the_resource() -> None:
    assert mapping.personal_to_appointment(item(), ME).value.resource_id == ME.id


def test_r18_private_item_is_sent_as_appointment_without_description() -> None:
    appt = mapping.personal_to_appointment(item(private=True), ME).value
    assert appt.title == "Appointment"
    assert appt.description == ""
    assert "Dentist" not in repr(appt) and "x-rays" not in repr(appt)


def test_r18_private_todo_keeps_description_home() -> None:
    choice = SendChoice(PsaKind.TODO, company_id=7, action_type_id=1)
    todo = mapping.personal_to_todo(item(private=True), ME, choice).value
    assert todo.description == ""


def test_r18_not_mapped_fields_are_dropped() -> None:
    appt = mapping.personal_to_appointment(item(), ME).value
    text = repr(appt)
    for absent in ("Main street", "Private", "15"):
        assert absent not in text.replace("2026-11-30 08:00:00", "")


def test_r18_all_day_blocks_the_whole_day_in_the_resources_zone() -> None:
    appt = mapping.personal_to_appointment(item(start=date(2026, 7, 1), end=date(2026, 7, 2)), ME).value
    assert appt.start == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)
    assert appt.end == datetime(2026, 7, 1, 22, 0, tzinfo=UTC)


def test_r19_meeting_attendees_never_reach_the_psa() -> None:
    meeting = item(attendees=("mailto:boss@example.com", "mailto:peer@example.com"))
    appt = mapping.personal_to_appointment(meeting, ME).value
    assert "example.com" not in repr(appt).replace(ME.email, "")
    assert appt.resource_id == ME.id


def test_r14_todo_needs_a_company() -> None:
    with pytest.raises(MappingError, match="needs a company"):
        mapping.personal_to_psa(item(), ME, SendChoice(PsaKind.TODO, action_type_id=1))


def test_r14_todo_needs_an_action_type() -> None:
    with pytest.raises(MappingError, match="action type"):
        mapping.personal_to_psa(item(), ME, SendChoice(PsaKind.TODO, company_id=7))


def test_r14_todo_fields() -> None:
    choice = SendChoice(PsaKind.TODO, company_id=7, contact_id=70, action_type_id=1)
    todo = mapping.personal_to_psa(item(), ME, choice).value
    assert isinstance(todo, PsaToDo)
    assert (todo.company_id, todo.contact_id, todo.action_type_id) == (7, 70, 1)
    assert todo.assigned_resource_id == ME.id
    assert todo.description == "Bring the x-rays"


def test_r15_recurring_item_is_always_an_appointment() -> None:
    occurrence = item(recurring=True, recurrence_id=datetime(2026, 11, 30, 8, tzinfo=UTC))
    with pytest.raises(MappingError, match="R15"):
        mapping.personal_to_psa(occurrence, ME, SendChoice(PsaKind.TODO, company_id=7, action_type_id=1))
    assert isinstance(mapping.personal_to_psa(occurrence, ME, SendChoice()).value, PsaAppointment)


def test_r7_service_call_cannot_be_sent() -> None:
    with pytest.raises(MappingError, match="R7"):
        mapping.personal_to_psa(item(), ME, SendChoice(PsaKind.SERVICE_CALL))


def test_end_before_start_is_a_clear_error() -> None:
    bad = item(end=datetime(2026, 11, 30, 8, 0, tzinfo=BERLIN))
    with pytest.raises(MappingError, match="ends before it starts"):
        mapping.personal_to_appointment(bad, ME)


def test_mixed_date_and_time_is_a_clear_error() -> None:
    with pytest.raises(MappingError, match="both be dates"):
        mapping.personal_to_appointment(item(end=date(2026, 12, 1)), ME)


def test_over_long_fields_are_truncated_with_a_warning_naming_field_and_item() -> None:
    mapped = mapping.personal_to_appointment(item(subject="x" * 300, description="y" * 9000), ME)
    assert len(mapped.value.title) == 256
    assert len(mapped.value.description) == 8000
    assert any("u1" in w and "title" in w and "300" in w for w in mapped.warnings)
    assert any("description" in w and "9000" in w for w in mapped.warnings)


def test_todo_description_limit_is_32000() -> None:
    choice = SendChoice(PsaKind.TODO, company_id=7, action_type_id=1)
    mapped = mapping.personal_to_todo(item(description="z" * 32001), ME, choice)
    assert len(mapped.value.description) == 32000
    assert mapped.warnings


def test_empty_subject_gets_a_placeholder_name() -> None:
    assert mapping.personal_to_appointment(item(subject="  "), ME).value.title == "(no subject)"


# --- PSA -> personal ------------------------------------------------------------------------

START = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
END = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)


def render(psa_item: PsaAppointment | PsaToDo | PsaServiceCall) -> mapping.PersonalFields:
    return mapping.psa_to_personal(psa_item, "Europe/Berlin", {7: ACME}, {70: JANE}, {1: PHONE})


def test_r28_appointment_name_becomes_subject() -> None:
    fields = render(PsaAppointment(5, "Team lunch", START, END, ME.id, "At the canteen"))
    assert (fields.subject, fields.description, fields.location) == ("Team lunch", "At the canteen", "")
    assert fields.start == START and fields.end == END
    assert fields.start.tzinfo == BERLIN  # type: ignore[union-attr]


def test_r28_todo_subject_is_company_contact_and_action_type() -> None:
    fields = render(PsaToDo(9, 7, 1, ME.id, START, END, "Call about renewal", contact_id=70))
    assert "Acme Dental" in fields.subject and "Jane Doe" in fields.subject and "Phone Call" in fields.subject
    assert fields.description == "Call about renewal"


def test_r28_todo_without_contact() -> None:
    fields = render(PsaToDo(9, 7, 1, ME.id, START, END))
    assert fields.subject == "Phone Call: Acme Dental"


def test_r28_service_call_subject_description_and_location() -> None:
    work = (
        ServiceCallWork(WorkKind.TICKET, 1, "T20261125.0001", "Printer jams"),
        ServiceCallWork(WorkKind.TASK, 2, "P-0042", "Install switch"),
    )
    fields = render(PsaServiceCall(3, 7, START, END, "Quarterly visit", work))
    assert fields.subject == "Service Call: Acme Dental"
    assert fields.description.startswith("Service Call Description:\nQuarterly visit")
    assert "Ticket T20261125.0001: Printer jams" in fields.description
    assert "Task P-0042: Install switch" in fields.description
    assert fields.description.rstrip().endswith(mapping.SERVICE_CALL_FOOTER)
    assert "will not be returned" in mapping.SERVICE_CALL_FOOTER
    assert fields.location == "12 Harbour Road, Suite 4, LS1 4AB Leeds, West Yorkshire, United Kingdom"


def test_r32_created_appointment_gets_no_location() -> None:
    assert render(PsaAppointment(5, "Lunch", START, END, ME.id)).location == ""


def test_r29_update_rewrites_subject_description_and_times() -> None:
    current = item()
    fields = render(PsaAppointment(5, "Dentist (moved)", START, END, ME.id, "New notes"))
    updated = mapping.apply_psa_fields(current, fields)
    assert (updated.subject, updated.description) == ("Dentist (moved)", "New notes")
    assert (updated.start, updated.end) == (START, END)
    assert updated.location == current.location and updated.categories == current.categories


def test_r29_private_item_keeps_its_own_text_on_update() -> None:
    current = item(private=True)
    fields = render(PsaAppointment(5, "Appointment", START, END, ME.id, ""))
    updated = mapping.apply_psa_fields(current, fields)
    assert (updated.subject, updated.description) == ("Dentist", "Bring the x-rays")
    assert updated.start == START


def test_r23_new_personal_item_has_no_attendees() -> None:
    fields = render(PsaAppointment(5, "Lunch", START, END, ME.id))
    created = mapping.new_personal_item("psa-appointment-5", fields)
    assert created.attendees == () and created.subject == "Lunch"


def test_whole_local_days_come_back_as_all_day() -> None:
    appt = PsaAppointment(
        5, "Holiday", datetime(2026, 6, 30, 22, tzinfo=UTC), datetime(2026, 7, 2, 22, tzinfo=UTC), ME.id
    )
    fields = render(appt)
    assert (fields.start, fields.end) == (date(2026, 7, 1), date(2026, 7, 3))


# --- hashes ---------------------------------------------------------------------------------


def test_personal_hash_ignores_noise_and_sees_edits() -> None:
    a = item(version="etag-1")
    assert mapping.personal_hash(a) == mapping.personal_hash(
        replace(a, version="etag-2", location="elsewhere")
    )
    assert mapping.personal_hash(a) == mapping.personal_hash(replace(a, description="Bring the x-rays\r\n"))
    assert mapping.personal_hash(a) != mapping.personal_hash(replace(a, subject="Dentist!"))
    moved = replace(a, end=a.end + timedelta(minutes=5))  # type: ignore[operator]
    assert mapping.personal_hash(a) != mapping.personal_hash(moved)


def test_personal_hash_is_zone_independent() -> None:
    a = item()
    in_utc = replace(a, start=a.start.astimezone(UTC), end=a.end.astimezone(UTC))  # type: ignore[union-attr]
    assert mapping.personal_hash(a) == mapping.personal_hash(in_utc)


def test_psa_hash_sees_mapped_fields_only() -> None:
    appt = PsaAppointment(5, "Lunch", START, END, ME.id, updated=START)
    assert mapping.psa_hash(appt) == mapping.psa_hash(replace(appt, updated=END))
    assert mapping.psa_hash(appt) != mapping.psa_hash(replace(appt, title="Dinner"))


# --- properties: instants are exact across DST and zones (B7) -------------------------------

ZONES = st.sampled_from(
    [
        "Europe/Berlin",
        "America/New_York",
        "America/Sao_Paulo",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "Pacific/Chatham",
        "Europe/London",
        "America/St_Johns",
        "UTC",
        "Pacific/Auckland",
    ]
)
LOCAL_TIMES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31))


@given(zone=ZONES, local=LOCAL_TIMES, minutes=st.integers(min_value=0, max_value=60 * 24 * 3))
def test_b7_timed_items_keep_their_instants_both_ways(zone: str, local: datetime, minutes: int) -> None:
    start = local.replace(tzinfo=ZoneInfo(zone))
    end = (start.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(ZoneInfo(zone))
    resource = replace(ME, time_zone=zone)
    appt = mapping.personal_to_appointment(item(start=start, end=end), resource).value
    assert appt.start == start and appt.end == end
    assert appt.start.utcoffset() == timedelta(0)
    fields = mapping.psa_to_personal(appt, zone, {}, {}, {})
    if isinstance(fields.start, datetime):
        assert fields.start == start and fields.end == end
    else:  # whole local days came back as an all-day item: the same days
        assert fields.start == start.date() and fields.end == end.date()


@given(
    zone=ZONES,
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 30)),
    days=st.integers(1, 14),
)
def test_b7_all_day_items_round_trip_as_the_same_days(zone: str, day: date, days: int) -> None:
    resource = replace(ME, time_zone=zone)
    end_day = day + timedelta(days=days)
    appt = mapping.personal_to_appointment(item(start=day, end=end_day), resource).value
    local = ZoneInfo(zone)
    assert appt.start.astimezone(local).date() == day
    assert appt.end.astimezone(local).date() == end_day
    fields = mapping.psa_to_personal(appt, zone, {}, {}, {})
    assert (fields.start, fields.end) == (day, end_day)
