"""The org service's jobs, on procrastinate (PostgreSQL-backed; the queue lives in the org database).

- ``tick`` is deferred every minute by procrastinate's periodic scheduler, once per minute across every
  worker on every machine (the database dedups it). It runs one cycle when the cycle (the admin's
  setting, default 5 minutes) is due: the central PSA poll, then one ``sync_technician`` job for each
  enabled technician whose items changed and for each whose next run is due. Only one tick runs at a time
  (``lock``) and at most one waits (``queueing_lock``).
- ``sync_technician`` runs one technician; ``queueing_lock`` and ``lock`` per technician give "one
  waiting, one running", so a technician never has two runs at once and never a pile of them.

Retries (:class:`OrgRetry`): a spent Autotask budget waits exactly until the next token and is never
given up; the PSA or a calendar being unavailable, refusing for a while or a lost database connection
back off exponentially; anything else is the technician's error, shown on their row, not a retry.
A third job, ``retry_stalled``, every minute, hands the jobs of a worker that died (its heartbeat
stale for 30 s, procrastinate's measure) to the living workers; a fourth, ``prune_jobs``, every hour, removes
finished jobs (:mod:`calferry.org.housekeeping`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from procrastinate import App, JobContext, PsycopgConnector, RetryDecision
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy
from sqlalchemy.exc import OperationalError

from calferry.errors import PersonalUnavailable, PsaRateLimited, PsaUnavailable
from calferry.org.budget import BudgetShort, PgBudget, PgThreadGate
from calferry.org.housekeeping import add_housekeeping
from calferry.org.poll import UNASSIGNED, CentralPoll, PollResult
from calferry.org.store import OrgStore, Technician
from calferry.psa.autotask import AutotaskClient

__all__ = ["STALLED", "SYNC", "TICK", "OrgRetry", "OrgRuntime", "make_app", "run_cycle"]

log = logging.getLogger("calferry.org")

TICK_CRON = "* * * * *"
TICK, SYNC, STALLED = "calferry.org.tick", "calferry.org.sync_technician", "calferry.org.retry_stalled"
CYCLE_SLACK = timedelta(seconds=30)
"""A tick this early before the cycle is due runs it anyway, so a 5-minute cycle stays 5 minutes."""
TRANSIENT = (PsaUnavailable, PsaRateLimited, PersonalUnavailable, OperationalError)
MAX_BACKOFF = 15 * 60


class OrgRetry(BaseRetryStrategy):
    """Budget waits forever (exactly as long as needed); transient faults back off, ``attempts`` times."""

    def __init__(self, attempts: int = 8, base: int = 5) -> None:
        self.attempts = attempts
        self.base = base

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, BudgetShort):
            return RetryDecision(retry_in={"seconds": max(1, round(exception.retry_in))})
        if isinstance(exception, TRANSIENT) and job.attempts < self.attempts:
            retry_after = getattr(exception, "retry_after", None) or 0
            wait = max(retry_after, min(MAX_BACKOFF, self.base * 2**job.attempts))
            return RetryDecision(retry_in={"seconds": round(wait)})
        return None


@dataclass
class OrgRuntime:
    """What the jobs of one worker share: the store and a way to reach the PSA through the shared gate."""

    store: OrgStore
    psa_client: Callable[[PgThreadGate], AutotaskClient]
    sync: Callable[[OrgRuntime, Technician], None]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def gate(self) -> PgThreadGate:
        return PgThreadGate(PgBudget(self.store.engine, share=self.store.settings().budget_share))


def _runtime(context: JobContext) -> OrgRuntime:
    runtime = context.additional_context.get("calferry")
    assert isinstance(runtime, OrgRuntime), "the worker was started without the org runtime"
    return runtime


def _adapt(client: AutotaskClient, budget: PgBudget) -> None:
    """The budget follows what ``ThresholdInformation`` says (one request a cycle); a failed look is skipped."""
    try:
        info = {k.lower(): v for k, v in client.threshold(retried=False).items()}
        budget.adapt(
            int(info.get("currenttimeframerequestcount") or 0), int(info.get("externalrequestthreshold") or 0)
        )
    except (PsaUnavailable, PsaRateLimited, ValueError, TypeError) as error:
        log.info("threshold look skipped: %s", type(error).__name__)


def make_app(conninfo: str) -> App:
    """A procrastinate App on the org database (libpq ``conninfo``) with the org's two jobs.

    Each call makes its own App and tasks (procrastinate binds a task to one app); task names are fixed,
    so workers built by separate calls, in separate processes, run each other's jobs.
    """
    app = App(connector=PsycopgConnector(conninfo=conninfo))

    @app.periodic(cron=TICK_CRON, periodic_id="cycle")
    @app.task(name=TICK, queueing_lock="tick", lock="central-poll", retry=OrgRetry(), pass_context=True)
    def tick(context: JobContext, timestamp: int) -> None:
        run_cycle(_runtime(context), defer_sync)

    @app.task(name=SYNC, retry=OrgRetry(), pass_context=True)
    def sync_technician(context: JobContext, technician_id: int) -> None:
        runtime = _runtime(context)
        runtime.sync(runtime, runtime.store.technician(technician_id))

    @app.periodic(cron=TICK_CRON, periodic_id="stalled")
    @app.task(name=STALLED, queueing_lock="stalled", pass_context=True)
    async def retry_stalled(context: JobContext, timestamp: int) -> None:
        """Jobs of a worker that died (no heartbeat for 30 s) run again on a living one."""
        manager = context.app.job_manager
        for job in await manager.get_stalled_jobs():
            log.warning("job %s of a worker that stopped answering runs again", job.id)
            await manager.retry_job(job)

    def defer_sync(technician: Technician) -> bool:
        """One waiting job per technician: False when one is already waiting."""
        key = f"technician:{technician.id}"
        try:
            sync_technician.configure(queueing_lock=key, lock=key).defer(technician_id=technician.id)
        except AlreadyEnqueued:
            return False
        return True

    add_housekeeping(app)
    return app


def run_cycle(runtime: OrgRuntime, defer: Callable[[Technician], bool]) -> PollResult | None:
    """The cycle when due: poll, then defer the technicians concerned; None when not due yet."""
    store, now = runtime.store, runtime.clock()
    settings = store.settings()
    if not store.poll_due(timedelta(minutes=settings.cycle_minutes) - CYCLE_SLACK):
        return None
    gate = runtime.gate()
    with runtime.psa_client(gate) as client:
        result = CentralPoll(client, store).run(settings.poll_window(now), settings.psa_kinds)
        _adapt(client, gate.budget)
    concerned = {t.id: t for t in store.technicians_for(result.resources - {UNASSIGNED})}
    for technician in store.technicians(enabled_only=True):
        if technician.next_run is None or technician.next_run <= now:
            concerned.setdefault(technician.id, technician)
    deferred = sum(defer(t) for t in concerned.values())
    log.info("cycle: %d PSA requests, %d technicians concerned, %d deferred", result.requests, len(concerned),
             deferred)  # fmt: skip
    return result
