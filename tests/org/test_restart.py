"""PostgreSQL restarted under a running org service: the store and the job queue reconnect."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from calferry.model import PsaKind
from calferry.org.cluster import PrivateCluster
from calferry.org.jobs import SYNC, OrgRuntime, make_app
from calferry.org.store import OrgStore, Technician, libpq_url
from calferry.org.worker import serve

pytestmark = pytest.mark.postgres


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[PrivateCluster]:
    """A cluster of this test's own: restarting it disturbs no other test."""
    with PrivateCluster(tmp_path / "pg", durable=False) as cluster:
        yield cluster


def _restart(cluster: PrivateCluster) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.data), "-m", "fast", "-w",
                    "-l", str(cluster.root / "server.log"), "restart"], check=True, capture_output=True)  # fmt: skip


def test_a_restarted_database_is_reconnected_by_the_store_and_the_worker(own_cluster: PrivateCluster) -> None:
    store = OrgStore.open(own_cluster.create_database("org"))
    ran: list[int] = []

    def sync(runtime: OrgRuntime, technician: Technician) -> None:
        ran.append(technician.id)
        now = runtime.clock()
        runtime.store.record_run(technician.id, now, now + timedelta(minutes=5))

    runtime = OrgRuntime(store, lambda gate: None, sync)  # type: ignore[arg-type,return-value]
    tech = store.add_technician(1, "gus@example.com", "caldav", "http://cal/gus/")
    store.set_watermark(
        PsaKind.APPOINTMENT, None
    )  # polled just now: the worker's own ticks have nothing to do
    app = make_app(libpq_url(store.engine))

    def one_job() -> None:
        with app.open():
            app.configure_task(SYNC).defer(technician_id=tech.id)
        app.run_worker(wait=False, install_signal_handlers=False, listen_notify=False,
                       additional_context={"calferry": runtime})  # fmt: skip

    one_job()
    _restart(own_cluster)
    assert store.technician(tech.id).last_run is not None  # the store's pooled connections were renewed
    one_job()
    assert ran == [tech.id, tech.id]
    with store.engine.connect() as conn:
        statuses = conn.execute(
            text("SELECT status FROM procrastinate_jobs WHERE task_name = :t"), {"t": SYNC}
        )
        assert sorted(statuses.scalars()) == ["succeeded", "succeeded"]
    store.close()


def test_a_running_worker_goes_on_taking_jobs_after_the_database_restarts(
    own_cluster: PrivateCluster,
) -> None:
    store = OrgStore.open(own_cluster.create_database("org"))
    ran = threading.Semaphore(0)

    def sync(runtime: OrgRuntime, technician: Technician) -> None:
        ran.release()

    runtime = OrgRuntime(store, lambda gate: None, sync)  # type: ignore[arg-type,return-value]
    tech = store.add_technician(1, "hal@example.com", "caldav", "http://cal/hal/")
    store.set_watermark(PsaKind.APPOINTMENT, None)
    app = make_app(libpq_url(store.engine))
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    worker = loop.create_task(serve(app, runtime, stop, listen_notify=False, fetch_job_polling_interval=0.05))
    thread = threading.Thread(target=loop.run_until_complete, args=(worker,), daemon=True)
    thread.start()
    defer = make_app(libpq_url(store.engine))
    try:
        with defer.open():
            defer.configure_task(SYNC).defer(technician_id=tech.id)
        assert ran.acquire(timeout=30)
        _restart(own_cluster)
        with defer.open():
            defer.configure_task(SYNC).defer(technician_id=tech.id)
        assert ran.acquire(timeout=30), f"the worker took no job after the restart: {worker}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        assert worker.done() and worker.exception() is None  # stopped as asked, gracefully
        store.close()
