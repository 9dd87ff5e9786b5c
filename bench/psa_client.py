"""Request counts and timings of a full PSA snapshot: 1,000 items of each kind for one technician.

Starts ``calferry psa serve`` in-process on loopback (a temp SQLite file, demo seed), inserts N
appointments, N to-dos and N service calls (each holding one ticket assigned to the technician)
straight into its database, then reads them through ``AutotaskPsa`` and prints what it cost.

    .venv/bin/python bench/psa_client.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from psa_bench_server import resource_id, seed_items, serving
from sqlalchemy import Engine

from calferry.model import PsaKind, Window
from calferry.psa.autotask import AutotaskClient
from calferry.psa.gateway import AutotaskPsa
from calferry.psa.server.app import create_app
from calferry.psa.server.state import Settings

START = datetime(2031, 1, 1)


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(db_url=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", seed="demo")
        app = create_app(settings)
        engine: Engine = app.state.psa.engine
        rid = resource_id(engine)
        t0 = time.perf_counter()
        seed_items(engine, rid, START, n, n, n)
        print(f"seeded {n} appointments, {n} to-dos, {n} service calls in {time.perf_counter() - t0:.1f} s")
        with serving(app) as url:
            _measure(url, settings, rid, n)


def _measure(url: str, settings: Settings, rid: int, n: int) -> None:
    window = Window(START.replace(tzinfo=UTC), (START + timedelta(days=n + 2)).replace(tzinfo=UTC))
    kinds = (PsaKind.APPOINTMENT, PsaKind.TODO, PsaKind.SERVICE_CALL)
    for label, call in (("snapshot", "snapshot"), ("markers", "markers")):
        client = AutotaskClient(
            url,
            username=settings.username,
            integration_code=settings.integration_code,
            secret=settings.secret,
        )
        psa = AutotaskPsa(client, resource=rid)
        t0 = time.perf_counter()
        result: Any = getattr(psa, call)(window, rid, kinds)
        elapsed = time.perf_counter() - t0
        items = result.items if call == "snapshot" else result
        print(f"\n{label}: {len(items)} items in {elapsed:.2f} s, {client.stats['total']} requests")
        for key, count in sorted(client.stats.items()):
            if key != "total":
                print(f"  {count:4d}  {key}")
        psa.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
