"""The org jobs on procrastinate and real PostgreSQL: the tick, per-technician fan-out, locks, retries."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from procrastinate.jobs import Job, Status
from procrastinate.periodic import PeriodicDeferrer
from sqlalchemy import text

from calferry.errors import InputError, PsaUnavailable
from calferry.model import PsaKind
from calferry.org.budget import BudgetShort, PgBudget, PgThreadGate
from calferry.org.cluster import PrivateCluster
from calferry.org.jobs import STALLED, SYNC, TICK, OrgRetry, OrgRuntime, make_app
from calferry.org.store import OrgStore, Technician, libpq_url
from calferry.psa.autotask import AutotaskClient
from calferry.psa.query import ALL
from tests.fixtures.psa_server import PsaServer

pytestmark = pytest.mark.postgres
_numbers = itertools.count()


@pytest.fixture
def pg_psa(postgres_cluster: PrivateCluster, psa_server_factory: Callable[..., PsaServer]) -> PsaServer:
    db = postgres_cluster.create_database(f"psa_jobs_{next(_numbers)}")
    return psa_server_factory(db_url=db, hourly_limit=8_000)  # the tenant's own threshold


class Recorder:
    """The per-technician sync, recorded: who ran, and their next run set a cycle ahead."""

    def __init__(self) -> None:
        self.ran: list[int] = []
        self.fail_with: BaseException | None = None

    def __call__(self, runtime: OrgRuntime, technician: Technician) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.ran.append(technician.resource_id)
        now = runtime.clock()
        runtime.store.record_run(technician.id, now, now + timedelta(minutes=5))


@pytest.fixture
def runtime(org_store: OrgStore, pg_psa: PsaServer) -> OrgRuntime:
    h = pg_psa.headers

    def client(gate: PgThreadGate) -> AutotaskClient:
        return AutotaskClient(pg_psa.base_url, username=h["UserName"], integration_code=h["ApiIntegrationCode"],
                              secret=h["Secret"], gate=gate)  # fmt: skip

    return OrgRuntime(org_store, client, Recorder())


@pytest.fixture
def app(runtime: OrgRuntime) -> Iterator[object]:
    application = make_app(libpq_url(runtime.store.engine))
    with application.open():
        yield application


def _work(app: object, runtime: OrgRuntime) -> None:
    """A real worker that stops once the queue is empty (it closes the app's connections: reopened)."""
    app.run_worker(  # type: ignore[attr-defined]
        wait=False,
        install_signal_handlers=False,
        listen_notify=False,
        additional_context={"calferry": runtime},
    )
    app.open()  # type: ignore[attr-defined]


def _tick(app: object) -> None:
    """Defer a tick, unless one is waiting already (the worker's own scheduler may have added it)."""
    from procrastinate.exceptions import AlreadyEnqueued

    with contextlib.suppress(AlreadyEnqueued):
        app.configure_task(TICK).defer(timestamp=int(datetime.now(UTC).timestamp()))  # type: ignore[attr-defined]


def _jobs(store: OrgStore) -> list[tuple[str, str, int]]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT task_name, status, attempts FROM procrastinate_jobs ORDER BY id"))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def _resources(pg_psa: PsaServer) -> list[int]:
    with pg_psa.client() as http:
        answer = http.post("Appointments/query", json={"filter": [ALL.to_json()]}).json()
    return sorted({a["resourceID"] for a in answer["items"]})


def _time_passes(store: OrgStore, minutes: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE poll_watermarks SET polled_at = polled_at - make_interval(mins => :m)"),
                     {"m": minutes})  # fmt: skip


def test_a_tick_polls_once_and_runs_each_concerned_technician_once(
    app: object, runtime: OrgRuntime, pg_psa: PsaServer
) -> None:
    store, recorder = runtime.store, runtime.sync
    assert isinstance(recorder, Recorder)
    first, second, *_ = _resources(pg_psa)
    alice = store.add_technician(first, "alice@example.com", "caldav", "http://cal/alice/")
    bob = store.add_technician(second, "bob@example.com", "caldav", "http://cal/bob/")
    carol = store.add_technician(999_999, "carol@example.com", "caldav", "http://cal/carol/")
    store.set_enabled(carol.id, False, "left the company")
    _tick(app)
    _work(app, runtime)
    assert sorted(recorder.ran) == sorted([alice.resource_id, bob.resource_id])  # the disabled one left alone
    assert store.watermark(PsaKind.APPOINTMENT) is not None
    budget = PgBudget(store.engine, share=0.25).state()
    assert (budget.threshold, budget.capacity) == (8_000, 2_000)  # as ThresholdInformation reported it

    _tick(app)
    _work(app, runtime)
    assert len(recorder.ran) == 2  # the cycle is not due yet: no poll, no runs

    with pg_psa.client() as http:
        mine = http.post(
            "Appointments/query", json={"filter": [{"op": "eq", "field": "resourceID", "value": first}]}
        )
        latest = max(mine.json()["items"], key=lambda a: a["startDateTime"])  # in the window: days ahead
        answer = http.patch("Appointments", json={"id": latest["id"], "title": "Changed in the PSA"})
        assert answer.status_code == 200, answer.text
    _time_passes(store, 5)
    _tick(app)
    _work(app, runtime)
    assert sorted(recorder.ran) == sorted([alice.resource_id, bob.resource_id, alice.resource_id]), _jobs(
        store
    )
    assert all(status == "succeeded" for _, status, _ in _jobs(store))


def test_one_technician_has_at_most_one_job_waiting(app: object, runtime: OrgRuntime) -> None:
    tech = runtime.store.add_technician(1, "dana@example.com", "caldav", "http://cal/dana/")
    key = f"technician:{tech.id}"
    deferrer = app.configure_task(SYNC, queueing_lock=key, lock=key)  # type: ignore[attr-defined]
    deferrer.defer(technician_id=tech.id)
    from procrastinate.exceptions import AlreadyEnqueued

    with pytest.raises(AlreadyEnqueued):
        app.configure_task(SYNC, queueing_lock=key, lock=key).defer(technician_id=tech.id)  # type: ignore[attr-defined]
    assert [name for name, _, _ in _jobs(runtime.store) if name == SYNC] == [SYNC]


def test_a_job_that_finds_the_budget_spent_waits_and_does_not_fail(app: object, runtime: OrgRuntime) -> None:
    recorder = runtime.sync
    assert isinstance(recorder, Recorder)
    recorder.fail_with = BudgetShort(42.0)
    tech = runtime.store.add_technician(1, "erin@example.com", "caldav", "http://cal/erin/")
    key = f"technician:{tech.id}"
    app.configure_task(SYNC, queueing_lock=key, lock=key).defer(technician_id=tech.id)  # type: ignore[attr-defined]
    _work(app, runtime)
    # (the worker's own scheduler may have added this minute's tick beside it)
    assert [job for job in _jobs(runtime.store) if job[0] == SYNC] == [
        (SYNC, "todo", 1)
    ]  # waiting, not failed
    with runtime.store.engine.connect() as conn:
        wait = conn.execute(
            text(
                "SELECT extract(epoch FROM scheduled_at - now()) FROM procrastinate_jobs WHERE task_name = :t"
            ),
            {"t": SYNC},
        ).scalar()
    assert 30 < float(wait) <= 43


def test_the_periodic_tick_is_deferred_once_per_minute_however_many_workers(runtime: OrgRuntime) -> None:
    url = libpq_url(runtime.store.engine)
    apps = [make_app(url), make_app(url)]

    async def both_workers_defer() -> None:
        for application in apps:
            async with application.open_async():
                deferrer = PeriodicDeferrer(registry=application.periodic_registry)
                await deferrer.defer_jobs(deferrer.get_previous_tasks(at=1_800_000_000.0))

    asyncio.run(both_workers_defer())
    assert sorted(name for name, _, _ in _jobs(runtime.store)) == [
        STALLED,
        TICK,
    ]  # one each, not one per worker


def _job(attempts: int) -> Job:
    return Job(id=1, queue="default", lock=None, queueing_lock=None, task_name=SYNC, attempts=attempts,
               status=Status.DOING.value)  # fmt: skip


def test_the_retry_policy_waits_on_budget_forever_backs_off_on_faults_and_stops_on_errors() -> None:
    policy = OrgRetry(attempts=3, base=5)
    budget = policy.get_retry_decision(exception=BudgetShort(90.4), job=_job(1000))
    assert budget is not None and budget.retry_at is not None
    assert 85 < (budget.retry_at - datetime.now(UTC)).total_seconds() <= 90
    fault = [policy.get_retry_decision(exception=PsaUnavailable("down"), job=_job(n)) for n in range(4)]
    waits = [round((d.retry_at - datetime.now(UTC)).total_seconds()) for d in fault[:3] if d and d.retry_at]
    assert waits == [5, 10, 20] and fault[3] is None
    assert policy.get_retry_decision(exception=InputError("bad calendar"), job=_job(0)) is None


def test_the_job_of_a_worker_that_died_is_finished_by_another(app: object, runtime: OrgRuntime) -> None:
    recorder = runtime.sync
    assert isinstance(recorder, Recorder)
    tech = runtime.store.add_technician(7, "finn@example.com", "caldav", "http://cal/finn/")
    app.configure_task(SYNC).defer(technician_id=tech.id)  # type: ignore[attr-defined]
    with runtime.store.engine.begin() as conn:  # a worker took it, then went silent a minute ago (killed)
        dead = conn.execute(
            text(
                "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '1 minute') RETURNING id"
            )
        ).scalar_one()
        conn.execute(text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w"), {"w": dead})
    app.configure_task(STALLED).defer(timestamp=0)  # type: ignore[attr-defined]
    _work(app, runtime)
    assert recorder.ran.count(7) == 1  # run again, by this worker, once
    assert [status for name, status, _ in _jobs(runtime.store) if name == SYNC] == ["succeeded"]
