"""Writes on the PSA server: validation, PATCH/PUT, markers, parent URLs, impersonation, permissions (R33)."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from calferry.psa.server.problems import NO_MATCHING_RECORDS

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


def test_update_of_missing_item_is_404_and_delete_is_autotasks_500(client):
    assert client.patch("Appointments", json={"id": 987654, "title": "x"}).status_code == 404
    answer = client.delete("Appointments/987654")
    assert answer.status_code == 500 and answer.json() == {"errors": [NO_MATCHING_RECORDS]}


def test_delete_answers_item_id_and_removes(client, ids):
    item_id = client.post("Appointments", json=_appointment(ids["ny"])).json()["itemId"]
    assert client.delete(f"Appointments/{item_id}").json() == {"itemId": item_id}
    assert client.get(f"Appointments/{item_id}").status_code == 404


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
    assert wrong_parent.status_code == 500 and wrong_parent.json() == {"errors": [NO_MATCHING_RECORDS]}
    assert client.delete(f"{url}/{item_id}").json() == {"itemId": item_id}
    assert client.get(f"CompanyToDos/{item_id}").status_code == 404


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
    [message] = answer.json()["errors"]
    assert "does not have the adequate permissions" in message and "CRM access" in message
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
    assert client.get(f"ServiceCallTasks/{sck}").status_code == 404  # children go with the call
    assert client.get(f"ServiceCallTaskResources/{sckr}").status_code == 404


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
    body = {
        "companyID": ids["company"],
        "title": "VPN down",
        "status": 1,
        "priority": 2,
        "dueDateTime": "2030-01-01T17:00:00Z",
    }
    ticket_id = client.post("Tickets", json=body).json()["itemId"]
    ticket = client.get(f"Tickets/{ticket_id}").json()["item"]
    assert re.fullmatch(r"T\d{8}\.\d{4}", ticket["ticketNumber"])
    assert client.delete(f"Tickets/{ticket_id}").status_code == 405


def test_resources_take_updates_only(client, ids):
    assert client.post("Resources", json={"firstName": "New"}).status_code == 405
    answer = client.patch("Resources", json={"id": ids["ny"], "officePhone": "+1 555 0100"})
    resource = client.get(f"Resources/{ids['ny']}").json()["item"]
    assert answer.status_code == 200 and resource["officePhone"] == "+1 555 0100"
    invented = client.patch("Resources", json={"id": ids["ny"], "securityLevel": 1})
    assert invented.status_code == 500 and "securityLevel" in invented.json()["errors"][0]


def test_system_action_types_cannot_be_deleted(client):
    assert client.delete("ActionTypes/1").status_code == 500
    custom = client.post("ActionTypes", json={"name": "Site visit", "isActive": True, "view": 1}).json()[
        "itemId"
    ]
    assert client.delete(f"ActionTypes/{custom}").json() == {"itemId": custom}


# --- every §5 update URL: answer shape, change markers, PUT nulls, read-only fields ---------------------

OLD = "2000-01-01T00:00:00Z"


@dataclass(frozen=True)
class UpdateCase:
    """One entity's update URL and what a PATCH/PUT of it must do (autotask-api.md §2.6, §3)."""

    entity: str
    url: str  # formatted with the item's fields
    pick: tuple[str, Any] | None  # (field, value) of the demo row to write; None: the first row
    required: tuple[str, ...]  # copied from the stored row into a PUT body
    change: dict[str, Any]
    optional: tuple[str, Any] | None  # an optional writable field: PATCH keeps it, PUT nulls it
    read_only: dict[str, Any]  # sent with made-up values: must be ignored
    markers: tuple[str, ...]  # change markers that move on every write (none for some entities)


