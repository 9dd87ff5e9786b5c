"""The hostile-input suite: thousands of seeded bad calendars, each with a good event beside the bad
parts, read in-process by the .ics calendar (what ``items`` and ``get`` list) and by ``import``.

Inputs are mutations of the real .ics files that ship in the icalendar and recurring-ical-events test
folders, plus hypothesis-built recurrence rules. Every input must read without a traceback, in under
10 s, with the good event listed. The generator is seeded: a failure names its seed and reproduces.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import icalendar
import pytest
import recurring_ical_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calferry.personal import icsfile
from calferry.personal.ics import IcsCalendar
from tests.unit.hostile_ical import CASES, GOOD, GOOD_UID, HEAD, TAIL, WINDOW, event

SEEDS = range(1, 1801)  # with the hypothesis rules below: over 2,000 inputs
BATCH = 150
LIMIT_SECONDS = 10.0
MAX_SOURCE_BYTES = 24_000  # the larger shipped files add time, not new shapes


def corpus() -> list[str]:
    """The body (between BEGIN:VCALENDAR and END:VCALENDAR) of every shipped test calendar."""
    folders = [
        Path(icalendar.__file__).parent / "tests",
        Path(recurring_ical_events.__file__).parent / "test",
    ]
    bodies = []
    for path in sorted(p for folder in folders for p in folder.rglob("*.ics")):
        data = path.read_bytes()
        if len(data) <= MAX_SOURCE_BYTES:
            bodies.append(_body(data.decode("utf-8", "replace")))
    return bodies


def _body(text: str) -> str:
    lines = text.replace("\r\n", "\n").split("\n")
    inside = [line for line in lines if line.strip().upper() not in ("BEGIN:VCALENDAR", "END:VCALENDAR")]
    return "\r\n".join(line for line in inside if line) + "\r\n"


HOSTILE_LINES = [
    "RRULE:FREQ=SECONDLY",
    "RRULE:FREQ=MINUTELY",
    "RRULE:FREQ=DAILY;INTERVAL=0",
    "RRULE:FREQ=MONTHLY;BYDAY=99MO",
    "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
    "RRULE:FREQ=YEARLY;BYWEEKNO=60",
    "RRULE:FREQ=HOURLY;COUNT=-4",
    "RRULE:FREQ=WEEKLY;UNTIL=garbage",
    "DTSTART:00010101T000000Z",
    "DTSTART:99991231T235959Z",
    "DTSTART;VALUE=DATE:99991231",
    "DTSTART;TZID=" + "Z" * 300 + ":20261209T100000",
    "DTSTART;TZID=Nowhere/Land:20261209T100000",
    "DTEND:20000101T000000Z",
    "DURATION:-P400000D",
    "X-CALFERRY-PSA-ID:" + "9" * 300,
    "X-CALFERRY-PSA-ID:9223372036854775808",
    "RDATE;VALUE=PERIOD:20261211T100000Z/20261210T100000Z",
    "EXDATE:notadate",
    "RECURRENCE-ID:20261209T100000Z",
    "UID:",
    "SUMMARY;LANGUAGE=" + "x" * 2000 + ":long",
    "BEGIN:VALARM",
    "END:VALARM",
    "END:VEVENT",
    "END:VTIMEZONE",
    "BEGIN:VTIMEZONE",
    "BEGIN:VEVENT",
    "TZID:Europe/Berlin",
    "garbage without a colon",
    "",
]


def _insert(rng: random.Random, lines: list[str]) -> None:
    lines.insert(rng.randrange(len(lines) + 1), rng.choice(HOSTILE_LINES))


def _delete(rng: random.Random, lines: list[str]) -> None:
    if lines:
        del lines[rng.randrange(len(lines))]


def _duplicate(rng: random.Random, lines: list[str]) -> None:
    if lines:
        at = rng.randrange(len(lines))
        lines.insert(at, lines[at])


def _swap(rng: random.Random, lines: list[str]) -> None:
    if len(lines) > 1:
        a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[a], lines[b] = lines[b], lines[a]


def _scramble_value(rng: random.Random, lines: list[str]) -> None:
    if lines:
        at = rng.randrange(len(lines))
        name, _, _ = lines[at].partition(":")
        noise = "".join(rng.choice("0123456789TZ-:;,=+/PWDHMS\\") for _ in range(rng.randrange(1, 40)))
        lines[at] = f"{name}:{noise}"


def _cut_line(rng: random.Random, lines: list[str]) -> None:
    if lines:
        at = rng.randrange(len(lines))
        lines[at] = lines[at][: rng.randrange(len(lines[at]) + 1)]


def _case_blocks(rng: random.Random, lines: list[str]) -> None:
    case = CASES[rng.choice(sorted(CASES))]
    lines[rng.randrange(len(lines) + 1) : 0] = "".join(case.blocks).splitlines()


MUTATIONS: list[Callable[[random.Random, list[str]], None]] = [
    _insert, _insert, _insert, _delete, _duplicate, _swap, _scramble_value, _cut_line, _case_blocks,
]  # fmt: skip


def hostile_input(seed: int, bodies: list[str]) -> bytes:
    """One seeded input: a mutated shipped calendar, the good event last, sometimes re-encoded."""
    rng = random.Random(seed)
    lines = rng.choice(bodies).splitlines()
    for _ in range(rng.randint(1, 4)):
        rng.choice(MUTATIONS)(rng, lines)
    text = HEAD + "".join(f"{line}\r\n" for line in lines) + GOOD + TAIL
    shape = rng.randrange(8)
    if shape == 0:
        return b"\xef\xbb\xbf\r\n\r\n" + text.encode()
    if shape == 1:
        return text.replace("\r\n", "\r").encode()
    if shape == 2:
        return text.encode("latin-1", "replace")
    return text.encode()


def check(data: bytes, folder: Path, label: str) -> None:
    """Listing and importing ``data`` lists the good event, raises nothing and takes under 10 s."""
    source, target = folder / f"{label}.ics", folder / f"{label}-imported.ics"
    source.write_bytes(data)
    started = time.monotonic()
    listed = IcsCalendar(source).snapshot(WINDOW)
    parsed = icsfile.read(data, str(source))
    _, unwritable = IcsCalendar(target).add_resources(parsed.resources.values())
    assert GOOD_UID not in {p.uid for p in unwritable}
    imported = IcsCalendar(target).snapshot(WINDOW)
    took = time.monotonic() - started
    assert took < LIMIT_SECONDS, f"{label} took {took:.1f} s"
    assert GOOD_UID in {i.uid for i in listed.items}, (label, [str(p) for p in listed.problems])
    assert GOOD_UID in {i.uid for i in imported.items}, (label, [str(p) for p in parsed.all_problems()])


def test_mutated_shipped_calendars_cost_only_their_bad_parts(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    bodies = corpus()
    assert len(bodies) > 150  # both packages' folders were found
    folder = tmp_path_factory.mktemp("hostile")
    for seed in SEEDS:
        check(hostile_input(seed, bodies), folder, f"seed-{seed}")
        if seed % BATCH == 0:
            for leftover in folder.iterdir():
                leftover.unlink()


PARTS = {
    "FREQ": st.sampled_from(
        ["SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY", "NEVER"]
    ),
    "INTERVAL": st.integers(-2, 400),
    "COUNT": st.integers(-1, 10**6),
    "BYMONTH": st.lists(st.integers(-1, 14), min_size=1, max_size=3),
    "BYMONTHDAY": st.lists(st.integers(-33, 33), min_size=1, max_size=4),
    "BYDAY": st.lists(st.sampled_from(["MO", "1TU", "-1FR", "5SA", "53SU", "99MO", "0WE", "XX"]), min_size=1),
    "BYHOUR": st.lists(st.integers(0, 25), min_size=1, max_size=24),
    "BYSETPOS": st.lists(st.integers(-400, 400), min_size=1, max_size=2),
    "BYWEEKNO": st.lists(st.integers(-54, 54), min_size=1, max_size=2),
}


@st.composite
def rules(draw: st.DrawFn) -> str:
    chosen = draw(st.lists(st.sampled_from([p for p in PARTS if p != "FREQ"]), unique=True, max_size=4))
    values = {"FREQ": draw(PARTS["FREQ"]), **{part: draw(PARTS[part]) for part in chosen}}
    text = ";".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in values.items())
    return f"RRULE:{text}"


@settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(rule=rules(), year=st.integers(1, 9999))
def test_any_recurrence_rule_costs_only_its_event(
    rule: str, year: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("rules")
    start = f"DTSTART:{year:04d}1209T100000Z"
    check((HEAD + event(rule, start=start) + GOOD + TAIL).encode(), folder, "rule")
