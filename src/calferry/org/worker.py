"""A worker process of the org service: the runtime its jobs share, and procrastinate's worker loop.

The worker owns its stop: SIGINT (Ctrl-C) and SIGTERM (systemd, a container's stop) cancel the worker
task, which procrastinate turns into a graceful stop (running jobs finish, nothing new starts), and the
caller's clean-up (closing the store, stopping a private cluster) runs after it whichever signal came.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from calferry import secrets
from calferry.config import load_settings
from calferry.org.budget import PgThreadGate
from calferry.org.fanout import sync_technician
from calferry.org.jobs import OrgRuntime, make_app
from calferry.org.store import OrgStore, libpq_url
from calferry.psa.autotask import AutotaskClient

__all__ = ["run_worker", "runtime_for", "stopped_by_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def runtime_for(store: OrgStore) -> OrgRuntime:
    """The jobs' runtime: the PSA connection of this machine's config, through the org's shared gate."""
    psa = load_settings().psa
    secret = secrets.psa_secret(psa.username, psa.secret_command)  # fails now, not in every job

    def client(gate: PgThreadGate) -> AutotaskClient:
        from calferry.psa.gateway import build_client

        return build_client(psa, secret, gate=gate)

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

    async def serve() -> None:
        async with app.open_async():
            task = asyncio.ensure_future(
                app.run_worker_async(
                    concurrency=concurrency,
                    install_signal_handlers=False,
                    additional_context={"calferry": runtime},
                )
            )
            loop = asyncio.get_running_loop()
            for sig in STOP_SIGNALS:
                loop.add_signal_handler(sig, task.cancel)
            try:
                await task
            except asyncio.CancelledError:
                pass  # the graceful stop procrastinate made of the cancellation
            finally:
                for sig in STOP_SIGNALS:
                    loop.remove_signal_handler(sig)

    with stopped_by_signals():
        asyncio.run(serve())
