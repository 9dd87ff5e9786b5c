"""The .ics adapter on Outlook-style exports: Windows zones, series, unknown properties, broken events."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calferry.errors import MalformedCalendar
from calferry.model import ItemKey, Origin, PersonalKind, PsaKind, ShowAs, Stamp, Window
from calferry.personal.ics import IcsCalendar

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ical"
BERLIN = ZoneInfo("Europe/Berlin")
WINDOW = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 30, tzinfo=UTC))
SERIES = "040000008200E00074C5B7101A82E00800000000A0B1C2D3E4F5A601000000000000000010000000AA11BB22CC33DD44EE55FF6677889900"


def copy_fixture(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copy(FIXTURES / name, target)
    return target


def test_outlook_windows_tzid_export_reads_every_kind(tmp_path: Path) -> None:
    items = IcsCalendar(copy_fixture(tmp_path, "outlook_windows_tzid.ics")).snapshot(WINDOW).items
    series = [i for i in items if i.uid == SERIES]
    assert [i.start for i in series] == [
        datetime(2026, 3, d, 9, tzinfo=BERLIN) for d in (2, 9)
    ] + [datetime(2026, 3, 24, 11, tzinfo=BERLIN), datetime(2026, 3, 30, 9, tzinfo=BERLIN), datetime(2026, 4, 6, 9, tzinfo=BERLIN), datetime(2026, 4, 13, 9, tzinfo=BERLIN)]  # fmt: skip
    assert series[2].recurrence_id == datetime(2026, 3, 23, 9, tzinfo=BERLIN)
    assert series[0].reminder_minutes == 15
    by_subject = {i.subject: i for i in items}
    assert by_subject["Arzttermin"].private and by_subject["Arzttermin"].show_as is ShowAs.OUT_OF_OFFICE
    assert (by_subject["Betriebsausflug"].start, by_subject["Betriebsausflug"].end) == (
        date(2026, 3, 5),
        date(2026, 3, 6),
    )
    assert by_subject["Betriebsausflug"].show_as is ShowAs.FREE
    assert by_subject["Quartalsreview"].kind is PersonalKind.MEETING
    assert by_subject["Quartalsreview"].attendees == ("ann@example.com", "bo@example.com")


def test_stamp_on_outlook_occurrence_keeps_unknown_properties_and_other_items_verbatim(
    tmp_path: Path,
) -> None:
    path = copy_fixture(tmp_path, "outlook_windows_tzid.ics")
    before = path.read_bytes().decode("utf-8")
    calendar = IcsCalendar(path)
    key = ItemKey(SERIES, "20260309T080000Z")
    stamp = Stamp(PsaKind.APPOINTMENT, 99, Origin.SENT)
    calendar.set_stamp(key, stamp)
    after = path.read_bytes().decode("utf-8")
    assert "X-MS-OLK-APPTSEQTIME:20260201T101500Z" in after and "TRIGGER:-PT15M" in after
    assert "X-MICROSOFT-CDO-INSTTYPE:1" in after and "X-CALFERRY-PSA-ID:99" in after
    untouched = before[before.index("BEGIN:VEVENT\r\nCLASS:PRIVATE") :]
    assert untouched in after  # the other items' text is byte for byte the same
    assert calendar.get(key).stamp == stamp
    assert [i.stamp for i in calendar.snapshot(WINDOW).items if i.uid == SERIES].count(stamp) == 1


def test_unparseable_event_is_reported_kept_verbatim_and_refused(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path, "unparseable_event_kept_verbatim.ics")
    broken = "BEGIN:VEVENT\r\nDTSTAMP:20260201T101500Z\r\nDTSTART:not-a-date\r\nSUMMARY:Kaputt\r\nUID:broken-1\r\nX-KEEP-ME:exactly as written\r\nEND:VEVENT\r\n"
    calendar = IcsCalendar(path)
    snapshot = calendar.snapshot(WINDOW)
    assert (
        len(snapshot.problems) == 1
        and "broken-1" in str(snapshot.problems[0])
        and "DTSTART" in str(snapshot.problems[0])
    )
    assert len(snapshot.items) == 9
    private = next(i for i in snapshot.items if i.subject == "Arzttermin")
    calendar.update(replace(private, subject="Arzttermin (neu)"))
    assert broken in path.read_bytes().decode("utf-8")
    with pytest.raises(MalformedCalendar, match="broken-1"):
        calendar.set_stamp(ItemKey("broken-1"), Stamp(PsaKind.APPOINTMENT, 1, Origin.SENT))
    assert broken in path.read_bytes().decode("utf-8")


def test_file_that_is_not_icalendar_is_malformed_with_where(tmp_path: Path) -> None:
    path = tmp_path / "notes.ics"
    path.write_text("hello\r\n", encoding="utf-8")
    with pytest.raises(MalformedCalendar) as caught:
        IcsCalendar(path).snapshot(WINDOW)
    assert caught.value.where == str(path)


def test_missing_file_is_an_empty_calendar_created_on_first_write(tmp_path: Path) -> None:
    path = tmp_path / "new.ics"
    calendar = IcsCalendar(path)
    assert calendar.snapshot(WINDOW).items == ()
    from calferry.model import PersonalItem

    calendar.create(
        PersonalItem("n-1", datetime(2026, 3, 3, 9, tzinfo=BERLIN), datetime(2026, 3, 3, 10, tzinfo=BERLIN))
    )
    text = path.read_bytes().decode("utf-8")
    assert text.startswith("BEGIN:VCALENDAR\r\n") and "TZID:Europe/Berlin" in text
    assert [i.uid for i in IcsCalendar(path).snapshot(WINDOW).items] == ["n-1"]


def test_block_that_cannot_be_parsed_at_all_names_its_line_and_the_parser_error(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path, "outlook_windows_tzid.ics")
    lines = path.read_bytes().decode("utf-8").split("\r\n")
    at = lines.index("END:VCALENDAR")
    lines[at:at] = ["BEGIN:VEVENT", "UID:bad-alarm", "DTSTART:20260310T090000Z", "BEGIN:VALARM",
                    "TRIGGER;VALUE=DURATION:soon", "END:VALARM", "END:VEVENT"]  # fmt: skip
    path.write_bytes("\r\n".join(lines).encode("utf-8"))
    snapshot = IcsCalendar(path).snapshot(WINDOW)
    [problem] = snapshot.problems
    assert str(problem).startswith(f"{path}: line {at + 1}: event bad-alarm: cannot be parsed: ")
    assert (problem.where, problem.line, problem.uid) == (str(path), at + 1, "bad-alarm")
    assert "soon" in problem.reason  # icalendar's own words about the value it could not read
    assert len(snapshot.items) == 9
