"""List, create and update rates of the personal-calendar adapters: memory, CalDAV (Radicale) and .ics.

For each adapter:

- *create*: ``--creates`` items made one by one through the adapter into an empty calendar, with the
  rate per quarter (the rate falls as the calendar grows: for CalDAV Radicale's own check of a new UID
  reads the whole collection; the .ics adapter reads, parses and rewrites the whole file on every write);
- *list*: a calendar of ``--n`` items (seeded in bulk: one whole-collection PUT for Radicale, one file
  write for .ics), listed twice (the first CalDAV listing also warms Radicale's caches);
- *update*: ``--updates`` items of that listing rewritten with their version (If-Match for CalDAV);
- *changes*: ``--edits`` items edited after a listing, then one ``changes`` call with its token;
- *create at n*: ``--creates-at-n`` more items created into that full calendar.

Radicale runs as a child process on loopback (:class:`RadicaleServer`, ``auth = none``).

    .venv/bin/python bench/personal_adapters.py [--n 1000] [--creates 200] [--creates-at-n 20]
                                                [--updates 50] [--edits 10]
                                                [--adapters memory,caldav,ics]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from calferry.model import PersonalItem, Window
from calferry.personal import ical
from calferry.personal.base import PersonalCalendar
from calferry.personal.caldav import CalDavCalendar
from calferry.personal.ics import IcsCalendar
from calferry.personal.memory import MemoryCalendar
from calferry.personal.radicale import DEFAULT_USER, RadicaleServer, bulk_put

START = datetime(2031, 1, 1, 8, tzinfo=UTC)

Opener = Callable[[str, Sequence[PersonalItem]], PersonalCalendar]
"""Opens a calendar by name, seeded in bulk with the given items (none: empty)."""


def items(n: int, prefix: str) -> list[PersonalItem]:
    """N one-hour appointments, one every two hours from START."""
    return [
        PersonalItem(
            uid=f"{prefix}-{k:06d}",
            start=START + timedelta(hours=2 * k),
            end=START + timedelta(hours=2 * k + 1),
            subject=f"Visit {k}",
            location="Site A",
        )
        for k in range(n)
    ]


def window_for(n: int) -> Window:
    return Window(START - timedelta(days=1), START + timedelta(hours=2 * n, days=1))


# --- the measurements ------------------------------------------------------------------------


def bench_create(open_: Opener, count: int) -> None:
    calendar = open_("create", [])
    new = items(count, "new")
    quarter = max(1, count // 4)
    began = time.perf_counter()
    rates = [_create(calendar, new[start : start + quarter]) for start in range(0, count, quarter)]
    elapsed = time.perf_counter() - began
    print(f"  create {count:,} one by one into an empty calendar: {elapsed:.2f} s = "
          f"{_rate(count / elapsed)} items/s{_requests(calendar)}")  # fmt: skip
    print(f"    by quarter: {' / '.join(_rate(r) for r in rates)} items/s")
    calendar.close()


def _create(calendar: PersonalCalendar, chunk: Sequence[PersonalItem]) -> float:
    """Creates the items one by one; returns the rate in items per second."""
    t0 = time.perf_counter()
    for item in chunk:
        calendar.create(item)
    return len(chunk) / (time.perf_counter() - t0)


def bench_full(open_: Opener, args: argparse.Namespace) -> None:
    n = args.n
    t0 = time.perf_counter()
    calendar = open_("list", items(n, "seed"))
    print(f"  seed {n:,} in bulk: {time.perf_counter() - t0:.2f} s")
    window = window_for(n)
    for label in ("first", "again"):
        t0 = time.perf_counter()
        snapshot = calendar.snapshot(window)
        elapsed = time.perf_counter() - t0
        print(f"  list ({label}): {len(snapshot.items):,} items in {elapsed:.2f} s = "
              f"{_rate(len(snapshot.items) / elapsed)} items/s")  # fmt: skip
    _update(calendar, list(snapshot.items[: args.updates]))
    _changes(calendar, window, args.edits)
    with _counted(calendar) as counted:
        rate = _create(calendar, items(args.creates_at_n, "late"))
    print(f"  create {args.creates_at_n} more at {n:,} items: {_rate(rate)} items/s{counted()}")
    calendar.close()


def _update(calendar: PersonalCalendar, listed: list[PersonalItem]) -> None:
    with _counted(calendar) as counted:
        t0 = time.perf_counter()
        for item in listed:
            calendar.update(replace(item, subject=item.subject + " (edited)"))
        elapsed = time.perf_counter() - t0
    print(f"  update {len(listed):,} (with version): {elapsed:.2f} s = {_rate(len(listed) / elapsed)} items/s"
          f"{counted()}")  # fmt: skip


def _changes(calendar: PersonalCalendar, window: Window, edits: int) -> None:
    snapshot = calendar.snapshot(window)
    step = max(1, len(snapshot.items) // edits)
    for item in snapshot.items[::step][:edits]:
        calendar.update(replace(item, location="Site B"))
    with _counted(calendar) as counted:
        t0 = time.perf_counter()
        found = calendar.changes(window, snapshot.token)
        elapsed = time.perf_counter() - t0
    kind = "full listing" if found.full else "delta"
    print(f"  changes after {edits} edits: {len(found.changed)} changed ({kind}) in "
          f"{elapsed * 1000:.0f} ms{counted()}")  # fmt: skip


def _rate(per_second: float) -> str:
    return f"{per_second:,.0f}" if per_second >= 10 else f"{per_second:.1f}"


def _requests(calendar: PersonalCalendar) -> str:
    return f", {calendar.requests:,} requests" if isinstance(calendar, CalDavCalendar) else ""


@contextmanager
def _counted(calendar: PersonalCalendar) -> Iterator[Callable[[], str]]:
    """Yields a function giving the HTTP requests sent inside the block (CalDAV only)."""
    before = calendar.requests if isinstance(calendar, CalDavCalendar) else 0
    text = ""
    yield lambda: text
    if isinstance(calendar, CalDavCalendar):
        text = f", {calendar.requests - before:,} requests"


# --- the adapters ----------------------------------------------------------------------------


def open_memory(name: str, seed: Sequence[PersonalItem]) -> PersonalCalendar:
    return MemoryCalendar(seed)


def ics_opener(folder: Path) -> Opener:
    def open_ics(name: str, seed: Sequence[PersonalItem]) -> PersonalCalendar:
        path = folder / f"{name}.ics"
        if seed:
            now = datetime.now(UTC)
            path.write_bytes(ical.calendar_text(ical.new_resource(i, now) for i in seed))
        return IcsCalendar(path)

    return open_ics


def caldav_opener(server: RadicaleServer) -> Opener:
    def open_caldav(name: str, seed: Sequence[PersonalItem]) -> PersonalCalendar:
        url = server.calendar_url(calendar=f"bench-{name}")
        if seed:
            now = datetime.now(UTC)
            bulk_put(url, ical.calendar_text(ical.new_resource(i, now) for i in seed))
        return CalDavCalendar(url, username=DEFAULT_USER)  # creates the calendar when it is missing

    return open_caldav


def run(label: str, open_: Opener, args: argparse.Namespace) -> None:
    print(f"\n{label}")
    bench_create(open_, args.creates)
    bench_full(open_, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="items in the listed calendar")
    parser.add_argument("--creates", type=int, default=200, help="items created one by one")
    parser.add_argument("--creates-at-n", type=int, default=20, help="items created into the full calendar")
    parser.add_argument("--updates", type=int, default=50, help="items updated one by one")
    parser.add_argument("--edits", type=int, default=10, help="edits before the changes call")
    parser.add_argument("--adapters", default="memory,caldav,ics")
    args = parser.parse_args()
    chosen = args.adapters.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        if "memory" in chosen:
            run("memory", open_memory, args)
        if "caldav" in chosen:
            server = RadicaleServer(Path(tmp) / "radicale").start(quiet=True)
            try:
                run(f"caldav (Radicale on {server.base_url})", caldav_opener(server), args)
            finally:
                server.stop()
        if "ics" in chosen:
            run(f".ics ({tmp})", ics_opener(Path(tmp)), args)


if __name__ == "__main__":
    main()
