"""Workers on two machines (two CALFERRY_HOMEs, two processes) share one org database: a technician's links,
journal and audit log are in it, so either machine runs any technician, and nothing is made twice, not
even after a worker is killed between its calendar write and the link that records it.

Real parts: PostgreSQL, `psa serve`, Radicale, `calferry org` workers as processes (tests.org.cycle_worker).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import text

from calferry.links import AuditEntry
from calferry.model import Window
from calferry.org.fanout import sync_technician
from calferry.org.jobs import SYNC, TICK, make_app, run_cycle
from calferry.org.pg_links import PgLinkStore
from calferry.org.store import OrgStore, Technician, libpq_url
from calferry.org.worker import runtime_for
from calferry.personal.caldav import CalDavCalendar
from calferry.personal.radicale import DEFAULT_USER, RadicaleServer, bulk_put
from tests.fixtures.psa_server import PsaServer, configure_calferry

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
EVERYTHING = Window(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
EMPTY = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nEND:VCALENDAR\r\n"
ENTITIES = ("Appointments", "CompanyToDos", "ServiceCalls")
NY, BERLIN = "tech.ny@demo.calferry.local", "tech.berlin@demo.calferry.local"


def _machines(tmp_path: Path, psa: PsaServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Two homes, each configured for the same PSA as its own administrator did it."""
    homes = {}
    for name in ("a", "b"):
        home = tmp_path / f"machine-{name}"
        home.mkdir()
        monkeypatch.setenv("CALFERRY_HOME", str(home))
        configure_calferry(psa, "http://127.0.0.1:1/unused/", "tech.ny", monkeypatch)
        homes[name] = home
    return homes


def _run(homes: dict[str, Path], db: str, *machines: str, **spec: object) -> list[int]:
    """The workers of ``machines`` at once, each until the queue is empty; their exit codes."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.org.cycle_worker", json.dumps({"db": db, **spec})],
            cwd=ROOT,
            env={
                **os.environ,
                "CALFERRY_HOME": str(homes[m]),
                "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
            },
        )
        for m in machines
    ]
    return [p.wait(180) for p in procs]


def _serve(homes: dict[str, Path], db: str, store: OrgStore, technicians: list[Technician]) -> None:
    """``calferry org worker`` on every machine at once, for one cycle: stopped (SIGTERM) once each of
    ``technicians`` has run and no job of theirs waits or runs."""
    since = {t.id: store.technician(t.id).last_run for t in technicians}
    env = {**os.environ, "CALFERRY_ORG_DB": db, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", "from calferry.cli import main; main()", "org", "worker"],
            env={**env, "CALFERRY_HOME": str(home)},
        )
        for home in homes.values()
    ]
    try:
        app = make_app(libpq_url(store.engine))
        with app.open(), contextlib.suppress(AlreadyEnqueued):
            app.configure_task(TICK).defer(timestamp=0)

        def ran() -> bool:
            with store.engine.connect() as conn:
                busy = conn.execute(
                    text(
                        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :s AND status IN ('todo', 'doing')"
                    ),
                    {"s": SYNC},
                ).scalar_one()
            return not busy and all(store.technician(i).last_run != last for i, last in since.items())

        _wait_for(ran, "a cycle of every technician on the two machines")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
    assert [proc.wait(60) for proc in procs] == [0, 0]


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 120) -> None:
    """Until ``condition()`` holds (a state other processes reach), or fail saying what never happened."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.1)


def _due(store: OrgStore) -> None:
    """A cycle's time passes: the poll and every technician are due."""
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE poll_watermarks SET polled_at = polled_at - interval '10 minutes'"))
        conn.execute(text("UPDATE technicians SET next_run = now() - interval '1 minute'"))


def _calendar(radicale: RadicaleServer, name: str) -> str:
    url = radicale.calendar_url(calendar=f"{name}-{datetime.now(UTC):%H%M%S%f}")
    bulk_put(url, EMPTY)
    return url


def _items(url: str) -> list[tuple[str, object]]:
    """(subject, the PSA item its stamp names) of every item in the calendar."""
    cal = CalDavCalendar(url, username=DEFAULT_USER)
    try:
        return [
            (i.subject, i.stamp and (i.stamp.psa_kind, i.stamp.psa_id))
            for i in cal.snapshot(EVERYTHING).items
        ]
    finally:
        cal.close()


def _psa_counts(psa: PsaServer) -> dict[str, int]:
    with psa.client() as http:
        return {
            e: int(http.post(f"{e}/query/count", json={"filter": [{"op": "gte", "field": "id", "value": 0}]})
                   .json()["queryCount"])
            for e in ENTITIES
        }  # fmt: skip


def _no_duplicates(store: OrgStore, technician: Technician) -> list[tuple[str, object]]:
    """Each PSA item once in the technician's calendar, and each linked in the org database; the items."""
    items = _items(technician.calendar)
    twice = [ref for ref, n in Counter(ref for _, ref in items).items() if n > 1]
    assert twice == [], f"{technician.email} has PSA items twice: {twice}"
    records = PgLinkStore(store.engine, technician.id)
    try:
        assert len(records.links()) == len(items) and records.pending() == []
    finally:
        records.close()
    return items


def _log(store: OrgStore, technician: Technician) -> list[AuditEntry]:
    """The technician's audit log, newest first."""
    records = PgLinkStore(store.engine, technician.id)
    try:
        return records.log(limit=1000)
    finally:
        records.close()


