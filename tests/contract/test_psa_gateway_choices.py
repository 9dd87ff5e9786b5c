"""The pick lists of the web forms: ``active_companies``, ``open_work`` (of one company), ``todo_action_types`` and
``contacts_of``, on the demo server and in memory; and a foreign ticket or task refused by ``work``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from calferry.errors import LookupFailed
from calferry.model import ActionType, Address, Company, Contact, Resource, ServiceCallWork, WorkKind
from calferry.psa.gateway import AutotaskPsa
from calferry.psa.memory import MemoryPsa
from calferry.psa.query import eq, gte
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


def test_r14_todo_action_types_are_those_valid_for_to_dos_by_name(psa: AutotaskPsa) -> None:
    names = [t.name for t in psa.todo_action_types()]
    assert names == ["Email", "General", "Meeting", "Phone Call"]  # not calendar-only nor "None"
    assert psa.action_type("Opportunity Update").for_todos is False


def test_r14_contacts_of_a_company_only(psa: AutotaskPsa) -> None:
    contoso = psa.company("Contoso Dental")
    mine = psa.contacts_of(contoso.id)
    assert len(mine) == 2 and {c.company_id for c in mine} == {contoso.id}
    assert [c.name for c in mine] == sorted((c.name for c in mine), key=str.lower)


def test_r30_open_work_of_a_company_and_a_foreign_ticket_refused(psa: AutotaskPsa) -> None:
    contoso = psa.company("Contoso Dental")
    tickets = list(psa.client.query("Tickets", gte("id", 0)))
    own = {t["id"] for t in tickets if t["companyID"] == contoso.id}
    assert {w.id for w in psa.open_work("ticket", company_id=contoso.id)} == own
    assert psa.open_work("task", company_id=contoso.id) == []  # its projects: none
    fabrikam = psa.company("Fabrikam Logistik GmbH")
    projects = {p["id"] for p in psa.client.query("Projects", eq("companyID", fabrikam.id))}
    tasks = {t["id"] for t in psa.client.query("Tasks", gte("id", 0)) if t["projectID"] in projects}
    assert tasks and {w.id for w in psa.open_work("task", company_id=fabrikam.id)} == tasks
    with pytest.raises(LookupFailed, match="belongs to another company"):
        psa.work("task", "Move rack 1", contoso.id)
    assert psa.work("task", "Move rack 1", fabrikam.id).title == "Move rack 1"
    foreign = next(t for t in tickets if t["companyID"] != contoso.id)
    with pytest.raises(LookupFailed, match="belongs to another company"):
        psa.work("ticket", foreign["ticketNumber"], contoso.id)
    assert psa.work("ticket", foreign["ticketNumber"], foreign["companyID"]).id == foreign["id"]


def test_memory_psa_filters_by_company_and_to_do_action_types() -> None:
    me = Resource(1, "Tess", "Tech", email="tess@example.com")
    memory = MemoryPsa(
        me,
        contacts=[Contact(5, 1, "Zoe", "Z"), Contact(6, 1, "Al", "A"), Contact(7, 2, "Bo", "B")],
        action_types=[ActionType(1, "Meeting"), ActionType(0, "Opportunity Update", for_todos=False)],
        work=[
            ServiceCallWork(WorkKind.TICKET, 7, "T1", "Printer"),
            ServiceCallWork(WorkKind.TICKET, 9, "T2", "Fax"),
        ],
        work_companies={7: 1, 9: 2},
    )
    assert [c.name for c in memory.contacts_of(1)] == ["Al A", "Zoe Z"]
    assert [t.name for t in memory.todo_action_types()] == ["Meeting"]
    assert [w.id for w in memory.open_work("ticket", company_id=2)] == [9]
    with pytest.raises(LookupFailed, match="another company"):
        memory.work("ticket", "T1", 2)
