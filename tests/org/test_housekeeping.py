"""Finished jobs leave the queue: succeeded ones after a day, failed ones after a week, waiting ones never."""

from __future__ import annotations

import asyncio

import pytest
from procrastinate import App
from sqlalchemy import text

from calferry.org.housekeeping import PRUNE, prune
from calferry.org.jobs import SYNC, make_app
from calferry.org.store import OrgStore, libpq_url

pytestmark = pytest.mark.postgres
JOBS = {  # technician id: (the job's final status, or todo; hours since it got there)
    1: ("succeeded", 25),
    2: ("succeeded", 2),
    3: ("failed", 25),
    4: ("failed", 8 * 24),
    5: ("todo", 30 * 24),
}


def _finished_long_ago(store: OrgStore, app: App) -> None:
    with app.open():
        ids = {t: app.configure_task(SYNC).defer(technician_id=t) for t in JOBS}
    with store.engine.begin() as conn:
        for technician, (status, hours) in JOBS.items():
            job = {"id": ids[technician], "status": status, "hours": hours}
            if status != "todo":
                conn.execute(text("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = :id"), job)
                conn.execute(text("UPDATE procrastinate_jobs SET status = :status WHERE id = :id"), job)
            conn.execute(text("UPDATE procrastinate_events SET at = now() - make_interval(hours => :hours) "
                              "WHERE job_id = :id"), job)  # fmt: skip


def _left(store: OrgStore) -> list[int]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT (args->>'technician_id')::int FROM procrastinate_jobs "
                                 "WHERE task_name = :sync ORDER BY 1"), {"sync": SYNC})  # fmt: skip
        return list(rows.scalars())


async def _prune(app: App) -> None:
    async with app.open_async():
        await prune(app.job_manager)


def test_succeeded_jobs_go_after_a_day_failed_ones_after_a_week_and_waiting_ones_stay(
    org_store: OrgStore,
) -> None:
    app = make_app(libpq_url(org_store.engine))
    _finished_long_ago(org_store, app)
    assert _left(org_store) == [1, 2, 3, 4, 5]
    asyncio.run(_prune(app))
    assert _left(org_store) == [2, 3, 5]


def test_the_pruning_runs_every_hour_once_across_workers() -> None:
    app = make_app("postgresql:///unused")
    periodic = {task.task.name: task for task in app.periodic_registry.periodic_tasks.values()}
    assert periodic[PRUNE].cron == "17 * * * *"
    assert app.tasks[PRUNE].queueing_lock == "prune"
