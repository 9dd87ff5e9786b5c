"""Add and permissions through the CLI against the real PSA server and Radicale: R30-R33, and a PSA
that answers with errors (wrong secret, failing server): a clear error, nothing written on either side.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from calferry.model import PersonalItem
from calferry.psa.query import parse_utc
from tests.system.conftest import NOAH, Cli, at
from tests.system.get_helpers import eq, in_window, ref, resource_id

NEW_YORK = ZoneInfo("America/New_York")
COUNTED = ("Appointments", "CompanyToDos", "ServiceCalls", "ServiceCallTickets", "ServiceCallTasks")


def wall_clock(days: int, hour: int, minute: int = 0) -> tuple[str, datetime]:
    """A wall-clock time ``days`` from today as the CLI takes it (no offset) and the UTC instant it means
    for Nora (the resource's zone, America/New_York)."""
    day = (datetime.now(UTC) + timedelta(days=days)).date()
    local = datetime.combine(day, time(hour, minute), NEW_YORK)
    return local.strftime("%Y-%m-%dT%H:%M"), local.astimezone(UTC)


def company(cli: Cli, name: str) -> dict[str, Any]:
    [row] = [c for c in cli.psa_query("Companies") if c["companyName"] == name]
    return row


def counts(cli: Cli) -> dict[str, int]:
    return {entity: len(cli.psa_query(entity)) for entity in COUNTED}


def new_rows(cli: Cli, entity: str, before: set[int]) -> list[dict[str, Any]]:
    return [r for r in cli.psa_query(entity) if r["id"] not in before]


def ids(cli: Cli, entity: str) -> set[int]:
    return {r["id"] for r in cli.psa_query(entity)}


# --- R30 / R31 / R32 --------------------------------------------------------------------------------


def test_r30_add_appointment_creates_it_in_the_psa(cli: Cli) -> None:
    start_text, start = wall_clock(3, 9)
    end_text, end = wall_clock(3, 10, 30)
    before = ids(cli, "Appointments")

    added = cli.ok(
        "add", "appointment", "--title", "Site survey", "--start", start_text, "--end", end_text,
        "--description", "Measure the server room",
    )  # fmt: skip

    [row] = new_rows(cli, "Appointments", before)
    assert (row["title"], row["description"]) == ("Site survey", "Measure the server room")
    assert row["resourceID"] == resource_id(cli)
    assert parse_utc(row["startDateTime"]) == start and parse_utc(row["endDateTime"]) == end
    [create] = added.actions(action="create", ref="")
    assert (create["psa_kind"], create["psa_id"], create["outcome"]) == ("appointment", row["id"], "done")


def test_r30_add_todo_with_company_contact_and_action_type(cli: Cli) -> None:
    contoso = company(cli, "Contoso Dental")
    contact = cli.psa_query("Contacts", eq("companyID", contoso["id"]))[0]
    start_text, start = wall_clock(4, 11)
    end_text, end = wall_clock(4, 11, 30)
    before = ids(cli, "CompanyToDos")

    cli.ok(
        "add", "todo", "--company", "Contoso Dental", "--contact", f"{contact['firstName']} {contact['lastName']}",
        "--action-type", "Phone Call", "--start", start_text, "--end", end_text, "--description", "Ask about X-rays",
    )  # fmt: skip

    [row] = new_rows(cli, "CompanyToDos", before)
    assert (row["companyID"], row["contactID"], row["actionType"]) == (contoso["id"], contact["id"], 1)
    assert row["assignedToResourceID"] == resource_id(cli)
    assert row["activityDescription"] == "Ask about X-rays"
    assert parse_utc(row["startDateTime"]) == start and parse_utc(row["endDateTime"]) == end
    item = cli.personal(ref("todo", row["id"]))  # R31: the automatic Get brought it
    assert item.subject == f"Phone Call: Contoso Dental / {contact['firstName']} {contact['lastName']}"

    # without --action-type the options' default action type is used (calendar.default_action_type)
    cli.set("calendar.default_action_type", "Meeting")
    cli.ok("add", "todo", "--company", str(contoso["id"]), "--start", start_text, "--end", end_text)
    [second] = new_rows(cli, "CompanyToDos", before | {row["id"]})
    assert (second["actionType"], second["contactID"]) == (2, None)


def test_r30_add_service_call_with_a_ticket_and_a_task(cli: Cli) -> None:
    nora = resource_id(cli)
    fabrikam = company(cli, "Fabrikam Logistik GmbH")
    ticket = next(t for t in cli.psa_query("Tickets") if t["companyID"] == fabrikam["id"])
    task = cli.psa_query("Tasks")[0]
    start_text, start = wall_clock(5, 8)
    end_text, end = wall_clock(5, 12)
    before = ids(cli, "ServiceCalls")

    added = cli.ok(
        "add", "service-call", "--company", "Fabrikam Logistik GmbH", "--ticket", ticket["ticketNumber"],
        "--task", task["title"], "--start", start_text, "--end", end_text, "--description", "Rack and printer",
    )  # fmt: skip

    [call] = new_rows(cli, "ServiceCalls", before)
    assert (call["companyID"], call["description"]) == (fabrikam["id"], "Rack and printer")
    assert parse_utc(call["startDateTime"]) == start and parse_utc(call["endDateTime"]) == end
    [held_ticket] = cli.psa_query("ServiceCallTickets", eq("serviceCallID", call["id"]))
    [held_task] = cli.psa_query("ServiceCallTasks", eq("serviceCallID", call["id"]))
    assert (held_ticket["ticketID"], held_task["taskID"]) == (ticket["id"], task["id"])
    assigned = cli.psa_query("ServiceCallTicketResources", eq("serviceCallTicketID", held_ticket["id"]))
    assert [r["resourceID"] for r in assigned] == [nora]
    uid = ref("service-call", call["id"])
    assert [a["outcome"] for a in added.actions(ref=uid)] == ["done"]
    description = cli.personal(uid).description
    assert f"{ticket['ticketNumber']}: {ticket['title']}" in description
    assert f"{task['taskNumber']}: {task['title']}" in description


def test_r30_add_service_call_refuses_another_company_s_ticket_or_task(cli: Cli) -> None:
    contoso = company(cli, "Contoso Dental")
    foreign = next(t for t in cli.psa_query("Tickets") if t["companyID"] != contoso["id"])
    start_text, end_text = wall_clock(5, 8)[0], wall_clock(5, 9)[0]
    before = ids(cli, "ServiceCalls")
    for work in (("--ticket", foreign["ticketNumber"]), ("--task", "Move rack 2")):
        refused = cli.run(
            "add",
            "service-call",
            "--company",
            "Contoso Dental",
            *work,
            "--start",
            start_text,
            "--end",
            end_text,
        )
        assert (refused.exit_code, refused.data["error"]["type"]) == (5, "LookupFailed")
        assert "belongs to another company" in refused.data["error"]["message"]
    assert ids(cli, "ServiceCalls") == before


_DAY, _END = wall_clock(6, 9)[0], wall_clock(6, 10)[0]


@pytest.mark.parametrize(
    ("args", "error", "words"),
    [
        (("appointment", "--start", _DAY, "--end", _END), "InputError", "needs a title"),
        (("appointment", "--title", "  ", "--start", _DAY, "--end", _END), "InputError", "needs a title"),
        (("appointment", "--title", "No times"), "InputError", "start and end are required"),
        (("appointment", "--title", "Bad", "--start", "next monday", "--end", _END), "InputError", "--start"),
        (
            ("appointment", "--title", "Backwards", "--start", _END, "--end", _DAY),
            "MappingError",
            "after the start",
        ),
        (("todo", "--start", _DAY, "--end", _END), "InputError", "needs a company"),
        (
            ("todo", "--company", "Nonexistent Ltd", "--start", _DAY, "--end", _END),
            "LookupFailed",
            "Nonexistent",
        ),
        (
            (
                "todo",
                "--company",
                "Contoso Dental",
                "--contact",
                "Nobody Here",
                "--start",
                _DAY,
                "--end",
                _END,
            ),
            "LookupFailed",
            "Nobody Here",
        ),
        (
            ("service-call", "--company", "Contoso Dental", "--start", _DAY, "--end", _END),
            "InputError",
            "ticket or task",
        ),
        (("service-call", "--start", _DAY, "--end", _END, "--ticket", "x"), "InputError", "needs a company"),
        (
            (
                "service-call",
                "--company",
                "Contoso Dental",
                "--ticket",
                "T00000000.9999",
                "--start",
                _DAY,
                "--end",
                _END,
            ),
            "LookupFailed",
            "T00000000.9999",
        ),
    ],
)
def test_r30_missing_or_wrong_required_fields_give_clear_errors_and_create_nothing(
    cli: Cli, args: tuple[str, ...], error: str, words: str
) -> None:
    before = counts(cli)

    refused = cli.run("add", *args)

    assert refused.exit_code == 5, refused.stdout
    assert refused.data["error"]["type"] == error
    assert words in refused.data["error"]["message"]
    assert counts(cli) == before
    assert cli.personal_items() == []  # and no automatic Get ran either
    assert cli.ok("log").data["entries"] == []


def test_r31_add_runs_a_get_with_the_current_options(cli: Cli) -> None:
    cli.set("calendar.get_kinds", "appointment")
    cli.set("calendar.get_future_days", "10")
    nora_rows = [
        r for r in cli.psa_query("Appointments", eq("resourceID", resource_id(cli))) if in_window(r, 7, 10)
    ]
    start_text, _ = wall_clock(2, 15)
    end_text, _ = wall_clock(2, 16)
    assert cli.personal_items() == []

    added = cli.ok("add", "appointment", "--title", "Pick up parts", "--start", start_text, "--end", end_text)

    new_id = added.actions(action="create", ref="")[0]["psa_id"]
    expected = {ref("appointment", r["id"]) for r in nora_rows} | {ref("appointment", new_id)}
    assert {a["ref"] for a in added.actions(action="create", outcome="done") if a["ref"]} == expected
    assert {
        i.uid for i in cli.personal_items()
    } == expected  # no to-dos, no service calls, nothing past day 10
    assert cli.personal(ref("appointment", new_id)).subject == "Pick up parts"
    assert [e["ref"] for e in cli.ok("log", "--limit", "100").data["entries"]].count("") == 1


def test_r32_added_appointment_has_no_location_service_call_has_the_company_address(cli: Cli) -> None:
    northwind = company(cli, "Northwind Traders Pty")
    ticket = next(t for t in cli.psa_query("Tickets") if t["companyID"] == northwind["id"])
    start_text, _ = wall_clock(8, 9)
    end_text, _ = wall_clock(8, 11)

    appointment = cli.ok(
        "add", "appointment", "--title", "Quiet work", "--start", start_text, "--end", end_text
    )
    call = cli.ok(
        "add", "service-call", "--company", str(northwind["id"]), "--ticket", ticket["title"],
        "--start", start_text, "--end", end_text,
    )  # fmt: skip

    appointment_id = appointment.actions(action="create", ref="")[0]["psa_id"]
    row = cli.psa_get("Appointments", appointment_id)
    assert row is not None and not any("location" in key.lower() for key in row)
    assert cli.personal(ref("appointment", appointment_id)).location == ""
    call_id = call.actions(action="create", ref="")[0]["psa_id"]
    location = cli.personal(ref("service-call", call_id)).location
    assert location == "1 Macquarie Street, 2000 Sydney, NSW, Australia"  # the company's, with its country
    assert cli.personal(ref("service-call", call_id)).subject == "Service Call: Northwind Traders Pty"


# --- R33 --------------------------------------------------------------------------------------------


def test_r33_todo_add_without_crm_access_is_refused_and_nothing_is_half_created(cli: Cli) -> None:
    cli.set("psa.resource", NOAH)
    start_text, _ = wall_clock(2, 10)
    end_text, _ = wall_clock(2, 11)
    before = counts(cli)

    refused = cli.run(
        "add", "todo", "--company", "Contoso Dental", "--start", start_text, "--end", end_text,
        "--description", "Should never exist",
    )  # fmt: skip

    assert refused.exit_code == 8
    assert refused.data["error"]["type"] == "PermissionDenied"
    message = refused.data["error"]["message"]
    assert "CRM access" in message and "to-do" in message.lower()
    assert counts(cli) == before
    assert cli.psa_query("CompanyToDos", eq("activityDescription", "Should never exist")) == []
    assert cli.personal_items() == []  # no automatic Get after a refusal
    assert [e["outcome"] for e in cli.ok("log").data["entries"]] == ["failed"]
    assert cli.ok("status").data["pending_intents"] == 0

    # an appointment needs no CRM: Noah may add one
    cli.ok("add", "appointment", "--title", "Noah's own time", "--start", start_text, "--end", end_text)
    noah = resource_id(cli, NOAH)
    assert [
        r["title"]
        for r in cli.psa_query("Appointments", eq("resourceID", noah), eq("title", "Noah's own time"))
    ]


def test_r33_todo_send_without_crm_access_is_refused_cleanly(cli: Cli) -> None:
    cli.set("psa.resource", NOAH)
    cli.create(PersonalItem("r33-call", at(3, 9), at(3, 10), "Call Contoso"))
    before = counts(cli)

    refused = cli.run("send", "r33-call", "--as", "todo", "--company", "Contoso Dental")

    assert refused.exit_code == 8
    [action] = refused.actions(ref="r33-call")
    assert action["outcome"] == "failed" and "CRM access" in action["error"]
    assert counts(cli) == before
    item = cli.personal("r33-call")
    assert item.stamp is None and item.subject == "Call Contoso"
    [listed] = [i for i in cli.ok("items").data["items"] if i["ref"] == "r33-call"]
    assert listed["state"] == "not sent"
    assert cli.ok("status").data["pending_intents"] == 0

    # the same item may still go as an appointment
    sent = cli.ok("send", "r33-call")
    assert [a["outcome"] for a in sent.actions(ref="r33-call")] == ["done"]


# --- a PSA answering errors -------------------------------------------------------------------------


def test_psa_wrong_secret_is_a_psa_auth_error_and_nothing_is_written(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.create(PersonalItem("own", at(1, 12), at(1, 13), "Lunch"))
    monkeypatch.setenv("CALFERRY_PSA_SECRET", "wrong-secret-4711")
    before = counts(cli)
    start_text, _ = wall_clock(2, 10)
    end_text, _ = wall_clock(2, 11)

    for args in (
        ("get",),
        ("get", "--dry-run"),
        ("send", "own"),
        ("add", "appointment", "--title", "Never", "--start", start_text, "--end", end_text),
    ):
        refused = cli.run(*args)
        assert refused.exit_code == 9, (args, refused.stdout)
        assert refused.data["error"]["type"] == "PsaAuthError"
        assert "calferry login" in refused.data["error"]["message"]
        assert "wrong-secret-4711" not in refused.stdout + refused.stderr

    assert counts(cli) == before
    assert [i.uid for i in cli.personal_items()] == ["own"]
    assert cli.personal("own").stamp is None


def test_psa_failing_server_stops_get_and_add_with_nothing_written(cli: Cli) -> None:
    before = counts(cli)
    start_text, _ = wall_clock(2, 10)
    end_text, _ = wall_clock(2, 11)
    faults = cli.psa_server.state.settings.faults
    saved = faults.kinds, faults.rate
    faults.kinds, faults.rate = ("500",), 1.0
    try:
        outcomes = [
            cli.run("get"),
            cli.run("add", "appointment", "--title", "Never", "--start", start_text, "--end", end_text),
        ]
    finally:
        faults.kinds, faults.rate = saved

    for outcome in outcomes:
        assert outcome.exit_code == 9, outcome.stdout
        assert outcome.data["error"]["type"].startswith("Psa")
    assert counts(cli) == before
    assert cli.personal_items() == []
    assert len(cli.ok("get").actions(action="create", outcome="done")) > 0  # healthy again
