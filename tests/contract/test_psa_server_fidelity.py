"""Clients written for Autotask work unchanged (issue 12 item 6): PascalCase field names in bodies, filters
and IncludeFields, and every field Autotask documents for a served entity (``catalog.py``)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import create_engine, inspect, text

from calferry.psa.server.catalog import CATALOG
from calferry.psa.server.entities import ENTITIES
from calferry.psa.server.state import ServerState, Settings


class PascalClient:
    """A small Autotask client as someone else would write it: zone look-up, PascalCase, plain httpx."""

    def __init__(self, zone_root: str, user: str, code: str, secret: str) -> None:
        zone = httpx.get(f"{zone_root}zoneInformation", params={"user": user}).json()
        headers = {"ApiIntegrationCode": code, "UserName": user, "Secret": secret}
        self.http = httpx.Client(base_url=zone["url"] + "V1.0/", headers=headers, timeout=10)

    def create(self, url: str, item: dict) -> int:
        answer = self.http.post(url, json=item)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["itemId"])

    def find(self, entity: str, field: str, value: object, *fields: str) -> list[dict]:
        query = {"Filter": [{"Op": "eq", "Field": field, "Value": value}], "IncludeFields": list(fields)}
        answer = self.http.post(f"{entity}/query", json=query)
        assert answer.status_code == 200, answer.text
        return list(answer.json()["items"])


@pytest.fixture
def pascal(psa_server) -> PascalClient:
    headers = psa_server.headers
    return PascalClient(
        psa_server.base_url, headers["UserName"], headers["ApiIntegrationCode"], headers["Secret"]
    )


def test_a_pascal_case_client_creates_a_ticket_an_appointment_and_a_to_do(pascal):
    [tech] = pascal.find("Resources", "Email", "tech.ny@demo.calferry.local", "Id", "FirstName")
    [company, *_] = pascal.find("Companies", "CompanyType", 1, "Id", "CompanyName")
    ticket = pascal.create("Tickets", {
        "CompanyID": company["id"], "Title": "Printer offline", "Status": 1, "Priority": 2, "QueueID": 8,
        "TicketType": 2, "IssueType": 4, "Source": 2, "DueDateTime": "2030-02-01T17:00:00Z",
    })  # fmt: skip
    appointment = pascal.create("Appointments", {
        "Title": "Site visit", "StartDateTime": "2030-02-01T09:00:00Z", "EndDateTime": "2030-02-01T10:00:00Z",
        "ResourceID": tech["id"], "Description": "Bring toner",
    })  # fmt: skip
    to_do = pascal.create(f"Companies/{company['id']}/ToDos", {
        "CompanyID": company["id"], "ActionType": 1, "AssignedToResourceID": tech["id"], "TicketID": ticket,
        "StartDateTime": "2030-02-02T09:00:00Z", "EndDateTime": "2030-02-02T09:30:00Z",
        "ActivityDescription": "Call back about the printer",
    })  # fmt: skip
    [stored] = pascal.find("Tickets", "QueueID", 8, "Id", "QueueID", "TicketType", "Source")
    assert stored == {"id": ticket, "queueID": 8, "ticketType": 2, "source": 2, "userDefinedFields": []}
    assert [a["id"] for a in pascal.find("Appointments", "Title", "site visit", "Id")] == [appointment]
    [found] = pascal.find("CompanyToDos", "TicketID", ticket, "ID", "ActivityDescription")
    assert (found["id"], found["activityDescription"]) == (to_do, "Call back about the printer")


def test_field_names_are_case_insensitive_in_patch_put_and_groups(pascal):
    [appointment, *_] = pascal.find("Appointments", "ResourceID", 3, "Id", "Title")
    patched = pascal.http.patch("Appointments", json={"ID": appointment["id"], "TITLE": "Renamed"})
    group = {"Filter": [{"OP": "Or", "ITEMS": [{"op": "EQ", "FIELD": "title", "VALUE": "RENAMED"}]}]}
    found = pascal.http.post("Appointments/query", json=group).json()["items"]
    assert patched.json() == {"itemId": appointment["id"]}
    assert [a["title"] for a in found] == ["Renamed"]


def test_every_documented_field_is_described_answered_and_queryable(psa_server):
    with psa_server.client() as client:
        fields = {f["name"]: f for f in client.get("Tickets/entityInformation/fields").json()["fields"]}
        ticket = client.post("Tickets/query", json={"filter": [{"op": "gte", "field": "id", "value": 0}]})
        by_queue = client.post("Tickets/query/count", json={"filter": [{"op": "exist", "field": "queueID"}]})
    documented = {row[0] for row in CATALOG["Tickets"]}
    assert documented <= set(fields) and documented <= set(ticket.json()["items"][0])
    assert fields["queueID"]["isPickList"] and fields["queueID"]["picklistValues"] == []
    assert fields["completedDate"]["isReadOnly"] and fields["dueDateTime"]["isRequired"]
    assert fields["contactID"]["isReference"] and fields["contactID"]["referenceEntityType"] == "Contacts"
    assert by_queue.json() == {"queryCount": 0}


def test_documented_read_only_fields_are_ignored_and_references_checked(psa_server):
    ticket = {"companyID": 1, "title": "T", "status": 1, "priority": 2, "dueDateTime": "2030-01-01T00:00:00Z"}
    with psa_server.client() as client:
        made = client.post("Tickets", json=ticket | {"completedDate": "2001-01-01T00:00:00Z"}).json()[
            "itemId"
        ]
        stored = client.get(f"Tickets/{made}").json()["item"]
        bad_contact = client.post("Tickets", json=ticket | {"contactID": 987654})
    assert stored["completedDate"] is None
    assert (
        bad_contact.status_code == 500 and "Contacts 987654 does not exist" in bad_contact.json()["errors"][0]
    )


def test_every_served_entity_knows_its_catalog_fields_once():
    for entity in ENTITIES:
        names = [f.name.lower() for f in entity.fields]
        assert len(names) == len(set(names)), entity.name
        assert {row[0].lower() for row in CATALOG.get(entity.name, ())} <= set(names)


def test_a_database_from_an_older_version_gets_the_new_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    ServerState(Settings(db_url=url, seed="demo")).engine.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text('ALTER TABLE "Tickets" DROP COLUMN "queueID"'))
    state = ServerState(Settings(db_url=url))
    assert "queueID" in {c["name"] for c in inspect(state.engine).get_columns("Tickets")}
    state.engine.dispose()
    engine.dispose()


def test_projects_answer_project_type_and_countries_take_updates(psa_server):
    with psa_server.client() as client:
        fields = {f["name"]: f for f in client.get("Projects/entityInformation/fields").json()["fields"]}
        project = client.post("Projects/query", json={"filter": [{"op": "exist", "field": "projectType"}]})
        typed = client.post("Projects/query", json={"filter": [{"op": "exist", "field": "type"}]})
    assert (
        "type" not in fields and fields["projectType"]["isRequired"] and fields["projectType"]["isPickList"]
    )
    assert project.json()["items"][0]["projectType"] == 8
    assert typed.status_code == 500 and "no field 'type'" in typed.json()["errors"][0]
