"""The org service at scale: N technicians, their items in the PSA, their calendars in Radicale, real workers.

Starts a private PostgreSQL (two databases: the PSA server's and the org's), the local Autotask-compatible
server on it in-process (real HTTP on loopback; its hourly limit lifted so that pacing does not hide the
count: the bench counts every request the server accepts), one Radicale with one calendar per technician
(on loopback without passwords; its log, one line per request, gives the personal-side count), and N
technicians, each a PSA resource holding ``--items`` items (a third each appointments, to-dos and service
calls, one a day from three days ago) and registered in the org.

For each worker count of ``--workers`` it starts that many real ``calferry org worker`` processes, then drives
the cycles itself instead of waiting for them: "a cycle passes" (the poll's and the technicians' times moved
back by the cycle, as if 5 minutes had gone by), then the cycle's ``tick`` job is deferred now, and the cycle
ends when the queue has nothing left to do. The very first cycle is the first full sync. Each further cycle
first makes random PSA edits, new appointments and deletions through the PSA's REST API, and measures:

- Autotask requests (the server's count) and personal-side requests (Radicale's log, per method);
- the time from each PSA change or deletion to the end of its technician's run in that cycle (that run wrote
  the calendar; the bench then checks the calendar has it). In real time a change also waits for the next
  poll: up to one cycle more;
- the cycle's time (scaling across worker counts) and each worker's peak RSS.

At the end every calendar is listed: duplicates are items of one PSA item more than once in a calendar, and
PSA items written more than once; stale counts calendars that differ from their technician's appointments.
Per-hour figures are per-cycle figures x 60 / cycle minutes (12 for the default 5-minute cycle).

    .venv/bin/python bench/org_scale.py --technicians 1000 --items 50 --cycles 6 --workers 1,2,4
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from procrastinate.exceptions import AlreadyEnqueued
from psa_bench_server import seed_items, serving
from sqlalchemy import Engine, func, select, text

from calferry import config
from calferry.model import PsaKind, Window
from calferry.org.cluster import PrivateCluster
from calferry.org.jobs import SYNC, TICK, make_app
from calferry.org.store import OrgStore, libpq_url
from calferry.personal.caldav import CalDavCalendar
from calferry.personal.radicale import DEFAULT_USER, RadicaleServer, ensure_calendar
from calferry.psa.server import DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME
from calferry.psa.server.app import create_app
from calferry.psa.server.models import TABLES
from calferry.psa.server.seed import _resource
from calferry.psa.server.state import Settings as ServerSettings

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = "bench.calferry.local"
HEADERS = {"ApiIntegrationCode": DEMO_INTEGRATION_CODE, "UserName": DEMO_USERNAME, "Secret": DEMO_SECRET}
EVERYTHING = Window(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
REQUEST_LINE = re.compile(rb"\b([A-Z]+) request for ")
MIB = 1024


@dataclass
class Change:
    """One PSA change the bench made: whose, which appointment, its new title (None: deleted), when."""

    technician: int
    calendar: str
    psa_id: int
    title: str | None
    at: datetime


@dataclass
class CycleFigures:
    workers: int
    seconds: float
    requests: int
    personal: Counter[str]
    change_s: list[float] = field(default_factory=list)
    delete_s: list[float] = field(default_factory=list)
    missed: int = 0


@dataclass
class Technician:
    id: int
    resource_id: int
    calendar: str
    appointments: list[int]


class Bench:
    """Every part, started once; ``cycle`` drives one cycle on whatever workers are running."""

    def __init__(self, stack: contextlib.ExitStack, tmp: Path, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        os.environ["CALFERRY_HOME"] = str(tmp / "home")
        os.environ["CALFERRY_PSA_SECRET"] = DEMO_SECRET
        cluster = stack.enter_context(PrivateCluster(tmp / "postgres", durable=False))
        self.org_url = cluster.create_database("org")
        app = create_app(ServerSettings(cluster.create_database("psa"), seed="demo", hourly_limit=10**9))
        self.psa = app.state.psa
        self.accepted = self._count_requests()
        stack.callback(self.psa.engine.dispose)
        self.psa_url = stack.enter_context(serving(app))
        self.log = tmp / "radicale.log"
        radicale = RadicaleServer(tmp / "radicale", log=self.log).start(quiet=True)
        stack.callback(radicale.stop)
        config.write_settings(
            {"psa.base_url": self.psa_url, "psa.username": DEMO_USERNAME, "psa.integration_code": DEMO_INTEGRATION_CODE}
        )  # fmt: skip
        self.store = OrgStore.open(self.org_url)
        stack.callback(self.store.close)
        self.cycle_minutes = self.store.settings().cycle_minutes
        self.http = stack.enter_context(httpx.Client(base_url=self.psa_url, headers=HEADERS, timeout=60))
        self.tmp = tmp
        t0 = time.perf_counter()
        self.technicians = self._technicians(radicale)
        print(f"setup: {len(self.technicians)} technicians, their items and calendars in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip

    # --- setup -------------------------------------------------------------------------------------

    def _count_requests(self) -> Counter[str]:
        """Every request the PSA server accepts, counted for the whole run (its own count is of the last
        hour only, and a big run lasts longer)."""
        admit, accepted = self.psa.hourly.admit, Counter[str]()

        def counted() -> None:
            admit()
            accepted["total"] += 1

        acquire = self.psa.threads.acquire

        def by_endpoint(code: str, endpoint: str) -> None:
            acquire(code, endpoint)
            accepted[f"endpoint {endpoint}"] += 1

        self.psa.hourly.admit = counted
        self.psa.threads.acquire = by_endpoint
        return accepted

    def _technicians(self, radicale: RadicaleServer) -> list[Technician]:
        engine: Engine = self.psa.engine
        n, items = self.args.technicians, self.args.items
        with engine.begin() as conn:
            rids = [_resource(conn, "Tech", f"{k:05d}", f"tech{k:05d}@{DOMAIN}", 1, 2) for k in range(n)]
        start = datetime.now(UTC).replace(tzinfo=None, hour=8, minute=0, second=0, microsecond=0) - timedelta(
            days=3
        )
        thirds = items // 3
        for rid in rids:
            seed_items(engine, rid, start, items - 2 * thirds, thirds, thirds)
        appointments = TABLES["Appointments"]
        owned: dict[int, list[int]] = {rid: [] for rid in rids}
        with engine.connect() as conn:
            for aid, rid in conn.execute(select(appointments.c.id, appointments.c.resourceID)):
                owned.get(rid, []).append(aid)
        techs = []
        for k, rid in enumerate(rids):
            url = radicale.calendar_url(calendar=f"tech{k:05d}")
            ensure_calendar(url)
            row = self.store.add_technician(
                rid, f"tech{k:05d}@{DOMAIN}", "caldav", url, username=DEFAULT_USER
            )
            techs.append(Technician(row.id, rid, url, owned[rid]))
        return techs

    # --- the PSA's changes -------------------------------------------------------------------------

    def changes(self, cycle: int) -> list[Change]:
        """Random edits and deletions of existing appointments and new ones, through the REST API."""
        a = self.args
        pairs = [(t, aid) for t in self.technicians for aid in t.appointments]
        picked = self.rng.sample(pairs, min(len(pairs), a.edits + a.deletes))
        made = [self._edit(t, aid, f"Edited {cycle}.{k}") for k, (t, aid) in enumerate(picked[: a.edits])]
        made += [self._delete(t, aid) for t, aid in picked[a.edits :]]
        made += [self._new(self.rng.choice(self.technicians), f"New {cycle}.{k}") for k in range(a.new)]
        return made

    def _edit(self, tech: Technician, aid: int, title: str) -> Change:
        self.http.patch("Appointments", json={"id": aid, "title": title}).raise_for_status()
        return Change(tech.id, tech.calendar, aid, title, datetime.now(UTC))

    def _delete(self, tech: Technician, aid: int) -> Change:
        self.http.delete(f"Appointments/{aid}").raise_for_status()
        tech.appointments.remove(aid)
        return Change(tech.id, tech.calendar, aid, None, datetime.now(UTC))

    def _new(self, tech: Technician, title: str) -> Change:
        day = datetime.now(UTC).replace(hour=15, minute=0, second=0, microsecond=0) + timedelta(
            days=self.rng.randint(1, 20)
        )
        body = {"resourceID": tech.resource_id, "title": title, "startDateTime": day.isoformat(),
                "endDateTime": (day + timedelta(minutes=45)).isoformat()}  # fmt: skip
        answer = self.http.post("Appointments", json=body)
        answer.raise_for_status()
        aid = int(answer.json()["itemId"])
        tech.appointments.append(aid)
        return Change(tech.id, tech.calendar, aid, title, datetime.now(UTC))

    # --- one cycle ---------------------------------------------------------------------------------

    def cycle(self, workers: int, changes: list[Change]) -> CycleFigures:
        self._a_cycle_passes()
        requests, log_at, since = self.accepted["total"], self.log.stat().st_size, self._db_now()
        t0 = time.perf_counter()
        app = make_app(libpq_url(self.store.engine))
        with app.open(), contextlib.suppress(AlreadyEnqueued):  # a waiting tick runs the same cycle
            app.configure_task(TICK).defer(timestamp=int(time.time()))
        self._drained()
        figures = CycleFigures(workers, time.perf_counter() - t0, self.accepted['total'] - requests,
                               self._personal_requests(log_at))  # fmt: skip
        self._latencies(figures, changes, self._finished(since))
        return figures

    def _a_cycle_passes(self) -> None:
        """As if one cycle's time had gone by: the poll is due, so is every technician's next run."""
        shift = {"shift": timedelta(minutes=self.cycle_minutes)}
        with self.store.engine.begin() as conn:
            conn.execute(text("UPDATE poll_watermarks SET polled_at = polled_at - :shift"), shift)
            conn.execute(text("UPDATE technicians SET next_run = next_run - :shift"), shift)

    def _db_now(self) -> datetime:
        with self.store.engine.connect() as conn:
            return conn.execute(text("SELECT now()")).scalar_one()  # type: ignore[no-any-return]

    def _drained(self) -> None:
        """Until no tick or technician's job waits or runs (a job waiting for the budget counts)."""
        deadline = time.monotonic() + self.args.timeout
        query = text("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
                     "AND task_name IN (:tick, :sync)")  # fmt: skip
        while True:
            with self.store.engine.connect() as conn:
                if not conn.execute(query, {"tick": TICK, "sync": SYNC}).scalar_one():
                    return
            if time.monotonic() > deadline:
                raise SystemExit(f"the cycle did not end within {self.args.timeout} s")
            time.sleep(0.1)

    def _finished(self, since: datetime) -> dict[int, datetime]:
        """When each technician's run of this cycle ended (the database's clock)."""
        query = text(
            "SELECT (j.args->>'technician_id')::int, max(e.at) FROM procrastinate_events e "
            "JOIN procrastinate_jobs j ON j.id = e.job_id WHERE j.task_name = :sync "
            "AND e.type IN ('succeeded', 'failed') AND e.at >= :since GROUP BY 1"
        )
        with self.store.engine.connect() as conn:
            return {int(t): at for t, at in conn.execute(query, {"sync": SYNC, "since": since})}

    def _personal_requests(self, offset: int) -> Counter[str]:
        with self.log.open("rb") as log:
            log.seek(offset)
            return Counter(m.group(1).decode() for m in REQUEST_LINE.finditer(log.read()))

    def _latencies(self, figures: CycleFigures, changes: list[Change], finished: dict[int, datetime]) -> None:
        """Each change's time to its technician's calendar, once the calendar is seen to hold it."""
        seen: dict[str, dict[int, str]] = {}
        for change in changes:
            titles = seen.setdefault(change.calendar, appointment_titles(change.calendar))
            arrived = titles.get(change.psa_id) == change.title
            if change.technician not in finished or not arrived:
                figures.missed += 1
                continue
            seconds = (finished[change.technician] - change.at).total_seconds()
            (figures.delete_s if change.title is None else figures.change_s).append(seconds)

    # --- the end -----------------------------------------------------------------------------------

    def duplicates(self) -> tuple[int, int, int]:
        """(duplicates in the calendars, duplicates in the PSA, calendars that differ from the PSA)."""
        in_calendars = stale = 0
        for tech in self.technicians:
            items = listed(tech.calendar)
            refs = Counter((i.stamp.psa_kind, i.stamp.psa_id) for i in items if i.stamp)
            in_calendars += sum(n - 1 for n in refs.values())
            shown = {i.stamp.psa_id for i in items if i.stamp and i.stamp.psa_kind == PsaKind.APPOINTMENT}
            stale += shown != set(tech.appointments)
        table = TABLES["Appointments"]
        groups = (
            select(func.count().label("n"))
            .select_from(table)
            .group_by(table.c.resourceID, table.c.title, table.c.startDateTime)
            .subquery()
        )
        with self.psa.engine.connect() as conn:
            in_psa = int(conn.execute(select(func.coalesce(func.sum(groups.c.n - 1), 0))).scalar_one())
        return in_calendars, in_psa, stale


