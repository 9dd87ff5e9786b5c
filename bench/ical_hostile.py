"""Hostile-calendar figures: ``calferry import`` at growing sizes, and listing runaway series.

*import*: an .ics file of N one-hour events (each with an alarm, a category and an X- property) goes
through the real ``calferry import FILE --json`` (in-process, Typer's runner) into an empty .ics calendar
(``--sizes``; the imported calendar is then listed once), and into Radicale on loopback (``--caldav-sizes``; 0 sizes to skip). Linear means the time
per event stays flat as N grows.

*hostile expansion*: an .ics file with ``--series`` runaway series of each kind (``FREQ=SECONDLY``,
``INTERVAL=0``, a rule that never matches, hourly since the year 1, hourly inside the window, 1,200
RDATEs) beside one good event, listed by the .ics calendar; the time, the peak of Python memory
(tracemalloc, in a second listing) and the problems reported.

    .venv/bin/python bench/ical_hostile.py [--sizes 1000,2000,10000] [--caldav-sizes 1000,2000]
                                           [--series 5]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from calferry import config
from calferry.cli import app
from calferry.model import Window
from calferry.personal.ics import IcsCalendar
from calferry.personal.radicale import RadicaleServer

START = datetime(2031, 1, 1, 8, tzinfo=UTC)
HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n"
TAIL = "END:VCALENDAR\r\n"


def events_file(n: int) -> str:
    blocks = []
    for k in range(n):
        start = START + timedelta(hours=2 * k)
        blocks.append(
            f"BEGIN:VEVENT\r\nUID:import-{k:06d}\r\nDTSTAMP:20260101T000000Z\r\n"
            f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{start + timedelta(hours=1):%Y%m%dT%H%M%SZ}\r\n"
            f"SUMMARY:Visit {k}\r\nCATEGORIES:Customer\r\nX-MS-OLK-CONFTYPE:0\r\n"
            "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n"
            "END:VEVENT\r\n"
        )
    return HEAD + "".join(blocks) + TAIL


def bench_import(folder: Path, n: int, backend: str, where: str) -> None:
    source = folder / f"import-{n}.ics"
    source.write_text(events_file(n), encoding="utf-8")
    config.set_value("personal.backend", backend)
    config.set_value("personal.path" if backend == "ics" else "personal.url", where)
    began = time.perf_counter()
    result = CliRunner().invoke(app, ["import", str(source), "--json"])
    elapsed = time.perf_counter() - began
    created = json.loads(result.stdout)["created"] if result.exit_code == 0 else result.output
    print(f"  {backend:6} {n:>7,} events: {elapsed:7.2f} s = {elapsed / n * 1000:6.2f} ms per event "
          f"(created {created})")  # fmt: skip
    if backend == "ics":
        window = Window(START - timedelta(days=1), START + timedelta(hours=2 * n, days=1))
        began = time.perf_counter()
        listed = IcsCalendar(where).snapshot(window)
        print(f"         then listed: {len(listed.items):,} items in {time.perf_counter() - began:.2f} s")


RUNAWAY = {
    "secondly": ("RRULE:FREQ=SECONDLY", "20261201T000000Z"),
    "interval 0": ("RRULE:FREQ=DAILY;INTERVAL=0", "20261201T000000Z"),
    "never matches": ("RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "20000101T000000Z"),
    "hourly since year 1": ("RRULE:FREQ=HOURLY", "00010101T000000Z"),
    "hourly in the window": ("RRULE:FREQ=HOURLY", "20261201T000000Z"),
    "1,200 RDATEs": (
        "RDATE:" + ",".join(f"2026{m:02d}{d:02d}T{h:02d}0000Z" for m in range(1, 13) for d in range(1, 26) for h in (8, 9, 10, 11)),
        "20261201T000000Z",
    ),
}  # fmt: skip


def hostile_file(per_kind: int) -> str:
    blocks = []
    for kind, (rule, start) in RUNAWAY.items():
        for k in range(per_kind):
            blocks.append(
                f"BEGIN:VEVENT\r\nUID:{kind.replace(' ', '-')}-{k}\r\nDTSTAMP:20260101T000000Z\r\n"
                f"DTSTART:{start}\r\n{rule}\r\nSUMMARY:{kind}\r\nEND:VEVENT\r\n"
            )
    good = (
        "BEGIN:VEVENT\r\nUID:good\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20261210T100000Z\r\n"
        "DTEND:20261210T110000Z\r\nSUMMARY:Good\r\nEND:VEVENT\r\n"
    )
    return HEAD + "".join(blocks) + good + TAIL


def bench_hostile(folder: Path, per_kind: int) -> None:
    path = folder / "hostile.ics"
    path.write_text(hostile_file(per_kind), encoding="utf-8")
    window = Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC))
    began = time.perf_counter()
    snapshot = IcsCalendar(path).snapshot(window)
    elapsed = time.perf_counter() - began
    tracemalloc.start()  # a second listing, for memory only: tracing slows Python down
    IcsCalendar(path).snapshot(window)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    series = per_kind * len(RUNAWAY)
    reasons = Counter(p.reason.split(";")[0].split(" (")[0][:60] for p in snapshot.problems)
    print(f"  {series} runaway series + 1 good event: {elapsed:.2f} s ({elapsed / series * 1000:.0f} ms per "
          f"series), peak Python memory {peak / 2**20:.1f} MiB, {len(snapshot.items):,} items listed, "
          f"good event listed: {'good' in {i.uid for i in snapshot.items}}")  # fmt: skip
    for reason, count in sorted(reasons.items()):
        print(f"    {count} x {reason}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,2000,10000")
    parser.add_argument("--caldav-sizes", default="1000,2000")
    parser.add_argument("--series", type=int, default=5, help="runaway series of each kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["CALFERRY_HOME"] = str(folder / "home")
        print("import (calferry import FILE --json):")
        for n in (int(s) for s in args.sizes.split(",") if s):
            bench_import(folder, n, "ics", str(folder / f"target-{n}.ics"))
        caldav_sizes = [int(s) for s in args.caldav_sizes.split(",") if s]
        if caldav_sizes:
            with RadicaleServer(folder / "radicale").start(quiet=True) as server:
                for n in caldav_sizes:
                    bench_import(folder, n, "caldav", server.calendar_url(calendar=f"import-{n}"))
        print("hostile expansion (IcsCalendar.list):")
        bench_hostile(folder, args.series)


if __name__ == "__main__":
    main()
