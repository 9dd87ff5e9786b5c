"""The seed's field tables (R14-R19, R28, R29, R32), the PSA's field limits, and the content hashes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
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
    with pytest.raises(MappingError, match="always sent as an Appointment") as refused:
        mapping.personal_to_psa(occurrence, ME, SendChoice(PsaKind.TODO, company_id=7, action_type_id=1))
    assert refused.value.rule == "R15" and "R15" not in str(refused.value)
    assert isinstance(mapping.personal_to_psa(occurrence, ME, SendChoice()).value, PsaAppointment)


def test_r7_service_call_cannot_be_sent() -> None:
    with pytest.raises(MappingError, match="service call cannot be sent") as refused:
        mapping.personal_to_psa(item(), ME, SendChoice(PsaKind.SERVICE_CALL))
    assert refused.value.rule == "R7"


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

ZONE_NAMES = (
    "Europe/Berlin",
    "America/New_York",
    "America/Sao_Paulo",  # DST until 2019, the clocks changed at midnight
    "Australia/Lord_Howe",  # a 30-minute shift
    "Asia/Kolkata",
    "Pacific/Chatham",  # +12:45 / +13:45
    "Europe/London",
    "America/St_Johns",
    "UTC",
    "Pacific/Auckland",
)
LORD_HOWE, AUCKLAND, SAO_PAULO = (
    ZoneInfo(z) for z in ("Australia/Lord_Howe", "Pacific/Auckland", "America/Sao_Paulo")
)
SCAN = range(
    int(datetime(2000, 1, 1, tzinfo=UTC).timestamp()),
    int(datetime(2040, 1, 1, tzinfo=UTC).timestamp()),
    86400,
)
HOURS_AROUND = 3


def _offset(zone: ZoneInfo, timestamp: int) -> timedelta | None:
    return datetime.fromtimestamp(timestamp, zone).utcoffset()


@cache
def transitions(zone: str) -> tuple[int, ...]:
    """Where ``zone``'s UTC offset changed or will change, 2000-2040: a daily scan bisected to the second."""
    tz = ZoneInfo(zone)
    return tuple(
        _first_second(tz, day, day + 86400) for day in SCAN if _offset(tz, day) != _offset(tz, day + 86400)
    )


def _first_second(zone: ZoneInfo, before: int, after: int) -> int:
    """The first second with ``after``'s offset, knowing it differs from ``before``'s."""
    while after - before > 1:
        middle = (before + after) // 2
        if _offset(zone, middle) == _offset(zone, before):
            before = middle
        else:
            after = middle
    return after


@st.composite
def near_transitions(draw: st.DrawFn) -> datetime:
    """A local time a few hours either side of one of a zone's offset changes, with fold 0 or 1.

    Counted on the clock face from the moment just before the change; half the draws stay within one shift
    of it, so the spring gap (local times that never happen) and the autumn fold (local times that happen
    twice) come up often.
    """
    zone = draw(st.sampled_from(ZONE_NAMES).filter(transitions))
    tz = ZoneInfo(zone)
    change = draw(st.sampled_from(transitions(zone)))
    before, after = _offset(tz, change - 1), _offset(tz, change)
    assert before is not None and after is not None
    shift = abs(after - before) // timedelta(minutes=1)
    face = datetime.fromtimestamp(change - 1, tz).replace(tzinfo=None) + timedelta(seconds=1)
    minutes = draw(st.integers(-shift, shift) | st.integers(-60 * HOURS_AROUND, 60 * HOURS_AROUND))
    local = face + timedelta(minutes=minutes)
    return local.replace(tzinfo=tz, fold=draw(st.integers(0, 1)))


ANYWHERE = st.builds(
    lambda zone, local, fold: local.replace(tzinfo=ZoneInfo(zone), fold=fold),
    st.sampled_from(ZONE_NAMES),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31)),
    st.integers(0, 1),
)
ZONED_TIMES = st.one_of(near_transitions(), ANYWHERE)
ZONED_DAYS = st.builds(
    lambda moment, shift: (_zone_of(moment), moment.date() + timedelta(days=shift)),
    ZONED_TIMES,
    st.integers(-1, 1),
)


def _zone_of(moment: datetime) -> str:
    assert isinstance(moment.tzinfo, ZoneInfo)
    return moment.tzinfo.key


def _utc(moment: object) -> datetime:
    assert isinstance(moment, datetime)
    return moment.astimezone(UTC)


def test_b7_transition_scan_finds_the_known_changes() -> None:
    berlin_2026 = [
        datetime.fromtimestamp(t, UTC)
        for t in transitions("Europe/Berlin")
        if datetime.fromtimestamp(t, UTC).year == 2026
    ]
    assert berlin_2026 == [datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC)]
    assert transitions("UTC") == () and transitions("Asia/Kolkata") == ()
    brazil_stopped_in_2019 = len(transitions("America/Sao_Paulo")) < len(transitions("Pacific/Auckland"))
    assert brazil_stopped_in_2019


