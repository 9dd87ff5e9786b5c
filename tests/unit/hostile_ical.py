"""Hostile calendar text: each case from the reliability probe, beside a good event that must survive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from calferry.model import Window

WINDOW = Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC))
GOOD_UID = "good-1"
GOOD = (
    "BEGIN:VEVENT\r\nUID:good-1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20261210T100000Z\r\n"
    "DTEND:20261210T110000Z\r\nSUMMARY:Good\r\nEND:VEVENT\r\n"
)
HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//hostile//EN\r\n"
TAIL = "END:VCALENDAR\r\n"


def event(*lines: str, uid: str = "bad-1", start: str = "DTSTART:20261209T100000Z") -> str:
    body = "".join(f"{line}\r\n" for line in (f"UID:{uid}", "DTSTAMP:20260101T000000Z", start, *lines))
    return f"BEGIN:VEVENT\r\n{body}SUMMARY:Bad\r\nEND:VEVENT\r\n"


def zone(tzid: str | None, offset: str = "+0100") -> str:
    named = f"TZID:{tzid}\r\n" if tzid is not None else ""
    return (
        f"BEGIN:VTIMEZONE\r\n{named}BEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
        f"TZOFFSETFROM:{offset}\r\nTZOFFSETTO:{offset}\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
    )


def calendar(*blocks: str) -> str:
    """A VCALENDAR with ``blocks`` first (from line 4) and the good event last."""
    return HEAD + "".join(blocks) + GOOD + TAIL


@dataclass(frozen=True)
class Case:
    """Blocks that must cost only themselves: the problem's line, UID and a word of its reason."""

    blocks: tuple[str, ...]
    reason: str
    line: int | None = 4
    uid: str | None = "bad-1"


_DATES = ",".join(
    f"2026{m:02d}{d:02d}T{h:02d}0000Z" for m in range(1, 13) for d in range(1, 29) for h in (8, 9, 10, 11)
)
CASES = {
    "secondly": Case((event("RRULE:FREQ=SECONDLY"),), "every second"),
    "minutely": Case((event("RRULE:FREQ=MINUTELY;INTERVAL=5"),), "every minute"),
    "interval 0": Case((event("RRULE:FREQ=DAILY;INTERVAL=0"),), "INTERVAL=0"),
    "BYDAY=99MO": Case((event("RRULE:FREQ=MONTHLY;BYDAY=99MO"),), "BYDAY=99MO"),
    "BYMONTHDAY=0": Case((event("RRULE:FREQ=MONTHLY;BYMONTHDAY=0"),), "BYMONTHDAY=0"),
    "two DTSTARTs": Case((event("DTSTART:20261209T120000Z"),), "DTSTART appears more than once"),
    "TZID over 255 characters": Case(
        (event(start="DTSTART;TZID=" + "A" * 300 + ":20261209T100000"),),
        "(TZID) cannot be looked up: File name too long",
    ),
    "RDATE period ending before it starts": Case(
        (event("RDATE;VALUE=PERIOD:20261211T100000Z/20261210T100000Z"),), "RDATE period ends before it starts"
    ),
    "1,344 RDATEs": Case((event(f"RDATE:{_DATES}"),), "1,344 RDATE dates"),
    "a rule that never matches": Case(
        (event("RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"),), "walks more than"
    ),
    "hourly since year 1": Case(
        (event("RRULE:FREQ=HOURLY", start="DTSTART:00010101T000000Z"),), "walks more than"
    ),
    "a time only start": Case((event(start="DTSTART;VALUE=TIME:100000"),), "DTSTART"),
    "stray END line": Case(("END:VEVENT\r\n",), "stray 'END:VEVENT'", uid=None),
    "VTIMEZONE without TZID": Case((zone(None),), "time zone without TZID", uid=None),
    "broken unused VTIMEZONE": Case((zone("Broken/Zone", "nonsense"),), "time zone cannot be read", uid=None),
    "duplicated TZID": Case(
        (
            zone("Europe/Berlin"),
            zone("Europe/Berlin", "+0200"),
            event(start="DTSTART;TZID=Europe/Berlin:20261209T100000"),
        ),
        "second definition of time zone Europe/Berlin",
        line=12,
        uid=None,
    ),
    "unparseable value": Case((event("DTEND:tomorrow"),), "DTEND"),
}
