"""The shared Autotask budget on real PostgreSQL, spent by real worker processes against `psa serve`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from calferry.org.budget import BudgetShort, PgBudget
from calferry.org.store import OrgStore
from calferry.psa.server.faults import FaultPlan
from tests.fixtures.psa_server import PsaServer
from tests.org.budget_worker import run

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]


def _processes(specs: list[dict[str, object]]) -> list[Counter[str]]:
    """Start every worker process at once, then collect what each spent."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.org.budget_worker", json.dumps(spec)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for spec in specs
    ]
    out = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs)
    return [Counter(json.loads(line)) for line in out]


def _spec(server: PsaServer, db: str, **more: object) -> dict[str, object]:
    return {
        "db": db,
        "base_url": server.base_url,
        "headers": server.headers,
        "share": 0.25,
        "gate": "pg",
        **more,
    }


def test_two_worker_processes_sharing_one_budget_never_exceed_it(
    org_store: OrgStore, org_db_url: str, psa_server_factory: Callable[..., PsaServer]
) -> None:
    server = psa_server_factory(seed=None)
    budget = PgBudget(org_store.engine, share=0.25)
    budget.adapt(used=0, threshold=48)  # the PSA reports a threshold of 48 an hour: a share of 12
    spent = _processes([_spec(server, org_db_url, threads=2, requests=10)] * 2)
    total = sum(spent, Counter())
    # each client's first request also looks at ThresholdInformation through the same gate (a look that
    # finds the bucket empty is that request's shortfall): 10 or 11 counts and the looks make the 12
    assert total["ok"] in (10, 11)
    assert total["ok"] + total["short"] == 40
    assert total["refused"] == 0
    assert server.state.hourly.current() == 12  # what the PSA saw: the whole share, not one request more
    assert budget.state().requests_this_hour == 12  # what the admin chart shows
    with pytest.raises(BudgetShort) as short:
        budget.take()
    assert 0 < short.value.retry_in <= 3600 / 12  # the job waits for the next token, then goes on


def test_two_worker_processes_keep_three_requests_in_flight_per_endpoint(
    org_db_url: str, org_store: OrgStore, psa_server_factory: Callable[..., PsaServer]
) -> None:
    server = psa_server_factory(seed=None, faults=FaultPlan(rate=1.0, kinds=("slow",), delay=0.2))
    spent = _processes([_spec(server, org_db_url, threads=4, requests=3)] * 2)
    total = sum(spent, Counter())
    assert total == Counter(ok=24)  # eight threads over two processes, and the PSA refused none


def test_without_the_shared_gate_two_processes_overrun_the_thread_limit(
    psa_server_factory: Callable[..., PsaServer],
) -> None:
    """The control: each process alone keeps to 3 in flight (its local gate), together they send up to 6."""
    server = psa_server_factory(seed=None, faults=FaultPlan(rate=1.0, kinds=("slow",), delay=0.2))
    spent = _processes(
        [_spec(server, "postgresql://unused@localhost/none", threads=4, requests=6, gate="local")] * 2
    )
    assert sum(spent, Counter())["refused"] > 0


def test_a_process_alone_spends_the_budget_in_process_too(
    org_db_url: str, org_store: OrgStore, psa_server_factory: Callable[..., PsaServer]
) -> None:
    server = psa_server_factory(seed=None)
    PgBudget(org_store.engine, share=0.5).adapt(used=0, threshold=10)
    assert run(_spec(server, org_db_url, share=0.5, threads=1, requests=7)) == Counter(ok=4, short=3)


def test_a_tenant_near_its_threshold_stops_calferry_taking_from_its_share(org_store: OrgStore) -> None:
    budget = PgBudget(org_store.engine, share=0.25)
    budget.take()
    assert budget.state().capacity == 2500
    budget.adapt(used=9_500, threshold=10_000)  # other integrations used 95 % of the hour
    with pytest.raises(BudgetShort):
        budget.take()
    assert budget.state().requests_this_hour == 1
