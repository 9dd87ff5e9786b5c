"""One worker process spending the shared Autotask budget: ``python -m tests.org.budget_worker SPEC``.

SPEC is JSON: ``db`` (org database URL), ``base_url`` and ``headers`` (the PSA), ``threads``,
``requests`` (per thread), ``share``, ``gate`` ("pg" or "local"). Prints one JSON line: requests that
went through (``ok``), stopped by the spent budget (``short``), refused by the PSA's limits (``refused``).
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter

from calferry.errors import PsaRateLimited
from calferry.org.budget import BudgetShort, PgBudget, PgThreadGate
from calferry.org.store import engine_for
from calferry.psa.autotask import AutotaskClient, RetryPolicy
from calferry.psa.query import eq
from calferry.psa.threads import LocalThreadGate, ThreadGate


def run(spec: dict[str, object]) -> Counter[str]:
    engine = engine_for(str(spec["db"])) if spec["gate"] == "pg" else None
    gate: ThreadGate = (
        PgThreadGate(PgBudget(engine, share=float(spec["share"])))
        if engine is not None
        else LocalThreadGate()  # type: ignore[arg-type]
    )
    headers = dict(spec["headers"])  # type: ignore[call-overload]
    client = AutotaskClient(
        str(spec["base_url"]),
        username=headers["UserName"],
        integration_code=headers["ApiIntegrationCode"],
        secret=headers["Secret"],
        gate=gate,
        retry=RetryPolicy(attempts=1),
        threshold_every=10**9,
        threshold_seconds=10**9,
    )
    tally: Counter[str] = Counter()
    lock = threading.Lock()

    def spend() -> None:
        for _ in range(int(spec["requests"])):  # type: ignore[call-overload]
            try:
                client.count("Resources", eq("id", 0))
                outcome = "ok"
            except BudgetShort:
                outcome = "short"
            except PsaRateLimited:
                outcome = "refused"
            with lock:
                tally[outcome] += 1

    workers = [threading.Thread(target=spend) for _ in range(int(spec["threads"]))]  # type: ignore[call-overload]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    client.close()
    if engine is not None:
        engine.dispose()
    return tally


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))))
