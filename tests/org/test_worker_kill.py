"""A real `calferry org worker` killed (SIGKILL) in the middle of a technician's job: another finishes it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from calferry.org.jobs import STALLED, SYNC, OrgRuntime, make_app
from calferry.org.store import OrgStore, Technician, libpq_url
from tests.fixtures.psa_server import PsaServer, configure_calferry

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


def _wait_for(condition: object, what: str, seconds: float = 60) -> None:
    """Until ``condition()`` holds (a state another process reaches), or fail saying what never happened."""
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.05)


def _status(store: OrgStore) -> list[str]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT status FROM procrastinate_jobs WHERE task_name = :t"), {"t": SYNC})
        return [str(s) for s in rows.scalars()]


def test_a_job_whose_worker_was_killed_is_finished_by_another_worker(
    org_store: OrgStore, org_db_url: str, demo_psa: PsaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_calferry(demo_psa, "http://127.0.0.1:1/unused/", "tech.ny", monkeypatch)
    with socket.socket() as black_hole:  # a calendar server that takes the request and never answers
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(8)
        calendar = f"http://127.0.0.1:{black_hole.getsockname()[1]}/cal/"
        tech = org_store.add_technician(29682885, "ivy@example.com", "caldav", calendar)
        env = {**os.environ, "CALFERRY_ORG_DB": org_db_url, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
        first = subprocess.Popen([sys.executable, "-c", "from calferry.cli import main; main()", "org", "worker"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            _wait_for(lambda: _status(org_store) == ["doing"], "the first worker starting Ivy's job")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(30)
    assert _status(org_store) == ["doing"]  # left behind by the dead worker
    with org_store.engine.begin() as conn:  # its heartbeat stops; a minute passes
        conn.execute(text("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute'"))

    finished: list[int] = []

    def sync(runtime: OrgRuntime, technician: Technician) -> None:
        finished.append(technician.id)
        now = runtime.clock()
        runtime.store.record_run(technician.id, now, now + timedelta(minutes=5))

    second = make_app(libpq_url(org_store.engine))
    with second.open():
        second.configure_task(STALLED).defer(timestamp=0)
    second.run_worker(wait=False, install_signal_handlers=False, listen_notify=False,
                      additional_context={"calferry": OrgRuntime(org_store, lambda gate: None, sync)})  # type: ignore[arg-type,return-value]  # fmt: skip
    assert finished == [tech.id]
    assert _status(org_store) == ["succeeded"]
