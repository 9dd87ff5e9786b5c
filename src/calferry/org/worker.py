"""A worker process of the org service: the runtime its jobs share, and procrastinate's worker loop."""

from __future__ import annotations

from calferry import secrets
from calferry.config import load_settings
from calferry.org.budget import PgThreadGate
from calferry.org.fanout import sync_technician
from calferry.org.jobs import OrgRuntime, make_app
from calferry.org.store import OrgStore, libpq_url
from calferry.psa.autotask import AutotaskClient

__all__ = ["run_worker", "runtime_for"]


def runtime_for(store: OrgStore) -> OrgRuntime:
    """The jobs' runtime: the PSA connection of this machine's config, through the org's shared gate."""
    psa = load_settings().psa
    secret = secrets.psa_secret(psa.username, psa.secret_command)  # fails now, not in every job

    def client(gate: PgThreadGate) -> AutotaskClient:
        from calferry.psa.gateway import build_client

        return build_client(psa, secret, gate=gate)

    return OrgRuntime(store, client, sync_technician)


def run_worker(store: OrgStore, concurrency: int) -> None:
    """Run jobs until SIGINT or SIGTERM (procrastinate finishes the running ones first)."""
    app = make_app(libpq_url(store.engine))
    app.run_worker(concurrency=concurrency, additional_context={"calferry": runtime_for(store)})
