"""Hostile calendars: one bad component costs that component, named by file, line, UID and reason;
recurrence expansion stays bounded whatever a rule says."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from calferry.contracts import Problem, PsaSnapshot
from calferry.errors import MalformedCalendar, SideLooksEmpty
from calferry.model import ItemKey, Link, Origin, PsaAppointment, PsaKind, PsaRef, Stamp
from calferry.personal import bounds
from calferry.personal.ics import IcsCalendar
from calferry.plan import GetOptions, plan_get
from tests.unit.hostile_ical import CASES, GOOD_UID, WINDOW, Case, calendar, event


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hostile.ics"
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_bad_component_is_named_and_costs_only_itself(name: str, tmp_path: Path) -> None:
    case: Case = CASES[name]
    path = written(tmp_path, calendar(*case.blocks))
    started = time.monotonic()
    snapshot = IcsCalendar(path).snapshot(WINDOW)
    assert time.monotonic() - started < 5
    assert GOOD_UID in {i.uid for i in snapshot.items}
    [problem] = [p for p in snapshot.problems if case.reason in p.reason]
    assert (problem.where, problem.line, problem.uid) == (str(path), case.line, case.uid)
    assert str(problem).startswith(f"{path}: line {case.line}: ")


@pytest.mark.parametrize("name", ["stray END line", "broken unused VTIMEZONE", "secondly", "two DTSTARTs"])
def test_a_write_beside_a_bad_component_leaves_it_byte_for_byte(name: str, tmp_path: Path) -> None:
    path = written(tmp_path, calendar(*CASES[name].blocks))
    calendar_ = IcsCalendar(path)
    [good] = [i for i in calendar_.snapshot(WINDOW).items if i.uid == GOOD_UID]
    calendar_.update(replace(good, subject="Good (moved)"))
    text = path.read_bytes().decode("utf-8")
    assert all(block in text for block in CASES[name].blocks) and "SUMMARY:Good (moved)" in text


def test_a_series_lists_at_most_its_cap_in_a_window_and_says_so(tmp_path: Path) -> None:
    path = written(tmp_path, calendar(event("RRULE:FREQ=HOURLY", start="DTSTART:20261101T000000Z")))
    snapshot = IcsCalendar(path).snapshot(WINDOW)
    assert sum(1 for i in snapshot.items if i.uid == "bad-1") == bounds.MAX_PER_SERIES
    [problem] = snapshot.problems
    assert problem.uid == "bad-1" and f"only the first {bounds.MAX_PER_SERIES:,}" in problem.reason


def test_a_long_daily_series_is_within_the_budget(tmp_path: Path) -> None:
    text = calendar(event("RRULE:FREQ=DAILY", start="DTSTART:19700101T100000Z"))
    snapshot = IcsCalendar(written(tmp_path, text)).snapshot(WINDOW)
    assert snapshot.problems == () and sum(1 for i in snapshot.items if i.uid == "bad-1") == 92


def test_extreme_dates_and_a_stamp_id_beyond_64_bits_read_without_harm(tmp_path: Path) -> None:
    text = calendar(
        event(uid="year-1", start="DTSTART;VALUE=DATE:00010101"),
        event(uid="year-9999", start="DTSTART;VALUE=DATE:99991231"),
        event("X-CALFERRY-PSA-ID:" + "9" * 4300, uid="huge-stamp"),
        event("X-CALFERRY-PSA-ID:9223372036854775808", uid="stamp-2-63"),
    )
    snapshot = IcsCalendar(written(tmp_path, text)).snapshot(WINDOW)
    [problem] = snapshot.problems  # the last day of 9999 ends in the year 10000: it costs itself
    assert (problem.uid, problem.line) == ("year-9999", 10) and "out of range" in problem.reason
    assert {i.uid: i.stamp for i in snapshot.items} == {
        "huge-stamp": None,
        "stamp-2-63": None,
        GOOD_UID: None,
    }
    with pytest.raises(MalformedCalendar, match="after the year 9999"):
        IcsCalendar(tmp_path / "hostile.ics").get(ItemKey("year-9999"))
    assert IcsCalendar(tmp_path / "hostile.ics").get(ItemKey("year-1")).start == date(1, 1, 1)


def test_problems_have_a_line_for_people_and_fields_for_scripts() -> None:
    problem = Problem("cannot be parsed: x", "/tmp/a.ics", 12, "u-1")
    assert str(problem) == "/tmp/a.ics: line 12: event u-1: cannot be parsed: x"
    assert problem.to_json() == {
        "where": "/tmp/a.ics",
        "line": 12,
        "uid": "u-1",
        "reason": "cannot be parsed: x",
        "skipped": True,
    }
    assert str(Problem("no END:VCALENDAR", "https://dav/x.ics")) == "https://dav/x.ics: no END:VCALENDAR"
    assert str(Problem("bad \x1b[2J value", uid="u\x07")) == "event u?: bad ?[2J value"


def test_get_guard_on_an_unreadable_calendar_names_the_cause_not_force_delete() -> None:
    ref = PsaRef(PsaKind.APPOINTMENT, 7)
    start = datetime(2026, 12, 10, 10, tzinfo=UTC)
    link = Link(ItemKey("u-1"), ref, Origin.SENT)
    psa = PsaSnapshot(items=(PsaAppointment(7, "Visit", start, start.replace(hour=11), 1),))
    with pytest.raises(SideLooksEmpty) as refused:
        plan_get([], psa, [link], WINDOW, GetOptions(unreadable=2), start)
    assert "2 item(s) calferry cannot read" in str(refused.value)
    assert "force" not in str(refused.value)
    with pytest.raises(SideLooksEmpty, match="allowing deletions"):
        plan_get([], psa, [link], WINDOW, GetOptions(), start)


def test_a_stamp_keeps_its_value_when_in_range(tmp_path: Path) -> None:
    text = calendar(
        event("X-CALFERRY-PSA-ID:9223372036854775807", "X-CALFERRY-PSA-KIND:appointment", uid="max")
    )
    [item] = [i for i in IcsCalendar(written(tmp_path, text)).snapshot(WINDOW).items if i.uid == "max"]
    assert item.stamp == Stamp(PsaKind.APPOINTMENT, 2**63 - 1, Origin.SENT)


@pytest.mark.parametrize(
    ("shape", "encode"),
    [
        ("byte order mark", lambda text: b"\xef\xbb\xbf" + text.encode()),
        ("leading blank lines", lambda text: b"\r\n\r\n  \r\n" + text.encode()),
        ("CR-only line ends", lambda text: text.replace("\r\n", "\r").encode()),
        ("LF-only line ends", lambda text: text.replace("\r\n", "\n").encode()),
    ],
)
def test_sloppy_files_are_read_and_written_back_in_their_own_shape(
    shape: str, encode: Callable[[str], bytes], tmp_path: Path
) -> None:
    original = encode(calendar(event(uid="other")))
    path = tmp_path / "sloppy.ics"
    path.write_bytes(original)
    calendar_ = IcsCalendar(path)
    snapshot = calendar_.snapshot(WINDOW)
    assert snapshot.problems == () and {i.uid for i in snapshot.items} == {"other", GOOD_UID}
    [good] = [i for i in snapshot.items if i.uid == GOOD_UID]
    calendar_.update(replace(good, subject="Moved"))
    after = path.read_bytes()
    before_good = original[: original.index(b"BEGIN:VEVENT", original.index(b"UID:other"))]
    assert after.startswith(before_good)  # byte order mark, blank lines and the other event untouched
    newline = b"\r\n" if b"\r\n" in original else b"\r" if b"\n" not in original else b"\n"
    assert b"SUMMARY:Moved" + newline in after and after.endswith(b"END:VCALENDAR" + newline)
    assert after.count(b"\n") == (0 if newline == b"\r" else after.count(newline))


def test_a_latin1_file_is_read_with_a_note_and_its_accents_survive(tmp_path: Path) -> None:
    path = tmp_path / "latin1.ics"
    path.write_bytes(
        calendar(event(uid="cafe", start="DTSTART:20261209T100000Z").replace("Bad", "Café")).encode("latin-1")
    )
    snapshot = IcsCalendar(path).snapshot(WINDOW)
    assert {i.uid: i.subject for i in snapshot.items}["cafe"] == "Café"
    [note] = snapshot.problems
    assert note.skipped is False and "Latin-1" in note.reason and note.where == str(path)


def test_a_missing_end_vevent_costs_that_event_only(tmp_path: Path) -> None:
    unfinished = event(uid="open").replace("END:VEVENT\r\n", "")
    snapshot = IcsCalendar(written(tmp_path, calendar(unfinished))).snapshot(WINDOW)
    assert [i.uid for i in snapshot.items] == [GOOD_UID]
    [problem] = snapshot.problems
    assert problem.line == 4 and "never ends" in problem.reason


def test_text_after_the_calendar_and_a_missing_end_are_reported(tmp_path: Path) -> None:
    after = written(tmp_path, calendar() + "BEGIN:VCALENDAR\r\n")
    assert ["after END:VCALENDAR" in p.reason for p in IcsCalendar(after).snapshot(WINDOW).problems] == [True]
    open_ended = written(tmp_path, calendar().removesuffix("END:VCALENDAR\r\n"))
    snapshot = IcsCalendar(open_ended).snapshot(WINDOW)
    assert [i.uid for i in snapshot.items] == [GOOD_UID]
    assert [p.reason for p in snapshot.problems] == ["the file has no END:VCALENDAR line"]
