"""Writes on the PSA server: validation, PATCH/PUT, markers, parent URLs, impersonation, permissions (R33)."""

from __future__ import annotations

import re

import httpx
import pytest

PERMISSION = "The logged in Resource does not have the adequate permissions to create this entity type."


def _one(client: httpx.Client, entity: str, field: str, value) -> dict:
    answer = client.post(f"{entity}/query", json={"filter": [{"op": "eq", "field": field, "value": value}]})
    return answer.json()["items"][0]


def _count(client: httpx.Client, entity: str) -> int:
    body = {"filter": [{"op": "gte", "field": "id", "value": 0}]}
    return int(client.post(f"{entity}/query/count", json=body).json()["queryCount"])


@pytest.fixture
def client(psa_server) -> httpx.Client:
    with psa_server.client() as c:
        yield c


@pytest.fixture
def ids(client) -> dict[str, int]:
    """Demo record ids by role, looked up rather than assumed."""

    def res(mail: str) -> int:
        return int(_one(client, "Resources", "email", f"{mail}@demo.calferry.local")["id"])

    company = _one(client, "Companies", "companyName", "Contoso Dental")
    return {
        "api": res("api"),
        "admin": res("admin"),
        "ny": res("tech.ny"),
        "berlin": res("tech.berlin"),
        "nocrm": res("tech.nocrm"),
        "company": int(company["id"]),
        "other_company": int(_one(client, "Companies", "companyName", "Northwind Traders Pty")["id"]),
    }


def _appointment(resource: int, **extra) -> dict:
    return {
        "title": "Site survey",
        "startDateTime": "2030-03-01T09:00:00Z",
        "endDateTime": "2030-03-01T10:00:00Z",
        "resourceID": resource,
    } | extra


def _todo(ids: dict[str, int], **extra) -> dict:
    return {
        "actionType": 1,
        "assignedToResourceID": ids["ny"],
        "startDateTime": "2030-03-02T09:00:00Z",
        "endDateTime": "2030-03-02T09:30:00Z",
        "activityDescription": "Call back",
    } | extra


def test_create_answers_item_id_and_stamps_creator_and_markers(client, ids):
    answer = client.post("Appointments", json=_appointment(ids["ny"]))
    assert answer.status_code == 200 and set(answer.json()) == {"itemId"}
    item = client.get(f"Appointments/{answer.json()['itemId']}").json()["item"]
    assert item["creatorResourceID"] == ids["api"]
    assert item["createDateTime"].endswith("Z") and item["updateDateTime"].endswith("Z")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"title": None}, "'title' is required"),
        ({"startDateTime": None}, "'startDateTime' is required"),
        ({"title": "x" * 257}, "maximum is 256"),
        ({"resourceID": 999999}, "Resources 999999 does not exist"),
        ({"resourceID": False}, "expected an integer"),
        ({"title": 5}, "expected a string"),
        ({"startDateTime": "tomorrow"}, "startDateTime"),
        ({"colour": "red"}, "no field 'colour'"),
        ({"endDateTime": "2030-03-01T08:00:00Z"}, "endDateTime must not be before startDateTime"),
    ],
)
def test_invalid_creates_are_refused_with_errors(client, ids, change, fragment):
    before = _count(client, "Appointments")
    body = {k: v for k, v in (_appointment(ids["ny"]) | change).items() if v is not None}
    answer = client.post("Appointments", json=body)
    assert answer.status_code == 500
    assert any(fragment in message for message in answer.json()["errors"]), answer.json()
    assert _count(client, "Appointments") == before


def test_read_only_fields_are_ignored_on_create(client, ids):
    body = _appointment(
        ids["ny"], id=5, creatorResourceID=ids["admin"], updateDateTime="2000-01-01T00:00:00Z"
    )
    item_id = client.post("Appointments", json=body).json()["itemId"]
    item = client.get(f"Appointments/{item_id}").json()["item"]
    assert item_id != 5
    assert item["creatorResourceID"] == ids["api"]
    assert not item["updateDateTime"].startswith("2000")


