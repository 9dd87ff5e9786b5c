"""One calendar's VTIMEZONE never decides another calendar's times in the same process (the web page and
the org service read many technicians' calendars in one process)."""

from __future__ import annotations

from datetime import UTC, datetime

from calferry.personal.ical import parsed

TZID = "Calferry Test Standard Time"  # a name no zone database knows, as Windows names are


def _calendar(offset: str, uid: str) -> str:
    return "\r\n".join(
        [
            "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN",
            "BEGIN:VTIMEZONE", f"TZID:{TZID}",
            "BEGIN:STANDARD", "DTSTART:16010101T000000", f"TZOFFSETFROM:{offset}", f"TZOFFSETTO:{offset}",
            "END:STANDARD", "END:VTIMEZONE",
            "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z",
            f"DTSTART;TZID={TZID}:20261207T100000", f"DTEND;TZID={TZID}:20261207T110000",
            "SUMMARY:Visit", "END:VEVENT", "END:VCALENDAR", "",
        ]
    )  # fmt: skip


def _start(text: str) -> datetime:
    event = parsed(text).walk("VEVENT")[0]
    start: datetime = event.decoded("DTSTART")
    return start.astimezone(UTC)


def test_each_calendar_reads_its_times_by_its_own_vtimezone() -> None:
    first = _start(_calendar("+0500", "a"))
    second = _start(_calendar("-0300", "b"))
    assert first == datetime(2026, 12, 7, 5, tzinfo=UTC)
    assert second == datetime(2026, 12, 7, 13, tzinfo=UTC)  # not the first calendar's +05:00
