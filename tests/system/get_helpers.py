"""What the Get-side system tests share: PSA look-ups over raw HTTP, PSA edits as another PSA user
would make them, personal edits, and the refs of downloaded items."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from calferry.model import PersonalItem
from calferry.psa.query import parse_utc
from tests.system.conftest import NORA, Cli

APPOINTMENT, TODO, SERVICE_CALL = "appointment", "todo", "service-call"


def eq(field: str, value: Any) -> dict[str, Any]:
    return {"op": "eq", "field": field, "value": value}


def resource_id(cli: Cli, email: str = NORA) -> int:
    rows = cli.psa_query("Resources", eq("email", email))
    assert len(rows) == 1
    return int(rows[0]["id"])


def in_window(row: dict[str, Any], past: int = 7, future: int = 30) -> bool:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = parse_utc(row["startDateTime"]), parse_utc(row["endDateTime"])
    return start < today + timedelta(days=future + 1) and end > today - timedelta(days=past)


def nora_appointments(cli: Cli) -> list[dict[str, Any]]:
    return [r for r in cli.psa_query("Appointments", eq("resourceID", resource_id(cli))) if in_window(r)]


def service_calls_of(cli: Cli, resource: int) -> set[int]:
    """Service calls with a ticket or task assigned to ``resource``, read from the link tables."""
    calls: set[int] = set()
    for child, assignment, key in (
        ("ServiceCallTickets", "ServiceCallTicketResources", "serviceCallTicketID"),
        ("ServiceCallTasks", "ServiceCallTaskResources", "serviceCallTaskID"),
    ):
        mine = {r[key] for r in cli.psa_query(assignment, eq("resourceID", resource))}
        calls |= {r["serviceCallID"] for r in cli.psa_query(child) if r["id"] in mine}
    return calls


def ref(kind: str, psa_id: int) -> str:
    """The personal uid of a downloaded item."""
    return f"calferry-{kind}-{psa_id}"


def personal_by_uid(cli: Cli) -> dict[str, PersonalItem]:
    return {item.uid: item for item in cli.personal_items()}


def patch(cli: Cli, entity: str, body: dict[str, Any]) -> None:
    """Change a PSA item as another PSA user would (the parent URL for to-dos)."""
    with cli.psa() as client:
        if entity == "CompanyToDos":
            row = cli.psa_get("CompanyToDos", body["id"])
            assert row is not None
            answer = client.patch(f"Companies/{row['companyID']}/ToDos", json=body)
        else:
            answer = client.patch(entity, json=body)
    assert answer.status_code == 200, answer.text


def delete(cli: Cli, entity: str, item_id: int) -> None:
    with cli.psa() as client:
        if entity == "CompanyToDos":
            row = cli.psa_get("CompanyToDos", item_id)
            assert row is not None
            answer = client.delete(f"Companies/{row['companyID']}/ToDos/{item_id}")
        else:
            answer = client.delete(f"{entity}/{item_id}")
    assert answer.status_code == 200, answer.text
    assert cli.psa_get(entity, item_id) is None


def edit_personal(cli: Cli, uid: str, **changes: Any) -> PersonalItem:
    cal = cli.calendar()
    try:
        return cal.update(replace(cal.get(cli.personal(uid).key), **changes))
    finally:
        cal.close()


def state_of(cli: Cli, item_ref: str) -> str:
    found = [i for i in cli.ok("items").data["items"] if i["ref"] == item_ref]
    assert len(found) == 1, found
    return str(found[0]["state"])


def utc(value: Any) -> datetime:
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


def first_appointment(cli: Cli) -> dict[str, Any]:
    return min(nora_appointments(cli), key=lambda r: r["startDateTime"])


def weekly(uid: str, start: datetime, count: int, summary: str) -> str:
    stamp = "%Y%m%dT%H%M%SZ"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:{start:{stamp}}\r\nDTSTART:{start:{stamp}}\r\n"
        f"DTEND:{start + timedelta(hours=1):{stamp}}\r\nRRULE:FREQ=WEEKLY;COUNT={count}\r\n"
        f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
