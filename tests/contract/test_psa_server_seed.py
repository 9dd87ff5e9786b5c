"""The demo data (``--seed demo``) and the bulk loader, as a client sees them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest

from calferry.psa.server.seed import bulk_appointments

ALL = {"filter": [{"op": "gte", "field": "id", "value": 0}]}


@pytest.fixture
def client(psa_server) -> httpx.Client:
    with psa_server.client() as c:
        yield c


def _all(client: httpx.Client, entity: str) -> list[dict]:
    return client.post(f"{entity}/query", json=ALL).json()["items"]


def test_system_action_types_and_a_custom_one(client):
    types = {t["id"]: t for t in _all(client, "ActionTypes")}
    assert {i: types[i]["name"] for i in (0, 1, 2, 3, 5)} == {
        0: "Opportunity Update", 1: "Phone Call", 2: "Meeting", 3: "General", 5: "Quick Note",
    }  # fmt: skip
    assert all(types[i]["isSystemActionType"] for i in (0, 1, 2, 3, 5))
    assert any(not t["isSystemActionType"] for t in types.values())


def test_technicians_have_email_and_location_with_time_zone(client):
    locations = {loc["id"]: loc for loc in _all(client, "InternalLocations")}
    techs = [r for r in _all(client, "Resources") if r["email"].startswith("tech.")]
    assert len(techs) >= 3
    for tech in techs:
        location = locations[tech["locationID"]]
        assert isinstance(location["timeZone"], str) and location["timeZone"]
    assert [t["lastName"] for t in techs if t["email"].startswith("tech.nocrm@")] == ["Crmless"]
    assert all("hasCrmAccess" not in t and "securityLevel" not in t for t in techs)  # not Autotask fields


def test_api_user_matches_the_demo_username(client, psa_server):
    users = [r for r in _all(client, "Resources") if r["userName"] == psa_server.headers["UserName"]]
    assert len(users) == 1 and users[0]["userType"] == 17


def test_companies_have_full_addresses_and_contacts(client):
    companies = _all(client, "Companies")
    contacts = _all(client, "Contacts")
    assert len(companies) >= 3
    for company in companies:
        assert all(company[k] for k in ("address1", "city", "state", "postalCode", "countryID", "phone"))
        assert any(c["companyID"] == company["id"] for c in contacts)


def test_service_calls_in_coming_weeks_hold_tickets_and_tasks(client):
    now = datetime.now(UTC)
    calls = _all(client, "ServiceCalls")
    tickets = {t["id"]: t for t in _all(client, "Tickets")}
    assert all(re.fullmatch(r"T\d{8}\.\d{4}", t["ticketNumber"]) for t in tickets.values())
    assert all(datetime.fromisoformat(c["startDateTime"]) > now for c in calls)
    links = _all(client, "ServiceCallTickets")
    task_links = _all(client, "ServiceCallTasks")
    for call in calls:
        assert any(link["serviceCallID"] == call["id"] and link["ticketID"] in tickets for link in links)
        assert any(link["serviceCallID"] == call["id"] for link in task_links)
    assert _all(client, "ServiceCallTicketResources") and _all(client, "ServiceCallTaskResources")


@pytest.mark.parametrize("entity", ["Appointments", "CompanyToDos"])
def test_calendar_items_in_past_and_future(client, entity):
    now = datetime.now(UTC)
    starts = [datetime.fromisoformat(i["startDateTime"]) for i in _all(client, entity)]
    assert any(s < now for s in starts) and any(s > now for s in starts)


def test_bulk_appointments_inserts_n_items(psa_server, client):
    tech = next(r for r in _all(client, "Resources") if r["email"].startswith("tech.ny@"))
    flt = {"filter": [{"op": "eq", "field": "resourceID", "value": tech["id"]},
                      {"op": "gte", "field": "startDateTime", "value": "2032-01-01T00:00:00Z"}]}  # fmt: skip
    bulk_appointments(psa_server.state.engine, 2500, tech["id"], datetime(2032, 1, 1, tzinfo=UTC))
    assert client.post("Appointments/query/count", json=flt).json() == {"queryCount": 2500}


def test_every_company_country_exists_and_one_country_is_the_active_default(client):
    countries = {c["id"]: c for c in _all(client, "Countries")}
    for company in _all(client, "Companies"):
        country = countries[company["countryID"]]
        assert country["isActive"] and country["displayName"] and len(country["countryCode"]) == 2
    assert {(c["id"], c["countryCode"]) for c in countries.values()} >= {(237, "US"), (83, "DE"), (14, "AU")}
    assert [c["countryCode"] for c in countries.values() if c["isDefaultCountry"] and c["isActive"]] == ["US"]


def test_an_unseeded_database_holds_the_countries_too(psa_server_factory):
    server = psa_server_factory(seed=None)
    with server.client() as c:
        assert _all(c, "Companies") == []
        assert {country["id"] for country in _all(c, "Countries")} == {14, 83, 237}
        assert c.post("Countries/query/count", json=ALL).json() == {"queryCount": 3}