@pytest.fixture
def org(
    org_store: OrgStore,
    psa_server_factory: Callable[..., PsaServer],
    radicale_server: RadicaleServer,
) -> tuple[OrgStore, PsaServer, dict[str, Technician]]:
    psa = psa_server_factory()
    with psa.client() as http:
        rows = http.post(
            "Resources/query", json={"filter": [{"op": "gte", "field": "id", "value": 0}]}
        ).json()
    ids = {r["email"]: r["id"] for r in rows["items"]}
    technicians = {
        email: org_store.add_technician(
            ids[email], email, "caldav", _calendar(radicale_server, email.split("@")[0])
        )
        for email in (NY, BERLIN)
    }
    return org_store, psa, technicians


def _appointment(psa: PsaServer, technician: Technician, title: str) -> int:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    with psa.client() as http:
        made = http.post("Appointments", json={"title": title, "resourceID": technician.resource_id,
                                                "startDateTime": start.isoformat().replace("+00:00", "Z"),
                                                "endDateTime": (start + timedelta(hours=1)).isoformat().replace("+00:00", "Z")})  # fmt: skip
        assert made.status_code == 200, made.text
        return int(made.json()["itemId"])


def test_two_machines_share_the_technicians_and_nothing_is_made_twice(
    org: tuple[OrgStore, PsaServer, dict[str, Technician]],
    org_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, psa, techs = org
    homes = _machines(tmp_path, psa, monkeypatch)
    in_psa = _psa_counts(psa)

    assert _run(homes, org_db_url, "a", defer=["tick"]) == [0]  # the first cycle on machine A
    first = {email: _no_duplicates(store, t) for email, t in techs.items()}
    assert all(first.values()), "each technician got their PSA items"
    assert all(store.technician(t.id).last_error == "" for t in techs.values())

    _appointment(psa, techs[NY], "Site visit (machine B)")  # machine B's cycle finds A's links
    _due(store)
    assert _run(homes, org_db_url, "b", defer=["tick"]) == [0]
    ny = _no_duplicates(store, techs[NY])
    assert len(ny) == len(first[NY]) + 1 and "Site visit (machine B)" in [s for s, _ in ny]
    log = _log(store, techs[NY])
    assert len({e.run_id for e in log}) == 2  # one audit log, written by both machines
    assert [e for e in log if e.outcome == "adopted"] == []  # B knew A's links: it adopted nothing

    _appointment(psa, techs[BERLIN], "Rack install (both machines)")  # then both machines at once
    _due(store)
    _serve(homes, org_db_url, store, list(techs.values()))
    berlin = _no_duplicates(store, techs[BERLIN])
    assert "Rack install (both machines)" in [s for s, _ in berlin]
    assert _no_duplicates(store, techs[NY]) == ny
    assert _psa_counts(psa) == {**in_psa, "Appointments": in_psa["Appointments"] + 2}  # only the test's two
    for home in homes.values():  # nothing of the technicians is kept on the machines
        assert not list(home.rglob("links.sqlite3")) and not (home / "org").exists()


def test_a_worker_killed_between_its_calendar_write_and_the_link_leaves_nothing_twice(
    org: tuple[OrgStore, PsaServer, dict[str, Technician]],
    org_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, psa, techs = org
    store.set_enabled(techs[BERLIN].id, False, "one technician is enough here")
    nora = techs[NY]
    homes = _machines(tmp_path, psa, monkeypatch)
    in_psa = _psa_counts(psa)

    assert _run(homes, org_db_url, "a", defer=["tick"], die_linking=True) == [-9]  # SIGKILL mid-run
    records = PgLinkStore(store.engine, nora.id)
    try:
        pending = records.pending()  # the journal, in the org database, holds the interrupted writes
        assert pending and records.links() == []
    finally:
        records.close()
    assert 1 <= len(_items(nora.calendar)) <= len(pending)  # items written (in one batch); no link yet
    with store.engine.begin() as conn:  # the dead worker's heartbeat stops; a minute passes
        conn.execute(text("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute'"))

    assert _run(homes, org_db_url, "b", defer=["stalled"]) == [0]  # machine B takes the job over
    items = _no_duplicates(store, nora)
    adopted = {e.ref for e in _log(store, nora) if e.outcome == "adopted" and e.action == "create:personal"}
    assert len(items) > 1 and {intent.ref for intent in pending} <= adopted
    assert _psa_counts(psa) == in_psa
    assert store.technician(nora.id).last_error == ""


def test_a_technician_whose_run_is_under_way_elsewhere_is_left_to_that_run(
    org: tuple[OrgStore, PsaServer, dict[str, Technician]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, psa, techs = org
    configure_calferry(psa, "http://127.0.0.1:1/unused/", "tech.ny", monkeypatch)
    runtime = runtime_for(store)
    nora, leo = techs[NY], techs[BERLIN]

    def run_now(technician: Technician) -> bool:
        sync_technician(runtime, technician)
        return True

    elsewhere = PgLinkStore(store.engine, nora.id)
    try:
        with elsewhere.lock():  # a run of Nora's on another machine holds her lock
            run_cycle(runtime, run_now)
    finally:
        elsewhere.close()
    assert _items(nora.calendar) == [] and store.technician(nora.id).last_run is None  # left to that run
    assert store.technician(nora.id).last_error == ""  # which is not an error of hers
    assert _items(leo.calendar) and store.technician(leo.id).last_run is not None
    sync_technician(runtime, store.technician(nora.id))  # once it is over, hers go on
    assert _no_duplicates(store, nora)
