"""What the PSA benchmarks share: the local Autotask-compatible server in a thread, seeded fast.

Rows go straight into the server's database (executemany), since seeding through the API would take
longer than what is measured. Times are naive UTC, as the server stores them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import uvicorn
from sqlalchemy import Engine, select

from calferry.psa.server.app import base_url, bind
from calferry.psa.server.models import TABLES
from calferry.psa.server.seed import bulk_appointments

TECH = "tech.ny@demo.calferry.local"


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app on a free loopback port (real HTTP) until the block ends; yields its base URL."""
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield base_url(sock)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def resource_id(engine: Engine, email: str = TECH) -> int:
    table = TABLES["Resources"]
    with engine.connect() as conn:
        return int(conn.execute(select(table.c.id).where(table.c.email == email)).scalar_one())


def seed_items(engine: Engine, rid: int, start: datetime, appointments: int, todos: int, calls: int) -> None:
    """Items of each kind for one technician, one per day from ``start`` (naive UTC); each service call
    holds one ticket assigned to the technician, so that it is theirs."""
    bulk_appointments(engine, appointments, rid, start, step_minutes=24 * 60)
    with engine.begin() as conn:
        company = int(conn.execute(select(TABLES["Companies"].c.id).limit(1)).scalar_one())
        ticket = int(conn.execute(select(TABLES["Tickets"].c.id).limit(1)).scalar_one())
        _todos(conn, company, rid, [start + timedelta(days=k, hours=10) for k in range(todos)])
        _calls(conn, company, ticket, rid, [start + timedelta(days=k, hours=13) for k in range(calls)])


def _todos(conn: Any, company: int, rid: int, days: list[datetime]) -> None:
    conn.execute(TABLES["CompanyToDos"].insert(), [
        {"companyID": company, "actionType": 3, "assignedToResourceID": rid, "startDateTime": d,
         "endDateTime": d + timedelta(minutes=30), "lastModifiedDate": d} for d in days
    ])  # fmt: skip


def _calls(conn: Any, company: int, ticket: int, rid: int, days: list[datetime]) -> None:
    calls = TABLES["ServiceCalls"]
    rows = [
        {"companyID": company, "startDateTime": d, "endDateTime": d + timedelta(hours=2),
         "description": f"Visit {k}", "lastModifiedDateTime": d} for k, d in enumerate(days)
    ]  # fmt: skip
    if not rows:
        return
    call_ids = conn.execute(calls.insert().returning(calls.c.id), rows).scalars().all()
    links = TABLES["ServiceCallTickets"]
    link_rows = [{"serviceCallID": c, "ticketID": ticket} for c in call_ids]
    link_ids = conn.execute(links.insert().returning(links.c.id), link_rows).scalars().all()
    conn.execute(
        TABLES["ServiceCallTicketResources"].insert(),
        [{"serviceCallTicketID": link, "resourceID": rid} for link in link_ids],
    )
