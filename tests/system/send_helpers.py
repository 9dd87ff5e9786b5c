"""Helpers of the Send-side system tests: iCalendar text for the personal calendar, PSA look-ups."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from tests.system.conftest import NORA, Cli

_UTC = "%Y%m%dT%H%M%SZ"


def vevent(uid: str, start: datetime | date, end: datetime | date | None, summary: str, *extra: str) -> str:
    """One VEVENT; a ``date`` start/end is written as VALUE=DATE; ``end=None`` leaves DTEND out."""
    lines = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", _when("DTSTART", start)]
    if end is not None:
        lines.append(_when("DTEND", end))
    lines += [f"SUMMARY:{summary}", *extra, "END:VEVENT"]
    return "".join(f"{line}\r\n" for line in lines)


def vcalendar(*events: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calferry tests//EN\r\n"
        + "".join(events)
        + "END:VCALENDAR\r\n"
    )


def _when(name: str, value: datetime | date) -> str:
    if isinstance(value, datetime):
        return f"{name}:{value.strftime(_UTC)}"
    return f"{name};VALUE=DATE:{value:%Y%m%d}"


def daily_series(uid: str, start: datetime, count: int, summary: str, *extra: str) -> str:
    """A one-hour daily series of ``count`` occurrences from ``start``."""
    return vevent(uid, start, start + timedelta(hours=1), summary, f"RRULE:FREQ=DAILY;COUNT={count}", *extra)


def resource_id(cli: Cli, email: str = NORA) -> int:
    found = cli.psa_query("Resources", {"op": "eq", "field": "email", "value": email})
    assert len(found) == 1, found
    return int(found[0]["id"])


def appointments_of(cli: Cli, resource: int) -> list[dict[str, Any]]:
    return cli.psa_query("Appointments", {"op": "eq", "field": "resourceID", "value": resource})


def appointment_ids(cli: Cli) -> set[int]:
    return {int(a["id"]) for a in cli.psa_query("Appointments")}


def todo_ids(cli: Cli) -> set[int]:
    return {int(t["id"]) for t in cli.psa_query("CompanyToDos")}


def company_id(cli: Cli, name: str) -> int:
    found = cli.psa_query("Companies", {"op": "eq", "field": "companyName", "value": name})
    assert len(found) == 1, found
    return int(found[0]["id"])


def psa_patch(cli: Cli, entity: str, **fields: Any) -> None:
    """An edit made in the PSA itself (raw REST PATCH, as Autotask takes it)."""
    with cli.psa() as client:
        answer = client.patch(entity, json=fields)
    answer.raise_for_status()


def psa_delete(cli: Cli, entity: str, item_id: int) -> None:
    with cli.psa() as client:
        answer = client.delete(f"{entity}/{item_id}")
    answer.raise_for_status()


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


def refs_of(cli: Cli, *args: str) -> list[str]:
    """The refs ``calferry items`` lists (with its flags)."""
    return [i["ref"] for i in cli.ok("items", *args).data["items"]]


def psa_item(cli: Cli, entity: str, item_id: int) -> dict[str, Any]:
    """One PSA record over raw REST; it must be there."""
    found = cli.psa_get(entity, item_id)
    assert found is not None, f"{entity}/{item_id} is not in the PSA"
    return found
