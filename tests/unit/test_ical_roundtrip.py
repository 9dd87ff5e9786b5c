"""Property tests: item -> iCalendar -> item keeps every instant, in many zones, across DST, all-day too;
iCalendar text -> item -> iCalendar -> item keeps the instant the text names (RFC 5545 3.3.5 for local
times a zone skips or repeats), Windows zone names included; and series expand to the same instants in
the iCalendar code as in the in-memory calendar."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from calferry.model import PersonalItem, Window
from calferry.personal import ical
from calferry.personal.memory import MemoryCalendar

ZONES = [
    "UTC", "Europe/Berlin", "Europe/London", "America/New_York", "America/Sao_Paulo", "America/St_Johns",
    "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe", "Australia/Sydney", "Pacific/Auckland",
    "Pacific/Chatham", "Africa/Casablanca", "Asia/Tehran", "America/Santiago",
]  # fmt: skip
NOW = datetime(2026, 1, 1, tzinfo=UTC)

TZIDS = sorted([(z, z) for z in ZONES] + list(WINDOWS_TO_OLSON.items()))
"""(TZID as written, IANA zone it means): IANA names, and Outlook's Windows names (icalendar's mapping)."""

zones = st.sampled_from(ZONES).map(ZoneInfo)
wall_times = st.datetimes(min_value=datetime(1975, 1, 1), max_value=datetime(2036, 12, 31))
durations = st.integers(min_value=0, max_value=3 * 24 * 60).map(lambda m: timedelta(minutes=m))


@functools.lru_cache(maxsize=512)
def transitions(key: str, year: int) -> tuple[tuple[datetime, timedelta, timedelta], ...]:
    """The zone's offset changes in a year: (naive UTC instant, offset before, offset after)."""
    zone = ZoneInfo(key)
    found = []
    at = datetime(year, 1, 1)
    offset = at.replace(tzinfo=UTC).astimezone(zone).utcoffset()
    while at.year == year:
        step = at + timedelta(hours=1)
        after = step.replace(tzinfo=UTC).astimezone(zone).utcoffset()
        if after != offset:
            exact = next(
                m for m in (at + timedelta(minutes=n) for n in range(1, 61))
                if m.replace(tzinfo=UTC).astimezone(zone).utcoffset() == after
            )  # fmt: skip
            assert offset is not None and after is not None
            found.append((exact, offset, after))
            offset = after
        at = step
    return tuple(found)


@st.composite
def zoned_walls(draw: st.DrawFn, zone_names: list[tuple[str, str]] = TZIDS) -> tuple[str, ZoneInfo, datetime]:
    """(TZID, zone, naive wall time): half of them within 90 minutes of a DST change, so inside the
    gaps and folds (a local time the zone skips or shows twice) as often as around them."""
    tzid, key = draw(st.sampled_from(zone_names))
    zone = ZoneInfo(key)
    if draw(st.booleans()):
        changes = transitions(key, draw(st.integers(1976, 2036)))
        if changes:
            instant, before, _after = draw(st.sampled_from(changes))
            return tzid, zone, instant + before + timedelta(minutes=draw(st.integers(-90, 90)))
    return tzid, zone, draw(wall_times).replace(second=0, microsecond=0)


