"""Property tests: item -> iCalendar -> item keeps every instant, in many zones, across DST, all-day too;
and series expand to the same instants in the iCalendar code as in the in-memory calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from calferry.model import PersonalItem, Window
from calferry.personal import ical
from calferry.personal.memory import MemoryCalendar

ZONES = [
    "UTC", "Europe/Berlin", "Europe/London", "America/New_York", "America/Sao_Paulo", "America/St_Johns",
    "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe", "Australia/Sydney", "Pacific/Auckland",
    "Pacific/Chatham", "Africa/Casablanca", "Asia/Tehran", "America/Santiago",
]  # fmt: skip
NOW = datetime(2026, 1, 1, tzinfo=UTC)

zones = st.sampled_from(ZONES).map(ZoneInfo)
wall_times = st.datetimes(min_value=datetime(1975, 1, 1), max_value=datetime(2036, 12, 31))
durations = st.integers(min_value=0, max_value=3 * 24 * 60).map(lambda m: timedelta(minutes=m))


def read_back(resource: ical.Resource, window: Window) -> list[PersonalItem]:
    cal = ical.parse_calendar(ical.calendar_text([resource]), "round trip")
    resources, problems = ical.resources_of(cal, "round trip")
    items, more = ical.expand(resources, window, {})
    assert problems == [] and more == []
    return items


def around(start: datetime, end: datetime) -> Window:
    return Window(start.astimezone(UTC) - timedelta(days=2), end.astimezone(UTC) + timedelta(days=2))


@settings(max_examples=60, deadline=None)
@given(zone=zones, wall=wall_times, length=durations)
def test_timed_item_keeps_its_instants(zone: ZoneInfo, wall: datetime, length: timedelta) -> None:
    start = wall.replace(tzinfo=zone, second=0, microsecond=0)
    start = start.astimezone(UTC).astimezone(zone)  # a real instant (no gap time)
    end = (start.astimezone(UTC) + length).astimezone(zone)
    item = PersonalItem("rt-1", start, end, subject="x")
    [back] = read_back(ical.new_resource(item, NOW), around(start, end))
    assert isinstance(back.start, datetime) and isinstance(back.end, datetime)
    assert (back.start.astimezone(UTC), back.end.astimezone(UTC)) == (
        start.astimezone(UTC),
        end.astimezone(UTC),
    )


@settings(max_examples=40, deadline=None)
@given(day=st.dates(min_value=date(1975, 1, 1), max_value=date(2036, 12, 1)), days=st.integers(1, 14))
def test_all_day_item_keeps_its_dates(day: date, days: int) -> None:
    item = PersonalItem("rt-2", day, day + timedelta(days=days))
    window = Window(
        datetime.combine(day, datetime.min.time(), UTC),
        datetime.combine(day + timedelta(days=days), datetime.min.time(), UTC),
    )
    [back] = read_back(ical.new_resource(item, NOW), window)
    assert (back.start, back.end, back.all_day) == (item.start, item.end, True)


@settings(max_examples=30, deadline=None)
@given(zone=zones, wall=wall_times, freq=st.sampled_from(["DAILY", "WEEKLY", "MONTHLY"]))
def test_series_expand_alike_in_ical_and_memory(zone: ZoneInfo, wall: datetime, freq: str) -> None:
    start = wall.replace(tzinfo=zone, minute=0, second=0, microsecond=0).astimezone(UTC).astimezone(zone)
    master = PersonalItem("rt-3", start, start + timedelta(hours=1))
    rule = f"FREQ={freq};COUNT=8"
    window = Window(start.astimezone(UTC) - timedelta(days=1), start.astimezone(UTC) + timedelta(days=400))
    from_ical = read_back(ical.series_resource(master, rule, NOW), window)
    memory = MemoryCalendar()
    memory.add_series(master, rule)
    from_memory = memory.list(window).items
    assert [(i.start, i.end, i.ref) for i in from_ical] == [(i.start, i.end, i.ref) for i in from_memory]
    assert len(from_ical) == 8