def test_patch_changes_only_what_is_sent_and_moves_the_marker(client, ids):
    item_id = client.post("Appointments", json=_appointment(ids["ny"], description="keep me")).json()[
        "itemId"
    ]
    before = client.get(f"Appointments/{item_id}").json()["item"]
    answer = client.patch("Appointments", json={"id": item_id, "title": "Renamed"})
    after = client.get(f"Appointments/{item_id}").json()["item"]
    assert answer.json() == {"itemId": item_id}
    assert after["title"] == "Renamed" and after["description"] == "keep me"
    assert after["updateDateTime"] > before["updateDateTime"]
    assert after["createDateTime"] == before["createDateTime"]


def test_two_quick_writes_give_different_markers(client, ids):
    item_id = client.post("Appointments", json=_appointment(ids["ny"])).json()["itemId"]
    markers = []
    for title in ("one", "two"):
        client.patch("Appointments", json={"id": item_id, "title": title})
        markers.append(client.get(f"Appointments/{item_id}").json()["item"]["updateDateTime"])
    assert markers[0] != markers[1]
    assert re.search(r"\.\d+Z$", markers[1])


def test_put_nulls_omitted_writable_fields(client, ids):
    item_id = client.post("Appointments", json=_appointment(ids["ny"], description="gone after PUT")).json()[
        "itemId"
    ]
    answer = client.put("Appointments", json=_appointment(ids["ny"], id=item_id, title="Replaced"))
    item = client.get(f"Appointments/{item_id}").json()["item"]
    assert answer.json() == {"itemId": item_id}
    assert item["title"] == "Replaced" and item["description"] is None
    assert item["creatorResourceID"] == ids["api"]  # read-only fields survive a PUT


def test_put_without_a_required_field_is_refused(client, ids):
    item_id = client.post("Appointments", json=_appointment(ids["ny"])).json()["itemId"]
    answer = client.put("Appointments", json={"id": item_id, "title": "only a title"})
    assert answer.status_code == 500
    assert client.get(f"Appointments/{item_id}").json()["item"]["title"] == "Site survey"


def test_update_and_delete_of_missing_item_is_404(client):
    assert client.patch("Appointments", json={"id": 987654, "title": "x"}).status_code == 404
    answer = client.delete("Appointments/987654")
    assert answer.status_code == 404 and answer.json()["errors"]


def test_delete_answers_item_id_and_removes(client, ids):
    item_id = client.post("Appointments", json=_appointment(ids["ny"])).json()["itemId"]
    assert client.delete(f"Appointments/{item_id}").json() == {"itemId": item_id}
    assert client.get(f"Appointments/{item_id}").json() == {"item": None}


def test_todo_is_written_through_the_company_url(client, ids):
    url = f"Companies/{ids['company']}/ToDos"
    assert client.post("CompanyToDos", json=_todo(ids, companyID=ids["company"])).status_code == 405
    item_id = client.post(url, json=_todo(ids)).json()["itemId"]
    item = client.get(f"CompanyToDos/{item_id}").json()["item"]
    assert item["companyID"] == ids["company"] and item["lastModifiedDate"].endswith("Z")
    assert client.patch(url, json={"id": item_id, "activityDescription": "Done"}).json() == {
        "itemId": item_id
    }
    assert client.get(f"CompanyToDos/{item_id}").json()["item"]["activityDescription"] == "Done"
    assert client.put(url, json=_todo(ids, id=item_id)).status_code == 200
    wrong_parent = client.delete(f"Companies/{ids['other_company']}/ToDos/{item_id}")
    assert wrong_parent.status_code == 404
    assert client.delete(f"{url}/{item_id}").json() == {"itemId": item_id}
    assert client.get(f"CompanyToDos/{item_id}").json() == {"item": None}