SERVICE_CALLS = UpdateCase(
    "ServiceCalls", "ServiceCalls", None, ("companyID", "startDateTime", "endDateTime"),
    {"description": "Rescheduled visit", "status": 2}, ("isComplete", 1),
    {"duration": 99.0, "cancelationNoticeHours": 5.0, "createDateTime": OLD, "creatorResourceID": 1,
     "lastModifiedDateTime": OLD},
    ("lastModifiedDateTime",),
)  # fmt: skip
COMPANIES = UpdateCase(
    "Companies", "Companies", ("companyName", "Contoso Dental"),
    ("companyName", "companyType", "ownerResourceID", "phone"), {"phone": "+1 212 555 0199"},
    ("address2", "Suite 100"), {"createDate": OLD, "lastActivityDate": OLD, "lastTrackedModifiedDateTime": OLD},
    ("lastTrackedModifiedDateTime",),
)  # fmt: skip
CONTACTS = UpdateCase(
    "Contacts", "Companies/{companyID}/Contacts", None, ("firstName", "lastName", "isActive"),
    {"title": "Office manager"}, ("mobilePhone", "+1 555 0142"),
    {"createDate": OLD, "lastActivityDate": OLD, "lastModifiedDate": OLD}, ("lastModifiedDate",),
)  # fmt: skip
TICKETS = UpdateCase(
    "Tickets", "Tickets", None, ("companyID", "title", "status", "priority", "dueDateTime"), {"status": 8},
    ("description", "Paper jam again"),
    {"ticketNumber": "T20000101.9999", "creatorType": 4, "createDate": OLD, "lastActivityDate": OLD,
     "lastTrackedModificationDateTime": OLD},
    ("lastTrackedModificationDateTime", "lastActivityDate"),
)  # fmt: skip
ACTION_TYPES = UpdateCase(
    "ActionTypes", "ActionTypes", ("name", "Email"), ("name", "isActive", "view"), {"view": 3}, None,
    {"isSystemActionType": True}, (),
)  # fmt: skip
RESOURCES = UpdateCase(
    "Resources", "Resources", ("email", "tech.berlin@demo.calferry.local"),
    ("firstName", "lastName", "email", "emailTypeCode", "userName", "isActive", "resourceType", "payrollType",
     "numberFormat"),
    {"title": "Field engineer"}, ("officePhone", "+49 30 555 0110"),
    {"locationID": 1, "userType": 17, "hireDate": OLD, "dateFormat": "dd.MM.yyyy", "timeFormat": "h:mm a",
     "internalCost": 12.5},
    (),
)  # fmt: skip
UPDATES = [
    (SERVICE_CALLS, "PATCH"), (SERVICE_CALLS, "PUT"), (COMPANIES, "PUT"), (CONTACTS, "PATCH"), (CONTACTS, "PUT"),
    (TICKETS, "PATCH"), (TICKETS, "PUT"), (ACTION_TYPES, "PATCH"), (ACTION_TYPES, "PUT"), (RESOURCES, "PUT"),
]  # fmt: skip


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _item(client: httpx.Client, entity: str, item_id: int) -> dict | None:
    """The item, or None when the server answers 404 (it does not exist)."""
    answer = client.get(f"{entity}/{item_id}")
    return None if answer.status_code == 404 else answer.json()["item"]


def _writable(client: httpx.Client, entity: str) -> set[str]:
    """The entity's writable fields, as its ``entityInformation/fields`` describes them."""
    fields = client.get(f"{entity}/entityInformation/fields").json()["fields"]
    return {f["name"] for f in fields if not f["isReadOnly"]}