def rfc5545_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant RFC 5545 3.3.5 gives ``TZID=zone:wall``: a local time shown twice is its first
    occurrence; one the zone skips is read with the UTC offset before the gap, which puts it the gap's
    length later on the clock (02:30 on a spring-forward night in Berlin is 03:30 CEST)."""
    offsets = {wall.replace(tzinfo=zone, fold=fold).utcoffset() for fold in (0, 1)}
    candidates = sorted((wall - offset).replace(tzinfo=UTC) for offset in offsets if offset is not None)
    shown = [c for c in candidates if c.astimezone(zone).replace(tzinfo=None) == wall]
    if shown:
        return shown[0]
    before_gap = candidates[0].astimezone(zone).utcoffset()  # the earlier reading falls before the change
    assert before_gap is not None
    return (wall - before_gap).replace(tzinfo=UTC)


def ical_text(tzid: str, start: datetime, end: datetime) -> str:
    param = f'"{tzid}"' if " " in tzid else tzid  # Outlook quotes its Windows names
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//elsewhere//EN", "BEGIN:VEVENT", "UID:rt-text",
        "DTSTAMP:20260101T000000Z", f"DTSTART;TZID={param}:{start:%Y%m%dT%H%M%S}",
        f"DTEND;TZID={param}:{end:%Y%m%dT%H%M%S}", "SUMMARY:x", "END:VEVENT", "END:VCALENDAR", "",
    ])  # fmt: skip


def items_of(text: str, window: Window) -> list[PersonalItem]:
    resources, problems = ical.resources_in(text, "text")
    items, more = ical.expand(resources, window, {})
    assert problems == [] and more == []
    return items


def instants(item: PersonalItem) -> tuple[datetime, datetime]:
    assert isinstance(item.start, datetime) and isinstance(item.end, datetime)
    return item.start.astimezone(UTC), item.end.astimezone(UTC)


def read_back(resource: ical.Resource, window: Window) -> list[PersonalItem]:
    resources, problems = ical.resources_in(ical.calendar_text([resource]), "round trip")
    items, more = ical.expand(resources, window, {})
    assert problems == [] and more == []
    return items


def around(start: datetime, end: datetime) -> Window:
    return Window(start.astimezone(UTC) - timedelta(days=2), end.astimezone(UTC) + timedelta(days=2))


@settings(max_examples=60, deadline=None)
@given(zoned=zoned_walls([(z, z) for z in ZONES]), length=durations, fold=st.sampled_from([0, 1]))
def test_timed_item_keeps_its_instants(
    zoned: tuple[str, ZoneInfo, datetime], length: timedelta, fold: int
) -> None:
    _, zone, wall = zoned
    # a real instant (no gap time); fold=1 where it is the second pass of a repeated hour
    start = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC).astimezone(zone)
    end = (start.astimezone(UTC) + length).astimezone(zone)
    item = PersonalItem("rt-1", start, end, subject="x")
    [back] = read_back(ical.new_resource(item, NOW), around(start, end))
    assert isinstance(back.start, datetime) and isinstance(back.end, datetime)
    assert (back.start.astimezone(UTC), back.end.astimezone(UTC)) == (
        start.astimezone(UTC),
        end.astimezone(UTC),
    )


@settings(max_examples=80, deadline=None)
@given(zoned=zoned_walls(), length=durations)
def test_ical_text_to_item_and_back_keeps_the_instants_it_names(
    zoned: tuple[str, ZoneInfo, datetime], length: timedelta
) -> None:
    tzid, zone, wall = zoned
    named = (rfc5545_instant(wall, zone), rfc5545_instant(wall + length, zone))
    assume(named[0] <= named[1])  # a start skipped forward past its end is no event
    window = around(*named)
    [parsed] = items_of(ical_text(tzid, wall, wall + length), window)
    [written] = read_back(ical.new_resource(parsed, NOW), window)
    assert instants(written) == instants(parsed)
    if isinstance(parsed.start, datetime) and isinstance(parsed.start.tzinfo, ZoneInfo):
        # read as an IANA zone; icalendar instead reuses a VTIMEZONE of the same TZID read earlier in
        # the process (Outlook's files bring one), and that one resolves gap times otherwise
        assert instants(parsed) == named


def test_local_times_in_a_gap_move_forward_by_the_gap_and_repeated_ones_are_the_first_pass() -> None:
    """The resolution chosen, RFC 5545 3.3.5's: a skipped local time keeps the offset before the gap (so
    the clock shows it the gap's length later), a repeated one is its first pass."""
    window = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    skipped, repeated = datetime(2026, 3, 29, 2, 30), datetime(2026, 10, 25, 2, 30)
    text = ical_text("Europe/Berlin", skipped, repeated)
    [item] = items_of(text, window)
    assert instants(item) == (
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
    )
    berlin = ZoneInfo("Europe/Berlin")
    assert instants(item)[0].astimezone(berlin).replace(tzinfo=None) == skipped + timedelta(hours=1)


def test_second_pass_of_a_repeated_hour_is_written_so_it_reads_back_as_itself() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    second_pass = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=berlin)  # 01:30 UTC, after the first 02:30
    first_pass = datetime(2026, 10, 25, 2, 0, tzinfo=berlin)  # 00:00 UTC
    item = PersonalItem("rt-fold", first_pass, second_pass)
    [back] = read_back(ical.new_resource(item, NOW), around(first_pass, second_pass))
    assert instants(back) == (
        datetime(2026, 10, 25, 0, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
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
    from_memory = memory.snapshot(window).items
    assert [(i.start, i.end, i.ref) for i in from_ical] == [(i.start, i.end, i.ref) for i in from_memory]
    assert len(from_ical) == 8
