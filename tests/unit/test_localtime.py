"""Times in the technician's zone: days cut at their midnights, wall-clock times read and shown in it,
all-day items as "all day", and ranges no calendar needs refused with a sentence."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calferry import localtime
from calferry.errors import InputError

ZONES = st.sampled_from(
    (
        "Pacific/Kiritimati",
        "Pacific/Chatham",
        "Pacific/Auckland",
        "Australia/Lord_Howe",
        "Europe/Berlin",
        "UTC",
        "America/New_York",
        "America/St_Johns",
        "Pacific/Pago_Pago",
    )
)
INSTANTS = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


@given(ZONES, INSTANTS)
def test_an_instant_lies_in_exactly_its_local_day(zone: str, moment: datetime) -> None:
    day = moment.astimezone(ZoneInfo(zone)).date()
    assert localtime.days(day, day, zone).overlaps(moment, moment)
    assert not localtime.days(day + timedelta(days=1), day + timedelta(days=1), zone).overlaps(moment, moment)
    assert not localtime.days(day - timedelta(days=1), day - timedelta(days=1), zone).overlaps(moment, moment)
    assert localtime.today(moment, zone) == day


@given(ZONES, INSTANTS)
def test_a_moment_is_shown_at_its_wall_clock_time(zone: str, moment: datetime) -> None:
    local = moment.astimezone(ZoneInfo(zone))
    assert localtime.at(moment, zone) == f"{local:%a} {local.day} {local:%b} {local:%H:%M}"


@given(ZONES, INSTANTS)
def test_a_wall_clock_time_entered_means_that_time_in_the_zone(zone: str, moment: datetime) -> None:
    entered = moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None, fold=0)
    read = localtime.wall_clock(entered, zone)
    assert read.replace(tzinfo=None) == entered and read.utcoffset() == ZoneInfo(zone).utcoffset(entered)


def test_a_sunday_evening_in_new_york_belongs_to_that_week() -> None:
    sunday_evening = datetime(2026, 12, 6, 20, tzinfo=ZoneInfo("America/New_York"))  # Monday 01:00 UTC
    assert localtime.days(date(2026, 11, 30), date(2026, 12, 6), "America/New_York").overlaps(
        sunday_evening, sunday_evening + timedelta(hours=1)
    )
    assert not localtime.days(date(2026, 12, 7), date(2026, 12, 13), "America/New_York").overlaps(
        sunday_evening, sunday_evening + timedelta(hours=1)
    )


def test_all_day_items_read_all_day() -> None:
    assert localtime.span(date(2026, 12, 4), date(2026, 12, 5), "UTC") == "Fri 4 Dec, all day"
    assert localtime.span(date(2026, 12, 4), date(2026, 12, 7), "UTC") == "Fri 4 Dec – Sun 6 Dec, all day"


def test_timed_spans_in_the_zone() -> None:
    start = datetime(2026, 12, 4, 15, tzinfo=UTC)
    assert localtime.span(start, start + timedelta(hours=1), "America/New_York") == "Fri 4 Dec 10:00–11:00"
    assert localtime.span(start, start + timedelta(hours=12), "America/New_York") == "Fri 4 Dec 10:00–22:00"
    assert localtime.span(start, start + timedelta(hours=14), "America/New_York") == (
        "Fri 4 Dec 10:00 – Sat 5 Dec 00:00"
    )
    assert localtime.stamp(start, "Pacific/Kiritimati") == "Sat 5 Dec 2026 05:00:00"


@pytest.mark.parametrize(
    ("first", "last", "words"),
    [
        (date(2026, 1, 1), date(9999, 12, 31), "between 1900 and 2999"),
        (date(1, 1, 1), date(1, 1, 2), "between 1900 and 2999"),
        (date(2026, 1, 1), date(2027, 6, 1), "at most 366"),
        (date(2026, 2, 1), date(2026, 1, 1), "before the start"),
    ],
)
def test_ranges_no_calendar_needs_are_refused_with_a_sentence(first: date, last: date, words: str) -> None:
    with pytest.raises(InputError, match=words):
        localtime.days(first, last, "Pacific/Pago_Pago")


def test_a_time_near_the_end_of_the_calendar_is_refused() -> None:
    with pytest.raises(InputError, match="between 1900 and 2999"):
        localtime.wall_clock(datetime(9999, 12, 31, 23), "Pacific/Pago_Pago")