@pytest.mark.parametrize(("case", "verb"), UPDATES, ids=[f"{verb} {case.entity}" for case, verb in UPDATES])
def test_update_answers_item_id_moves_the_marker_and_ignores_read_only_fields(client, case, verb):
    picked = _one(client, case.entity, *case.pick) if case.pick else _one(client, case.entity, "id", 1)
    item_id = picked["id"]
    url = case.url.format(**picked)
    if case.optional:  # make sure the optional field holds a value a PUT must clear
        assert client.patch(url, json={"id": item_id, case.optional[0]: case.optional[1]}).status_code == 200
    before = _item(client, case.entity, item_id)
    body = {"id": item_id, **case.change, **case.read_only}
    if verb == "PUT":
        body = {name: before[name] for name in case.required} | body
    answer = client.request(verb, url, json=body)
    after = _item(client, case.entity, item_id)
    assert answer.status_code == 200 and answer.json() == {"itemId": item_id}
    assert {k: after[k] for k in case.change} == case.change
    for marker in case.markers:
        assert _when(after[marker]) > _when(before[marker]), marker
    assert {k: after[k] for k in case.read_only if k not in case.markers} == {
        k: before[k] for k in case.read_only if k not in case.markers
    }
    if case.optional:
        assert after[case.optional[0]] == (case.optional[1] if verb == "PATCH" else None)
    if verb == "PUT":  # every writable field left out of the body (and not given by the URL) is now null
        from_url = {name for _, name, _, _ in string.Formatter().parse(case.url) if name}
        omitted = _writable(client, case.entity) - set(body) - from_url
        assert {k: after[k] for k in omitted} == dict.fromkeys(omitted)
    else:  # PATCH leaves everything it was not sent alone
        untouched = set(after) - set(case.change) - set(case.markers)
        assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched}


@dataclass(frozen=True)
class DeleteCase:
    """A child deleted through its parent's URL, and the grandchildren that go with it."""

    entity: str
    url: str  # formatted with the item's fields
    parent: tuple[str, str]  # (parent entity, key field)
    cascade: tuple[str, str] | None  # (child entity, key field) deleted along


DELETES = [
    DeleteCase("ServiceCallTickets", "ServiceCalls/{serviceCallID}/Tickets/{id}", ("ServiceCalls", "serviceCallID"),
               ("ServiceCallTicketResources", "serviceCallTicketID")),
    DeleteCase("ServiceCallTasks", "ServiceCalls/{serviceCallID}/Tasks/{id}", ("ServiceCalls", "serviceCallID"),
               ("ServiceCallTaskResources", "serviceCallTaskID")),
    DeleteCase("ServiceCallTaskResources", "ServiceCallTasks/{serviceCallTaskID}/Resources/{id}",
               ("ServiceCallTasks", "serviceCallTaskID"), None),
]  # fmt: skip


@pytest.mark.parametrize("case", DELETES, ids=[f"DELETE {c.url}" for c in DELETES])
def test_delete_through_the_parent_url_answers_item_id_and_removes_it(client, case):
    item = _one(client, case.entity, "id", 1)
    parent_entity, key = case.parent
    children = []
    if case.cascade:
        children = [c["id"] for c in _all(client, case.cascade[0]) if c[case.cascade[1]] == item["id"]]
        assert children
    wrong = client.delete(case.url.format(**(item | {key: 999999})))
    assert wrong.status_code == 500 and wrong.json() == {"errors": [NO_MATCHING_RECORDS]}
    assert _item(client, case.entity, item["id"]) is not None
    answer = client.delete(case.url.format(**item))
    assert answer.status_code == 200 and answer.json() == {"itemId": item["id"]}
    assert client.get(f"{case.entity}/{item['id']}").status_code == 404
    assert _item(client, parent_entity, item[key]) is not None  # the parent stays
    if case.cascade:
        assert all(_item(client, case.cascade[0], child) is None for child in children)


def _all(client: httpx.Client, entity: str) -> list[dict]:
    body = {"filter": [{"op": "gte", "field": "id", "value": 0}]}
    return client.post(f"{entity}/query", json=body).json()["items"]


def test_a_contact_is_deleted_through_its_company_url_only(client, ids):
    contact = _one(client, "Contacts", "companyID", ids["company"])
    assert client.delete(f"Contacts/{contact['id']}").status_code == 405
    foreign = client.delete(f"Companies/{ids['other_company']}/Contacts/{contact['id']}")
    assert foreign.status_code == 500  # Autotask: "No matching records found"
    assert "No matching records found" in foreign.json()["errors"][0]
    answer = client.delete(f"Companies/{ids['company']}/Contacts/{contact['id']}")
    assert answer.json() == {"itemId": contact["id"]}
    assert _item(client, "Contacts", contact["id"]) is None
    assert client.get("Contacts/entityInformation").json()["info"]["canDelete"] is True
