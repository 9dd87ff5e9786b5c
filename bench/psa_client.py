"""Request counts and timings of a full PSA snapshot: 1,000 items of each kind for one technician.

Starts ``calferry psa serve`` in-process on loopback (a temp SQLite file, demo seed), inserts N
appointments, N to-dos and N service calls (each holding one ticket assigned to the technician)
straight into its database, then reads them through ``AutotaskPsa`` and prints what it cost.

    .venv/bin/python bench/psa_client.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import Engine, select

from calferry.model import PsaKind, Window
from calferry.psa.autotask import AutotaskClient
from calferry.psa.gateway import AutotaskPsa
from calferry.psa.server.app import base_url, bind, create_app
from calferry.psa.server.models import TABLES
from calferry.psa.server.seed import bulk_appointments
from calferry.psa.server.state import Settings

TECH = "tech.ny@demo.calferry.local"
START = datetime(2031, 1, 1)


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(db_url=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", seed="demo")
        app = create_app(settings)
        engine: Engine = app.state.psa.engine
        rid = _resource(engine)
        t0 = time.perf_counter()
        _seed(engine, n, rid)
        print(f"seeded {n} appointments, {n} to-dos, {n} service calls in {time.perf_counter() - t0:.1f} s")
        sock = bind("127.0.0.1", 0)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        try:
            _measure(base_url(sock), settings, rid, n)
        finally:
            server.should_exit = True
            thread.join(10)
            sock.close()


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


def _resource(engine: Engine) -> int:
    table = TABLES["Resources"]
    with engine.connect() as conn:
        return int(conn.execute(select(table.c.id).where(table.c.email == TECH)).scalar_one())


def _seed(engine: Engine, n: int, rid: int) -> None:
    """N of each kind, one per day from START, for one technician (naive UTC, as the server stores)."""
    bulk_appointments(engine, n, rid, START, step_minutes=24 * 60)
    with engine.begin() as conn:
        company = int(conn.execute(select(TABLES["Companies"].c.id).limit(1)).scalar_one())
        ticket = int(conn.execute(select(TABLES["Tickets"].c.id).limit(1)).scalar_one())
        days = [START + timedelta(days=k, hours=10) for k in range(n)]
        conn.execute(TABLES["CompanyToDos"].insert(), [
            {"companyID": company, "actionType": 3, "assignedToResourceID": rid, "startDateTime": d,
             "endDateTime": d + timedelta(minutes=30), "lastModifiedDate": d} for d in days
        ])  # fmt: skip
        calls = TABLES["ServiceCalls"]
        conn.execute(calls.insert(), [
            {"companyID": company, "startDateTime": d, "endDateTime": d + timedelta(hours=2),
             "description": f"Visit {k}", "lastModifiedDateTime": d} for k, d in enumerate(days)
        ])  # fmt: skip
        call_ids = conn.execute(select(calls.c.id).where(calls.c.startDateTime >= START)).scalars().all()
        links = TABLES["ServiceCallTickets"]
        conn.execute(links.insert(), [{"serviceCallID": c, "ticketID": ticket} for c in call_ids])
        link_ids = conn.execute(select(links.c.id).where(links.c.serviceCallID.in_(call_ids))).scalars().all()
        conn.execute(
            TABLES["ServiceCallTicketResources"].insert(),
            [{"serviceCallTicketID": link, "resourceID": rid} for link in link_ids],
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
