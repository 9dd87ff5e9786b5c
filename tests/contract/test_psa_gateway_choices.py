"""The pick lists of the web forms: ``active_companies`` and ``open_work``, on the demo server and in memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from calferry.model import Address, Company, Resource, ServiceCallWork, WorkKind
from calferry.psa.gateway import AutotaskPsa
from calferry.psa.memory import MemoryPsa
from tests.contract.test_autotask_client import make_client

DEMO_COMPANIES = ["Contoso Dental", "Fabrikam Logistik GmbH", "Northwind Traders Pty"]


@pytest.fixture
def psa(psa_server: Any) -> Iterator[AutotaskPsa]:
    gateway = AutotaskPsa(make_client(psa_server), resource="tech.ny@demo.calferry.local")
    yield gateway
    gateway.close()


def test_active_companies_are_sorted_by_name_in_one_request(psa_server: Any, psa: AutotaskPsa) -> None:
    with psa_server.client() as client:
        (fabrikam,) = client.post(
            "Companies/query",
            json={"filter": [{"op": "eq", "field": "companyName", "value": DEMO_COMPANIES[1]}]},
        ).json()["items"]
        client.patch("Companies", json={"id": fabrikam["id"], "isActive": False}).raise_for_status()
    companies = psa.active_companies()
    assert [c.name for c in companies] == [DEMO_COMPANIES[0], DEMO_COMPANIES[2]]  # the inactive one left out
    assert all(c.id for c in companies)
    assert psa.request_counts()["POST Companies/query"] == 1
    assert len(psa.active_companies(limit=1)) == 1


def test_open_work_leaves_complete_tickets_out(psa_server: Any, psa: AutotaskPsa) -> None:
    tickets = psa.open_work("ticket")
    assert [t.title for t in tickets] == [f"Printer queue stalls #{n}" for n in range(1, 5)]
    assert all(t.kind is WorkKind.TICKET and t.number.startswith("T") for t in tickets)
    with psa_server.client() as client:
        client.patch("Tickets", json={"id": tickets[0].id, "status": 5}).raise_for_status()
    assert [t.id for t in psa.open_work("ticket")] == [t.id for t in tickets[1:]]
    assert [t.title for t in psa.open_work("task", limit=2)] == ["Move rack 1", "Move rack 2"]


def test_memory_psa_offers_the_same_lists() -> None:
    me = Resource(1, "Tess", "Tech", email="tess@example.com")
    memory = MemoryPsa(
        me,
        companies=[
            Company(2, "b GmbH", Address()),
            Company(1, "A Ltd", Address()),
            Company(3, "Gone", Address(), False),
        ],
        work=[
            ServiceCallWork(WorkKind.TICKET, 7, "T1", "Printer"),
            ServiceCallWork(WorkKind.TASK, 8, "K1", "Rack"),
        ],
    )
    assert [c.name for c in memory.active_companies()] == ["A Ltd", "b GmbH"]
    assert [w.id for w in memory.open_work("ticket")] == [7]