def listed(url: str) -> list[Any]:
    calendar = CalDavCalendar(url, username=DEFAULT_USER)
    try:
        return list(calendar.snapshot(EVERYTHING).items)
    finally:
        calendar.close()


def appointment_titles(url: str) -> dict[int, str]:
    return {
        i.stamp.psa_id: i.subject for i in listed(url) if i.stamp and i.stamp.psa_kind == PsaKind.APPOINTMENT
    }


@contextlib.contextmanager
def workers(bench: Bench, count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` real ``calferry org worker`` processes on the org database, stopped (SIGTERM) after."""
    env = {**os.environ, "CALFERRY_ORG_DB": bench.org_url, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    command = [sys.executable, "-c", "from calferry.cli import main; main()", "org", "worker",
               "--concurrency", str(bench.args.concurrency)]  # fmt: skip
    logs = [(bench.tmp / f"worker-{count}-{k}.log").open("wb") for k in range(count)]
    procs = [subprocess.Popen(command, env=env, stdout=log, stderr=log) for log in logs]
    try:
        _wait_for_workers(bench, procs)
        yield procs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc, log in zip(procs, logs, strict=True):
            proc.wait(300)
            log.close()


def _wait_for_workers(bench: Bench, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 120
    while True:
        with bench.store.engine.connect() as conn:
            if conn.execute(text("SELECT count(*) FROM procrastinate_workers")).scalar_one() >= len(procs):
                return
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            raise SystemExit(f"a worker did not start; see {bench.tmp}/worker-*.log")
        time.sleep(0.1)


def peak_rss_mib(proc: subprocess.Popen[bytes]) -> float:
    """The process's peak resident memory (VmHWM), in MiB."""
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / MIB
    return math.nan


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    with tempfile.TemporaryDirectory(prefix="calferry-orgbench-") as tmp, contextlib.ExitStack() as stack:
        bench = Bench(stack, Path(tmp), args)
        first: CycleFigures | None = None
        steady: list[CycleFigures] = []
        memory: dict[int, list[float]] = {}
        before: Counter[str] | None = None
        for count in args.workers:
            with workers(bench, count) as procs:
                if first is None:
                    first = bench.cycle(count, [])
                    print(f"first full sync: {first.seconds:.1f} s on {count} worker(s), "
                          f"{first.requests} Autotask requests, {sum(first.personal.values())} personal", flush=True)  # fmt: skip
                before = before or Counter(bench.accepted)
                for _ in range(args.cycles):
                    figures = bench.cycle(count, bench.changes(len(steady)))
                    steady.append(figures)
                    print(f"cycle {len(steady)} ({count} worker(s)): {figures.seconds:.1f} s, "
                          f"{figures.requests} Autotask requests, {sum(figures.personal.values())} personal",
                          flush=True)  # fmt: skip
                memory[count] = [peak_rss_mib(p) for p in procs]
        assert first is not None and before is not None
        report(args, bench, first, steady, memory, bench.duplicates(), Counter(bench.accepted) - before)


def report(
    args: argparse.Namespace,
    bench: Bench,
    first: CycleFigures,
    steady: list[CycleFigures],
    memory: dict[int, list[float]],
    found: tuple[int, int, int],
    steady_requests: Counter[str],
) -> None:
    per_hour = 60 / bench.cycle_minutes
    requests = sum(c.requests for c in steady) / max(1, len(steady))
    changes = [s for c in steady for s in c.change_s]
    deletes = [s for c in steady for s in c.delete_s]
    personal = sum((c.personal for c in steady), Counter[str]())
    duplicates = found[0] + found[1]
    print(f"\n{args.technicians} technicians x {args.items} items, {args.cycles} cycle(s) per worker count, "
          f"{bench.cycle_minutes}-minute cycle (per hour = per cycle x {per_hour:g})")  # fmt: skip
    print(f"first full sync: {first.seconds:.1f} s, {first.requests} Autotask requests, "
          f"personal-side {dict(sorted(first.personal.items()))}")  # fmt: skip
    print(f"Autotask requests per cycle (steady state): {requests:.1f} "
          f"(min {min(c.requests for c in steady)}, max {max(c.requests for c in steady)}); "
          f"per hour: {requests * per_hour:.0f} (target <= 100 at 1,000 technicians)")  # fmt: skip
    print(f"PSA change -> calendar: p50 {percentile(changes, 0.5):.2f} s, p95 {percentile(changes, 0.95):.2f} s "
          f"({len(changes)} changes); deletion -> removed: p50 {percentile(deletes, 0.5):.2f} s, "
          f"p95 {percentile(deletes, 0.95):.2f} s ({len(deletes)}); not arrived: {sum(c.missed for c in steady)}; "
          f"in real time add up to one cycle's wait for the poll")  # fmt: skip
    cycles = max(1, len(steady))
    print("Autotask requests per steady cycle by endpoint: " + ", ".join(
        f"{name.removeprefix('endpoint ')} {n / cycles:.1f}"
        for name, n in steady_requests.most_common() if name.startswith("endpoint ")))  # fmt: skip
    print(
        f"personal-side requests per cycle: {sum(personal.values()) / cycles:.1f} "
        + ", ".join(f"{m} {n / cycles:.1f}" for m, n in sorted(personal.items()))
    )
    for count, rss in memory.items():
        times = [c.seconds for c in steady if c.workers == count]
        print(f"workers {count}: cycle {sum(times) / max(1, len(times)):.1f} s (mean of {len(times)}); "
              f"peak RSS per worker {', '.join(f'{m:.0f}' for m in rss)} MiB")  # fmt: skip
    print(
        f"duplicates: {found[0]} in the calendars, {found[1]} in the PSA; calendars unlike the PSA: {found[2]}"
    )
    print(f"org-bench technicians={args.technicians} requests_per_hour={requests * per_hour:.0f} "
          f"change_p95_s={percentile(changes, 0.95):.2f} delete_p95_s={percentile(deletes, 0.95):.2f} "
          f"duplicates={duplicates}")  # fmt: skip


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--technicians", type=int, default=1000)
    parser.add_argument("--items", type=int, default=50, help="items per technician")
    parser.add_argument("--cycles", type=int, default=6, help="steady-state cycles per worker count")
    parser.add_argument("--workers", type=_counts, default=[1, 2, 4], help="a count or a list: 2 or 1,2,4")
    parser.add_argument("--concurrency", type=int, default=2, help="jobs each worker runs at once")
    parser.add_argument(
        "--edits", type=int, help="edited appointments per cycle (default: 1 in 20 technicians)"
    )
    parser.add_argument("--new", type=int, help="new appointments per cycle (default: 1 in 50 technicians)")
    parser.add_argument("--deletes", type=int, help="deleted appointments per cycle (default: 1 in 50)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds a cycle may take at most")
    args = parser.parse_args(argv)
    n = args.technicians
    args.edits = max(1, n // 20) if args.edits is None else args.edits
    args.new = max(1, n // 50) if args.new is None else args.new
    args.deletes = max(1, n // 50) if args.deletes is None else args.deletes
    return args


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


if __name__ == "__main__":
    main()
