"""Times as the technician reads and enters them: in their own zone (the PSA resource's), said once.

Every page and every human CLI table goes through here, so a visit entered for 10:00 shows as 10:00
everywhere, weeks and days are cut at the technician's midnight, and all-day items read "all day".
Pure: the zone and, where needed, the instant "now" are arguments.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calferry.errors import InputError
from calferry.model import When, Window

FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2999, 12, 31)
"""Dates a person may ask for: wide enough for any real calendar, far from ``datetime``'s limits."""

MAX_SPAN_DAYS = 366
"""The most days one listing covers: a year at a time."""


def zone_info(name: str) -> ZoneInfo:
    """The zone called ``name``; an unknown name is UTC (and the pages say which zone they use)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def today(now: datetime, zone: str) -> date:
    """The technician's date at the instant ``now``."""
    return now.astimezone(zone_info(zone)).date()


def week_of(day: date) -> tuple[date, date]:
    """Monday to Sunday of the week holding ``day``."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def days(first: date, last: date, zone: str) -> Window:
    """Whole days ``first`` to ``last`` inclusive, cut at the technician's midnights.

    A Sunday 20:00 New York item belongs to that Sunday, not to the Monday it is in UTC.
    """
    check_days(first, last)
    tz = zone_info(zone)
    start = datetime.combine(first, time(), tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), tz).astimezone(UTC)
    return Window(start, end)


def check_days(first: date, last: date) -> None:
    """Refuse a range no calendar needs, with a sentence (instead of an overflow deep inside)."""
    for day in (first, last):
        if not FIRST_DAY <= day <= LAST_DAY:
            raise InputError(f"{day.isoformat()} is out of range: choose a date between 1900 and 2999")
    if last < first:
        raise InputError("the end date is before the start date")
    if (last - first).days >= MAX_SPAN_DAYS:
        raise InputError(f"that is {(last - first).days + 1} days: show at most {MAX_SPAN_DAYS} at a time")


def wall_clock(value: datetime, zone: str) -> datetime:
    """A time as entered: without an offset it is the technician's wall-clock time in ``zone``."""
    if not FIRST_DAY <= value.date() <= LAST_DAY:
        raise InputError(f"{value.date().isoformat()} is out of range: choose a date between 1900 and 2999")
    return value if value.tzinfo else value.replace(tzinfo=zone_info(zone))


def _day(value: date) -> str:
    return f"{value:%a} {value.day} {value:%b}"


def _local(value: datetime, zone: str) -> datetime:
    return value.astimezone(zone_info(zone))


def at(value: When | None, zone: str) -> str:
    """One moment: ``Fri 4 Dec 10:00``; a date (all-day) as ``Fri 4 Dec``."""
    if value is None:
        return ""
    if not isinstance(value, datetime):
        return _day(value)
    local = _local(value, zone)
    return f"{_day(local)} {local:%H:%M}"


def span(start: When | None, end: When | None, zone: str) -> str:
    """From start to end as people say it.

    ``Fri 4 Dec 10:00–11:00``; across midnight ``Fri 4 Dec 22:00 – Sat 5 Dec 01:00``; all-day
    ``Fri 4 Dec, all day`` or ``Fri 4 Dec – Sun 6 Dec, all day`` (iCalendar's end date is exclusive).
    """
    if start is None:
        return ""
    if not isinstance(start, datetime):
        last = end - timedelta(days=1) if isinstance(end, date) and not isinstance(end, datetime) else start
        if last <= start:
            return f"{_day(start)}, all day"
        return f"{_day(start)} – {_day(last)}, all day"
    if not isinstance(end, datetime):
        return at(start, zone)
    first, last = _local(start, zone), _local(end, zone)
    if first.date() == last.date():
        return f"{_day(first)} {first:%H:%M}–{last:%H:%M}"
    return f"{at(first, zone)} – {at(last, zone)}"


def stamp(value: datetime, zone: str) -> str:
    """An audit moment, to the second and with the year: ``Fri 4 Dec 2026 10:00:05``."""
    local = _local(value, zone)
    return f"{_day(local)} {local:%Y %H:%M:%S}"