def test_todo_contact_of_another_company_is_refused(client, ids):
    contact = _one(client, "Contacts", "companyID", ids["other_company"])
    answer = client.post(f"Companies/{ids['company']}/ToDos", json=_todo(ids, contactID=contact["id"]))
    assert answer.status_code == 500
    assert "another company" in answer.json()["errors"][0]


def test_r33_todo_by_resource_without_crm_is_refused_and_nothing_created(client, ids):
    before = _count(client, "CompanyToDos")
    answer = client.post(
        f"Companies/{ids['company']}/ToDos",
        json=_todo(ids, assignedToResourceID=ids["nocrm"]),
        headers={"ImpersonationResourceId": str(ids["nocrm"])},
    )
    assert answer.status_code == 500
    assert answer.json() == {"errors": [PERMISSION]}
    assert _count(client, "CompanyToDos") == before


def test_r33_todo_assigned_to_resource_without_crm_is_refused(client, ids):
    before = _count(client, "CompanyToDos")
    answer = client.post(
        f"Companies/{ids['company']}/ToDos", json=_todo(ids, assignedToResourceID=ids["nocrm"])
    )
    assert answer.status_code == 500
    assert "no CRM access" in answer.json()["errors"][0]
    assert _count(client, "CompanyToDos") == before


def test_impersonation_makes_the_resource_the_creator(client, ids):
    headers = {"ImpersonationResourceId": str(ids["ny"])}
    item_id = client.post(f"Companies/{ids['company']}/ToDos", json=_todo(ids), headers=headers).json()[
        "itemId"
    ]
    todo = client.get(f"CompanyToDos/{item_id}").json()["item"]
    assert todo["creatorResourceID"] == ids["ny"]
    assert todo["impersonatorCreatorResourceID"] == ids["api"]
    appointment_id = client.post("Appointments", json=_appointment(ids["ny"]), headers=headers).json()[
        "itemId"
    ]
    assert client.get(f"Appointments/{appointment_id}").json()["item"]["creatorResourceID"] == ids["ny"]


@pytest.mark.parametrize("target", ["999999", "not-a-number"])
def test_impersonating_an_unknown_resource_is_refused(client, ids, target):
    before = _count(client, "Appointments")
    answer = client.post(
        "Appointments", json=_appointment(ids["ny"]), headers={"ImpersonationResourceId": target}
    )
    assert answer.status_code == 500
    assert answer.json()["errors"]
    assert _count(client, "Appointments") == before


def test_appointments_belong_to_their_resource(client, ids):
    as_ny = {"ImpersonationResourceId": str(ids["ny"])}
    other = client.post("Appointments", json=_appointment(ids["berlin"]), headers=as_ny)
    assert other.status_code == 500 and "their own" in other.json()["errors"][0]
    berlin_item = client.post("Appointments", json=_appointment(ids["berlin"])).json()["itemId"]
    assert client.delete(f"Appointments/{berlin_item}", headers=as_ny).status_code == 500
    as_admin = {"ImpersonationResourceId": str(ids["admin"])}
    assert (
        client.patch("Appointments", json={"id": berlin_item, "title": "x"}, headers=as_admin).status_code
        == 200
    )


def test_api_only_resource_cannot_own_an_appointment(client, ids):
    answer = client.post("Appointments", json=_appointment(ids["api"]))
    assert answer.status_code == 500
    assert "API-only" in answer.json()["errors"][0]


