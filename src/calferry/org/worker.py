"""A worker process of the org service: the runtime its jobs share, and procrastinate's worker loop.

The worker owns its stop: SIGINT (Ctrl-C) and SIGTERM (systemd, a container's stop) cancel the worker
task, which procrastinate turns into a graceful stop (running jobs finish, nothing new starts), and the
caller's clean-up (closing the store, stopping a private cluster) runs after it whichever signal came.
A worker whose database went away starts again when it is back (:func:`serve`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from procrastinate import App
from procrastinate.exceptions import ConnectorException

from calferry import secrets
from calferry.config import load_settings
from calferry.org.budget import PgThreadGate
from calferry.org.fanout import sync_technician
from calferry.org.jobs import OrgRuntime, make_app
from calferry.org.store import OrgStore, libpq_url
from calferry.psa.autotask import AutotaskClient

__all__ = ["run_worker", "runtime_for", "serve", "stopped_by_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
MAX_PAUSE = 30.0
"""Seconds at most between attempts to start again on a database that went away."""
log = logging.getLogger("calferry.org")


def runtime_for(store: OrgStore) -> OrgRuntime:
    """The jobs' runtime: the PSA connection of this machine's config, through the org's shared gate.

    A client starts from the threshold the cycle's one ``ThresholdInformation`` look found (the budget
    keeps it) rather than a look of its own per technician run."""
    psa = load_settings().psa
    secret = secrets.psa_secret(psa.username, psa.secret_command)  # fails now, not in every job

    def client(gate: PgThreadGate) -> AutotaskClient:
        from calferry.wiring import psa_client

        return psa_client(psa, secret, gate=gate, threshold_seen=gate.budget.reported())

    return OrgRuntime(store, client, sync_technician)


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """Inside the block SIGTERM stops like Ctrl-C (``KeyboardInterrupt``), so clean-up code runs."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in STOP_SIGNALS}
    try:
        yield
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_worker(store: OrgStore, concurrency: int) -> None:
    """Run jobs until SIGINT or SIGTERM; running jobs finish first."""
    runtime = runtime_for(store)
    app = make_app(libpq_url(store.engine))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, stop.set)
        try:
            await serve(app, runtime, stop, concurrency=concurrency)
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)

    with stopped_by_signals():
        asyncio.run(main())


async def serve(app: App, runtime: OrgRuntime, stop: asyncio.Event, **options: Any) -> None:
    """procrastinate's worker until ``stop`` is set, started again whenever it ends on its own.

    procrastinate's worker ends when its database goes away (PostgreSQL restarted, a failover, the
    network): the org's workers then wait a little, longer each time up to ``MAX_PAUSE``, and start
    again, so a restart of the database costs a pause, never the worker.
    """
    pauses = 0
    while not stop.is_set():
        worker = asyncio.ensure_future(_worker_once(app, runtime, **options))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            worker.cancel()  # procrastinate turns the cancellation into a graceful stop
            with contextlib.suppress(asyncio.CancelledError, ConnectorException):
                await worker
            return
        stopping.cancel()
        error = worker.exception()
        log.warning(
            "the worker lost its database (%s); starting again", type(error).__name__ if error else "ended"
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=min(MAX_PAUSE, 2.0**pauses))
        pauses = min(pauses + 1, 8)


async def _worker_once(app: App, runtime: OrgRuntime, **options: Any) -> None:
    async with app.open_async():
        await app.run_worker_async(
            install_signal_handlers=False, additional_context={"calferry": runtime}, **options
        )
