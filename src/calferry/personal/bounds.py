"""Limits on recurrence expansion, so that no rule in a calendar can make a listing run for ever.

dateutil (under recurring-ical-events) walks a rule from its DTSTART one period at a time until it
passes the end of the window, and caches every occurrence it walked. A rule that matches nothing
(``FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30``) walks on to the year 9999, ``FREQ=SECONDLY`` from long ago
walks hundreds of millions of periods, and ``INTERVAL=0`` never moves on. Three guards keep time and
memory flat whatever a file says:

- ``refusal``: rules no calendar means (sub-minute frequencies, ``INTERVAL=0``, values out of range,
  more than ``MAX_DATES`` RDATEs) are refused before anything is expanded;
- ``budget``: every period and every occurrence dateutil walks while one series is expanded is
  counted, and a series that spends ``MAX_STEPS`` stops with ``MalformedCalendar``;
- a series lists at most ``MAX_PER_SERIES`` occurrences in one window (the caller warns).

dateutil has no hook for a budget, so this module wraps two of its internals once, at import: the
per-period day-set builders and the occurrence generator. Outside ``budget`` they count nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from dateutil import rrule as _dateutil
from icalendar import Component

from calferry.errors import MalformedCalendar

MAX_STEPS = 100_000
"""Periods plus occurrences dateutil may walk for one series (a daily series since 1970 takes ~40,000)."""
MAX_PER_SERIES = 1_000
"""Occurrences one series may list in one window; the rest are left out, with a warning."""
MAX_DATES = 1_000
"""RDATE values one series may carry."""

_REFUSED_FREQUENCIES = {"SECONDLY": "every second", "MINUTELY": "every minute"}
_KNOWN_FREQUENCIES = {"HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY", *_REFUSED_FREQUENCIES}
_RANGES = {  # RFC 5545 3.3.10: the values each part may take (negative counts from the end)
    "BYSECOND": (0, 60, False),
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False),
    "BYSETPOS": (1, 366, True),
}
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


class _Budget:
    def __init__(self, steps: int) -> None:
        self.left = steps


_CURRENT: ContextVar[_Budget | None] = ContextVar("calferry_rrule_budget", default=None)


def _spend() -> None:
    budget = _CURRENT.get()
    if budget is None:
        return
    budget.left -= 1
    if budget.left < 0:
        raise MalformedCalendar(
            f"its rule walks more than {MAX_STEPS:,} dates before it reaches the end of the window"
        )


@contextmanager
def budget(steps: int = MAX_STEPS) -> Iterator[None]:
    """Count dateutil's steps inside this block; ``MalformedCalendar`` once more than ``steps`` are taken."""
    token = _CURRENT.set(_Budget(steps))
    try:
        yield
    finally:
        _CURRENT.reset(token)


_module: Any = _dateutil


class _CountingIterinfo(_module._iterinfo):  # type: ignore[misc]
    """dateutil's per-period helper: each day set it builds is one period walked."""

    def ydayset(self, *args: Any) -> Any:
        _spend()
        return super().ydayset(*args)

    def mdayset(self, *args: Any) -> Any:
        _spend()
        return super().mdayset(*args)

    def wdayset(self, *args: Any) -> Any:
        _spend()
        return super().wdayset(*args)

    def ddayset(self, *args: Any) -> Any:
        _spend()
        return super().ddayset(*args)


_plain_iter = _module.rrule._iter


def _counted_iter(self: Any) -> Iterator[Any]:
    for value in _plain_iter(self):
        _spend()
        yield value


def _install() -> None:
    if _module._iterinfo is not _CountingIterinfo:
        _module._iterinfo = _CountingIterinfo
        _module.rrule._iter = _counted_iter


_install()


# --- refusal ---------------------------------------------------------------------------------


def refusal(events: Sequence[Component]) -> str | None:
    """Why this series is not expanded at all (a rule no calendar means), or None when it may be."""
    dates: list[Any] = []
    for event in events:
        for rule in _as_list(event.get("RRULE")) + _as_list(event.get("EXRULE")):
            reason = rule_refusal(rule) if hasattr(rule, "get") else "its rule cannot be read"
            if reason is not None:
                return reason
        dates += [d.dt for prop in _as_list(event.get("RDATE")) for d in getattr(prop, "dts", ())]
    if any(_backwards(value) for value in dates):
        return "an RDATE period ends before it starts"
    if len(dates) > MAX_DATES:
        return f"it lists {len(dates):,} RDATE dates; calferry reads at most {MAX_DATES:,} per series"
    return None


def rule_refusal(rule: Any) -> str | None:
    """What is wrong with one parsed RRULE (an icalendar ``vRecur``), or None."""
    frequency = str(_first(rule, "FREQ", "")).upper()
    if frequency not in _KNOWN_FREQUENCIES:
        return f"its rule has no known FREQ ({frequency or 'none'})"
    if frequency in _REFUSED_FREQUENCIES:
        return (
            f"its rule repeats {_REFUSED_FREQUENCIES[frequency]} (FREQ={frequency}); no calendar means that"
        )
    interval = _first(rule, "INTERVAL", 1)
    if not isinstance(interval, int) or interval < 1:
        return f"its rule has INTERVAL={interval}, which never moves on"
    count = _first(rule, "COUNT", 1)
    if not isinstance(count, int) or count < 1:
        return f"its rule has COUNT={count}"
    for part, (low, high, signed) in _RANGES.items():
        for value in rule.get(part, ()):
            if not _in_range(value, low, high, signed):
                return f"its rule has {part}={value}, outside {'±' if signed else ''}{low}..{high}"
    for day in rule.get("BYDAY", ()):
        reason = _weekday_refusal(str(day), frequency)
        if reason is not None:
            return reason
    return None


def _weekday_refusal(day: str, frequency: str) -> str | None:
    """BYDAY values: a weekday with an optional ordinal, at most 53 in a year and 5 in a month."""
    text = day.strip().upper()
    if text[-2:] not in _WEEKDAYS:
        return f"its rule has BYDAY={day}, not a weekday"
    ordinal = text[:-2].lstrip("+")
    if not ordinal:
        return None
    limit = 5 if frequency == "MONTHLY" else 53
    try:
        number = int(ordinal)
    except ValueError:
        return f"its rule has BYDAY={day}, not a weekday"
    if number == 0 or abs(number) > limit:
        return f"its rule has BYDAY={day}: the number must be 1 to {limit} (or -1 to -{limit})"
    return None


def _backwards(value: Any) -> bool:
    """An RDATE period (start, end or duration) whose end comes before its start."""
    if not isinstance(value, tuple) or len(value) != 2:
        return False
    start, end = value
    try:
        return bool(end < timedelta(0) if isinstance(end, timedelta) else end < start)
    except TypeError:
        return True  # a date-time compared with a date: no period means that


def _in_range(value: Any, low: int, high: int, signed: bool) -> bool:
    if not isinstance(value, int):
        return False
    return low <= value <= high or (signed and -high <= value <= -low)


def _first(rule: Any, part: str, default: Any) -> Any:
    values = rule.get(part) or [default]
    return values[0]


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