@pytest.mark.parametrize(
    ("local", "sent"),
    [
        # in the spring gap, then the autumn fold's first and second pass, then Lord Howe's half-hour fold
        (datetime(2026, 3, 29, 2, 30, tzinfo=BERLIN), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        (datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        (datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
        (datetime(2026, 4, 5, 1, 45, tzinfo=LORD_HOWE), datetime(2026, 4, 4, 14, 45, tzinfo=UTC)),
        (datetime(2026, 4, 5, 1, 45, fold=1, tzinfo=LORD_HOWE), datetime(2026, 4, 4, 15, 15, tzinfo=UTC)),
    ],
)
def test_b7_fold_and_gap_times_are_sent_as_the_instant_they_name(local: datetime, sent: datetime) -> None:
    """fold=1 is the second pass through the repeated hour; a time in the gap reads the clock before the change."""
    resource = replace(ME, time_zone=_zone_of(local))
    appointment = mapping.personal_to_appointment(
        item(start=local, end=local + timedelta(hours=2)), resource
    ).value
    assert appointment.start == sent


@settings(max_examples=300)  # a few dozen of them land in a gap or a fold
@given(start=ZONED_TIMES, minutes=st.integers(min_value=0, max_value=60 * 24 * 3))
@example(start=datetime(2026, 3, 29, 2, 30, tzinfo=BERLIN), minutes=60)  # spring forward: 02:30 never happens
@example(start=datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN), minutes=45)  # the second 02:30
@example(start=datetime(2026, 4, 5, 1, 45, fold=1, tzinfo=LORD_HOWE), minutes=30)  # back by 30 minutes
@example(start=datetime(2026, 10, 4, 2, 15, tzinfo=LORD_HOWE), minutes=30)  # 02:00-02:30 never happens
@example(start=datetime(2026, 9, 27, 2, 30, tzinfo=AUCKLAND), minutes=90)  # southern spring, in September
# Sao Paulo skipped midnight: 00:00 is read as 01:00 and 23 hours later is the next day's start
@example(start=datetime(2018, 11, 4, 0, 0, tzinfo=SAO_PAULO), minutes=23 * 60)
def test_b7_timed_items_keep_their_instants_both_ways(start: datetime, minutes: int) -> None:
    zone = _zone_of(start)
    end = (start.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(start.tzinfo)
    sent = mapping.personal_to_appointment(item(start=start, end=end), replace(ME, time_zone=zone)).value
    assert sent.start.utcoffset() == timedelta(0)
    assert (sent.start, sent.end) == (_utc(start), _utc(end))
    back = mapping.psa_to_personal(sent, zone, {}, {}, {})
    if isinstance(back.start, datetime):
        assert (_utc(back.start), _utc(back.end)) == (sent.start, sent.end)
        assert _zone_of(back.start) == zone
    else:  # it covered whole local days, so it came back as an all-day item on those days
        assert back.start == sent.start.astimezone(ZoneInfo(zone)).date()
    assert mapping.psa_times(item(start=back.start, end=back.end), zone) == (sent.start, sent.end)


@settings(max_examples=300)
@given(zone_day=ZONED_DAYS, days=st.integers(1, 14))
@example(zone_day=("Europe/Berlin", date(2026, 3, 29)), days=1)  # a 23-hour day
@example(zone_day=("Europe/Berlin", date(2026, 10, 25)), days=1)  # a 25-hour day
@example(zone_day=("Australia/Lord_Howe", date(2026, 10, 4)), days=1)  # a 23.5-hour day
@example(zone_day=("Pacific/Auckland", date(2026, 4, 5)), days=2)  # southern autumn, in April
@example(zone_day=("America/Sao_Paulo", date(2018, 11, 4)), days=1)  # starts at 01:00: midnight skipped
@example(zone_day=("America/Sao_Paulo", date(2018, 2, 17)), days=1)  # 25 hours: 23:00-24:00 twice
@example(zone_day=("America/St_Johns", date(2000, 10, 29)), days=1)  # DST ended at 00:01: midnight twice
def test_r18_all_day_items_block_the_same_whole_days_both_ways(zone_day: tuple[str, date], days: int) -> None:
    zone, day = zone_day
    end_day = day + timedelta(days=days)
    sent = mapping.personal_to_appointment(item(start=day, end=end_day), replace(ME, time_zone=zone)).value
    for instant, local_day in ((sent.start, day), (sent.end, end_day)):  # the first second of that local day
        assert instant.astimezone(ZoneInfo(zone)).date() == local_day
        assert (instant - timedelta(seconds=1)).astimezone(ZoneInfo(zone)).date() < local_day
    back = mapping.psa_to_personal(sent, zone, {}, {}, {})
    assert (back.start, back.end) == (day, end_day)
