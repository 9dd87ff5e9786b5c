"""Housekeeping of the org's job queue: finished jobs do not pile up in the database.

procrastinate keeps every finished job, with its events, until someone deletes it, and the org service
finishes one job per technician a cycle: 12 an hour per technician at the 5-minute cycle, 290,000 rows a day
at 1,000 technicians. ``prune_jobs`` runs once an hour (deferred once across all workers, like the tick) and
removes succeeded jobs a day after they finished, and failed, cancelled or aborted ones after a week, long
enough to look into them. A technician's last error stays on their row whatever happens to its job.
"""

from __future__ import annotations

from procrastinate import App, JobContext
from procrastinate.manager import JobManager

__all__ = ["FAILED_HOURS", "PRUNE", "SUCCEEDED_HOURS", "add_housekeeping", "prune"]

PRUNE = "calferry.org.prune_jobs"
PRUNE_CRON = "17 * * * *"
SUCCEEDED_HOURS = 24
FAILED_HOURS = 7 * 24


def add_housekeeping(app: App) -> None:
    """Register the hourly ``prune_jobs`` on ``app``."""

    @app.periodic(cron=PRUNE_CRON, periodic_id="prune")
    @app.task(name=PRUNE, queueing_lock="prune", pass_context=True)
    async def prune_jobs(context: JobContext, timestamp: int) -> None:
        await prune(context.app.job_manager)


async def prune(manager: JobManager) -> None:
    """Succeeded jobs older than a day, and any other finished one older than a week, are deleted."""
    await manager.delete_old_jobs(nb_hours=SUCCEEDED_HOURS)
    await manager.delete_old_jobs(
        nb_hours=FAILED_HOURS, include_failed=True, include_cancelled=True, include_aborted=True
    )