def test_service_call_children_through_parent_urls(client, ids):
    call = {
        "companyID": ids["company"],
        "startDateTime": "2030-04-01T13:00:00Z",
        "endDateTime": "2030-04-01T15:30:00Z",
    }
    call_id = client.post("ServiceCalls", json=call).json()["itemId"]
    call_item = client.get(f"ServiceCalls/{call_id}").json()["item"]
    assert call_item["duration"] == 2.5 and call_item["lastModifiedDateTime"].endswith("Z")
    ticket = _one(client, "Tickets", "companyID", ids["company"])
    task = client.post("Tasks/query", json={"filter": [{"op": "gte", "field": "id", "value": 0}]}).json()[
        "items"
    ][0]
    sct = client.post(f"ServiceCalls/{call_id}/Tickets", json={"ticketID": ticket["id"]}).json()["itemId"]
    sck = client.post(f"ServiceCalls/{call_id}/Tasks", json={"taskID": task["id"]}).json()["itemId"]
    sctr = client.post(f"ServiceCallTickets/{sct}/Resources", json={"resourceID": ids["ny"]}).json()["itemId"]
    sckr = client.post(f"ServiceCallTasks/{sck}/Resources", json={"resourceID": ids["ny"]}).json()["itemId"]
    assert client.get(f"ServiceCallTickets/{sct}").json()["item"]["serviceCallID"] == call_id
    assert client.get(f"ServiceCallTaskResources/{sckr}").json()["item"]["serviceCallTaskID"] == sck
    assert client.patch(f"ServiceCalls/{call_id}/Tickets", json={"id": sct}).status_code == 405
    assert client.delete(f"ServiceCallTickets/{sct}/Resources/{sctr}").json() == {"itemId": sctr}
    assert client.delete(f"ServiceCalls/{call_id}").json() == {"itemId": call_id}
    assert client.get(f"ServiceCallTasks/{sck}").json() == {"item": None}  # children go with the call
    assert client.get(f"ServiceCallTaskResources/{sckr}").json() == {"item": None}


def test_contacts_and_tasks_through_parent_urls(client, ids):
    contact = {"firstName": "Kim", "lastName": "Park", "isActive": 1}
    contact_id = client.post(f"Companies/{ids['company']}/Contacts", json=contact).json()["itemId"]
    assert client.get(f"Contacts/{contact_id}").json()["item"]["companyID"] == ids["company"]
    project = client.post("Projects/query", json={"filter": [{"op": "gte", "field": "id", "value": 0}]})
    project_id = project.json()["items"][0]["id"]
    task = {"title": "Cable the new room", "status": 1, "taskType": 1}
    task_id = client.post(f"Projects/{project_id}/Tasks", json=task).json()["itemId"]
    number = client.get(f"Tasks/{task_id}").json()["item"]["taskNumber"]
    assert re.fullmatch(r"T\d{8}\.\d{4}", number)
    assert client.post("Tasks", json=task | {"projectID": project_id}).status_code == 405


def test_ticket_gets_a_number_and_cannot_be_deleted(client, ids):
    body = {"companyID": ids["company"], "title": "VPN down", "status": 1, "priority": 2}
    ticket_id = client.post("Tickets", json=body).json()["itemId"]
    ticket = client.get(f"Tickets/{ticket_id}").json()["item"]
    assert re.fullmatch(r"T\d{8}\.\d{4}", ticket["ticketNumber"])
    assert client.delete(f"Tickets/{ticket_id}").status_code == 405


def test_resources_take_updates_only(client, ids):
    assert client.post("Resources", json={"firstName": "New"}).status_code == 405
    answer = client.patch(
        "Resources", json={"id": ids["ny"], "officePhone": "+1 555 0100", "securityLevel": 1}
    )
    resource = client.get(f"Resources/{ids['ny']}").json()["item"]
    assert answer.status_code == 200
    assert resource["officePhone"] == "+1 555 0100" and resource["securityLevel"] == 2


def test_system_action_types_cannot_be_deleted(client):
    assert client.delete("ActionTypes/1").status_code == 500
    custom = client.post("ActionTypes", json={"name": "Site visit", "isActive": True, "view": 1}).json()[
        "itemId"
    ]
    assert client.delete(f"ActionTypes/{custom}").json() == {"itemId": custom}
