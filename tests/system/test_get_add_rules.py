"""Get through the CLI against the real PSA server and Radicale: R4, R10, R11, R23, R24, R26, R28, R29.
Every test looks at both sides after the command.

The demo PSA gives Nora York (America/New_York) five appointments (one 10 days back, outside the
default window of 7 past and 30 future days), one to-do and two of the three service calls; the
other technicians have their own. Expectations are computed from the PSA's rows, not from calferry.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from calferry.model import PersonalItem
from calferry.psa.query import format_utc, parse_utc
from tests.system.conftest import Cli, at
from tests.system.get_helpers import (
    APPOINTMENT,
    SERVICE_CALL,
    TODO,
    edit_personal,
    eq,
    first_appointment,
    in_window,
    nora_appointments,
    patch,
    personal_by_uid,
    ref,
    resource_id,
    service_calls_of,
    state_of,
    utc,
)  # fmt: skip

# --- R23 / R26 / R10 ------------------------------------------------------------------------------


def test_r23_get_creates_personal_items_for_noras_psa_items_only(cli: Cli) -> None:
    nora = resource_id(cli)
    appointments = {r["id"] for r in nora_appointments(cli)}
    todos = {r["id"] for r in cli.psa_query("CompanyToDos", eq("assignedToResourceID", nora)) if in_window(r)}
    calls = {c for c in service_calls_of(cli, nora) if in_window(cli.psa_get("ServiceCalls", c) or {})}
    assert appointments and todos and calls  # the demo data has every kind in Nora's window
    expected = (
        {ref(APPOINTMENT, i) for i in appointments}
        | {ref(TODO, i) for i in todos}
        | {ref(SERVICE_CALL, i) for i in calls}
    )
    psa_counts = {e: len(cli.psa_query(e)) for e in ("Appointments", "CompanyToDos", "ServiceCalls")}

    got = cli.ok("get")

    assert {a["ref"] for a in got.actions(action="create", outcome="done")} == expected
    items = personal_by_uid(cli)
    assert set(items) == expected
    for uid, item in items.items():
        assert item.stamp is not None and ref(item.stamp.psa_kind.value, item.stamp.psa_id) == uid
        assert item.stamp.origin.value == "downloaded"
    # nothing of the other technicians' calendars came along
    others = {r["id"] for r in cli.psa_query("Appointments") if r["resourceID"] != nora}
    assert not {ref(APPOINTMENT, i) for i in others} & set(items)
    foreign_call = next(c["id"] for c in cli.psa_query("ServiceCalls") if c["id"] not in calls)
    assert ref(SERVICE_CALL, foreign_call) not in items
    # Get writes nothing into the PSA
    assert {e: len(cli.psa_query(e)) for e in psa_counts} == psa_counts

    # "not yet downloaded": a second Get creates nothing; a new PSA item is the only one added
    again = cli.ok("get")
    assert again.actions(action="create") == []
    with cli.psa() as client:
        made = client.post(
            "Appointments",
            json={
                "resourceID": nora,
                "title": "Booked by the dispatcher",
                "startDateTime": format_utc(at(4, 18)),
                "endDateTime": format_utc(at(4, 19)),
            },
        )
    new_id = made.json()["itemId"]
    third = cli.ok("get")
    assert [a["ref"] for a in third.actions(action="create")] == [ref(APPOINTMENT, new_id)]
    assert set(personal_by_uid(cli)) == expected | {ref(APPOINTMENT, new_id)}
    assert cli.personal(ref(APPOINTMENT, new_id)).subject == "Booked by the dispatcher"


def test_r26_only_items_inside_the_window_are_added(cli: Cli) -> None:
    cli.set("calendar.get_past_days", "1")
    cli.set("calendar.get_future_days", "6")
    nora = resource_id(cli)
    rows = {ref(APPOINTMENT, r["id"]): r for r in cli.psa_query("Appointments", eq("resourceID", nora))}
    rows |= {ref(TODO, r["id"]): r for r in cli.psa_query("CompanyToDos", eq("assignedToResourceID", nora))}
    rows |= {ref(SERVICE_CALL, c): cli.psa_get("ServiceCalls", c) or {} for c in service_calls_of(cli, nora)}
    inside = {uid for uid, row in rows.items() if in_window(row, 1, 6)}
    outside = set(rows) - inside
    assert inside and outside  # the demo data has items on both sides of this window

    cli.ok("get")

    items = personal_by_uid(cli)
    assert set(items) == inside
    for uid in inside:
        start = parse_utc(rows[uid]["startDateTime"])
        assert at(-1, 0) <= start < at(7, 0)

    cli.set("calendar.get_past_days", "7")
    cli.set("calendar.get_future_days", "30")
    wider = cli.ok("get")
    wide_inside = {uid for uid, row in rows.items() if in_window(row)}
    assert {a["ref"] for a in wider.actions(action="create", outcome="done")} == wide_inside - inside
    assert set(personal_by_uid(cli)) == wide_inside


def test_r26_items_outside_the_window_are_not_updated_nor_deleted(cli: Cli) -> None:
    cli.ok("get")
    late = max(nora_appointments(cli), key=lambda r: r["startDateTime"])
    uid = ref(APPOINTMENT, late["id"])
    before = cli.personal(uid)
    days_ahead = (parse_utc(late["startDateTime"]) - at(0, 0)).days
    cli.set("calendar.get_future_days", str(days_ahead - 1))
    patch(cli, "Appointments", {"id": late["id"], "title": "Renamed while out of the window"})

    narrow = cli.ok("get")

    assert narrow.actions(ref=uid) == []
    assert cli.personal(uid).subject == before.subject == late["title"]
    # an item the PSA moves out of the window stays: moved out is not deleted (R26 before R25)
    early = first_appointment(cli)
    far = at(200, 9)
    patch(
        cli,
        "Appointments",
        {
            "id": early["id"],
            "startDateTime": format_utc(far),
            "endDateTime": format_utc(far + timedelta(hours=1)),
        },
    )
    moved = cli.ok("get")
    assert [a["outcome"] for a in moved.actions(ref=ref(APPOINTMENT, early["id"]))] == ["kept"]
    assert cli.personal(ref(APPOINTMENT, early["id"])).subject == early["title"]
    assert cli.psa_get("Appointments", early["id"]) is not None

    cli.set("calendar.get_future_days", "30")
    wide = cli.ok("get")
    assert [a["outcome"] for a in wide.actions(ref=uid)] == ["done"]
    assert cli.personal(uid).subject == "Renamed while out of the window"


def test_r10_get_kinds_bring_appointments_todos_and_service_calls_as_configured(cli: Cli) -> None:
    nora = resource_id(cli)
    contoso = next(c for c in cli.psa_query("Companies") if c["companyName"] == "Contoso Dental")
    with cli.psa() as client:  # a note is a to-do with the "Quick Note" action type (R10)
        made = client.post(
            f"Companies/{contoso['id']}/ToDos",
            json={
                "companyID": contoso["id"],
                "assignedToResourceID": nora,
                "actionType": 5,
                "activityDescription": "Called about the invoice",
                "startDateTime": format_utc(at(2, 17)),
                "endDateTime": format_utc(at(2, 17, 15)),
            },
        )
    assert made.status_code == 200, made.text
    note_id = made.json()["itemId"]

    cli.set("calendar.get_kinds", "todo")
    cli.ok("get")
    items = personal_by_uid(cli)
    assert items and all(uid.startswith("calferry-todo-") for uid in items)
    note = items[ref(TODO, note_id)]
    assert note.subject == "Quick Note: Contoso Dental"
    assert note.description == "Called about the invoice"
    # a to-do always belongs to a company: its row and the personal stamp name the same one
    for item in items.values():
        assert item.stamp is not None
        row = cli.psa_get("CompanyToDos", item.stamp.psa_id)
        assert row is not None and row["companyID"] and item.stamp.company_id == row["companyID"]

    cli.set("calendar.get_kinds", "service-call")
    cli.ok("get")
    calls = {uid for uid in personal_by_uid(cli) if uid.startswith("calferry-service-call-")}
    assert calls == {ref(SERVICE_CALL, c) for c in service_calls_of(cli, nora)}

    cli.set("calendar.get_kinds", "appointment, todo, service-call")
    cli.ok("get")
    assert {ref(APPOINTMENT, r["id"]) for r in nora_appointments(cli)} <= set(personal_by_uid(cli))


def test_r11_each_service_call_occurrence_is_its_own_personal_item(cli: Cli) -> None:
    """The PSA's only recurring items are service calls of recurring tickets: one call per date."""
    nora = resource_id(cli)
    ticket = cli.psa_query("Tickets")[0]
    days = (3, 10, 17)
    calls = []
    with cli.psa() as client:
        for day in days:
            made = client.post(
                "ServiceCalls",
                json={
                    "companyID": ticket["companyID"],
                    "description": "Monthly maintenance",
                    "status": 1,
                    "startDateTime": format_utc(at(day, 15)),
                    "endDateTime": format_utc(at(day, 16)),
                },
            )
            assert made.status_code == 200, made.text
            call = made.json()["itemId"]
            child = client.post(
                f"ServiceCalls/{call}/Tickets", json={"serviceCallID": call, "ticketID": ticket["id"]}
            )
            assert child.status_code == 200, child.text
            link = child.json()["itemId"]
            assigned = client.post(
                f"ServiceCallTickets/{link}/Resources", json={"serviceCallTicketID": link, "resourceID": nora}
            )
            assert assigned.status_code == 200, assigned.text
            calls.append(call)

    cli.ok("get")

    for call, day in zip(calls, days, strict=True):
        item = cli.personal(ref(SERVICE_CALL, call))
        assert not item.recurring and item.recurrence_id is None
        assert utc(item.start) == at(day, 15) and utc(item.end) == at(day, 16)
        assert f"{ticket['ticketNumber']}: {ticket['title']}" in item.description
    assert len({cli.personal(ref(SERVICE_CALL, c)).uid for c in calls}) == len(days)


# --- R28 --------------------------------------------------------------------------------------------


def test_r28_service_call_renders_company_tickets_and_address(cli: Cli) -> None:
    nora = resource_id(cli)
    call_id = min(service_calls_of(cli, nora))
    call = cli.psa_get("ServiceCalls", call_id)
    assert call is not None
    company = cli.psa_get("Companies", call["companyID"])
    assert company is not None
    work = [
        cli.psa_get("Tickets", r["ticketID"])
        for r in cli.psa_query("ServiceCallTickets", eq("serviceCallID", call_id))
    ] + [
        cli.psa_get("Tasks", r["taskID"])
        for r in cli.psa_query("ServiceCallTasks", eq("serviceCallID", call_id))
    ]
    assert len(work) >= 2

    cli.ok("get")

    item = cli.personal(ref(SERVICE_CALL, call_id))
    assert item.subject == f"Service Call: {company['companyName']}"
    assert utc(item.start) == parse_utc(call["startDateTime"]) and utc(item.end) == parse_utc(
        call["endDateTime"]
    )
    lines = item.description.splitlines()
    assert lines[0] == "Service Call Description:"
    assert lines[1] == call["description"]
    positions = []
    for row in work:
        assert row is not None
        number = str(row.get("ticketNumber") or row.get("taskNumber"))
        found = [n for n, line in enumerate(lines) if number in line and row["title"] in line]
        assert len(found) == 1, (number, lines)
        positions.append(found[0])
    statement = [n for n, line in enumerate(lines) if "will not be returned to Autotask" in line]
    assert statement == [len(lines) - 1] and max(positions) < statement[0]
    assert "changes made to service call information" in lines[-1].lower()
    country = cli.psa_get("Countries", company["countryID"])
    assert country is not None
    assert item.location == (
        f"{company['address1']}, {company['postalCode']} {company['city']}, {company['state']}, "
        f"{country['displayName']}"
    )
    assert item.attendees == ()


def test_r28_todo_subject_is_company_contact_and_action_type(cli: Cli) -> None:
    nora = resource_id(cli)
    todo = next(r for r in cli.psa_query("CompanyToDos", eq("assignedToResourceID", nora)) if in_window(r))
    company = cli.psa_get("Companies", todo["companyID"])
    contact = cli.psa_get("Contacts", todo["contactID"])
    action = cli.psa_get("ActionTypes", todo["actionType"])
    assert company and contact and action

    cli.ok("get")

    item = cli.personal(ref(TODO, todo["id"]))
    for part in (company["companyName"], f"{contact['firstName']} {contact['lastName']}", action["name"]):
        assert part in item.subject
    assert "Nora" not in item.subject and "York" not in item.subject  # assigned-to is not mapped
    assert item.description == todo["activityDescription"]
    assert utc(item.start) == parse_utc(todo["startDateTime"]) and utc(item.end) == parse_utc(
        todo["endDateTime"]
    )
    assert item.location == ""


def test_r28_appointment_name_is_subject_and_resource_not_mapped(cli: Cli) -> None:
    row = first_appointment(cli)

    cli.ok("get")

    item = cli.personal(ref(APPOINTMENT, row["id"]))
    assert item.subject == row["title"]
    assert item.description == row["description"]
    assert utc(item.start) == parse_utc(row["startDateTime"]) and utc(item.end) == parse_utc(
        row["endDateTime"]
    )
    assert item.location == "" and item.attendees == ()
    assert isinstance(item.start, datetime)
    assert str(item.start.tzinfo) == "America/New_York"  # shown in the resource's zone


# --- R24 / R29 / R4 ---------------------------------------------------------------------------------


def test_r24_r29_psa_edit_rewrites_subject_description_and_times(cli: Cli) -> None:
    row = first_appointment(cli)
    uid = ref(APPOINTMENT, row["id"])
    cli.ok("get")
    # what the person keeps for themselves (not mapped) must survive the update
    edit_personal(cli, uid, categories=("Blue",), reminder_minutes=15)
    start = at(3, 20)
    patch(
        cli,
        "Appointments",
        {
            "id": row["id"],
            "title": "Team lunch (moved)",
            "description": "New place: the roof terrace",
            "startDateTime": format_utc(start),
            "endDateTime": format_utc(start + timedelta(minutes=90)),
        },
    )

    got = cli.ok("get")

    assert [(a["action"], a["outcome"]) for a in got.actions(ref=uid)] == [("update", "done")]
    item = cli.personal(uid)
    assert item.subject == "Team lunch (moved)"
    assert item.description == "New place: the roof terrace"
    assert utc(item.start) == start and utc(item.end) == start + timedelta(minutes=90)
    assert item.categories == ("Blue",) and item.reminder_minutes == 15
    assert state_of(cli, uid) == "downloaded"
    after = cli.psa_get("Appointments", row["id"])
    assert after is not None and after["title"] == "Team lunch (moved)"  # the PSA is not written back

    # a to-do's new action type and description, a service call's new description and time
    nora = resource_id(cli)
    todo = next(r for r in cli.psa_query("CompanyToDos", eq("assignedToResourceID", nora)) if in_window(r))
    patch(cli, "CompanyToDos", {"id": todo["id"], "actionType": 1, "activityDescription": "Call back"})
    call_id = min(service_calls_of(cli, nora))
    call_start = at(6, 12)
    patch(
        cli,
        "ServiceCalls",
        {
            "id": call_id,
            "description": "Bring a spare toner",
            "startDateTime": format_utc(call_start),
            "endDateTime": format_utc(call_start + timedelta(hours=1)),
        },
    )
    second = cli.ok("get")
    assert [a["outcome"] for a in second.actions(ref=ref(TODO, todo["id"]))] == ["done"]
    assert [a["outcome"] for a in second.actions(ref=ref(SERVICE_CALL, call_id))] == ["done"]
    todo_item = cli.personal(ref(TODO, todo["id"]))
    assert todo_item.subject.startswith("Phone Call") and todo_item.description == "Call back"
    call_item = cli.personal(ref(SERVICE_CALL, call_id))
    assert call_item.description.splitlines()[:2] == ["Service Call Description:", "Bring a spare toner"]
    assert utc(call_item.start) == call_start


def test_r4_psa_is_master_of_a_sent_item(cli: Cli) -> None:
    cli.create(PersonalItem("r4-own", at(2, 14), at(2, 15), "Budget talk", "Bring the numbers"))
    sent = cli.ok("send", "r4-own")
    psa_id = sent.actions(ref="r4-own")[0]["psa_id"]
    row = cli.psa_get("Appointments", psa_id)
    assert row is not None and row["title"] == "Budget talk"
    patch(cli, "Appointments", {"id": psa_id, "title": "Budget talk (with finance)", "description": "Room 4"})

    got = cli.ok("get")

    assert [(a["action"], a["outcome"]) for a in got.actions(ref="r4-own")] == [("update", "done")]
    item = cli.personal("r4-own")
    assert (item.subject, item.description) == ("Budget talk (with finance)", "Room 4")
    assert item.stamp is not None and item.stamp.psa_id == psa_id and item.stamp.origin.value == "sent"
    assert ref(APPOINTMENT, psa_id) not in personal_by_uid(cli)  # no second, downloaded copy
    assert state_of(cli, "r4-own") == "sent"


def test_r26_r24_item_rescheduled_into_the_window_is_updated_from_outside_it(cli: Cli) -> None:
    """A copy downloaded long ago lies before the window; the PSA moves the item into it: update it."""
    old = next(
        r for r in cli.psa_query("Appointments", eq("resourceID", resource_id(cli))) if not in_window(r)
    )
    uid = ref(APPOINTMENT, old["id"])
    cli.set("calendar.get_past_days", "14")
    cli.ok("get")
    assert utc(cli.personal(uid).start) == parse_utc(old["startDateTime"])
    cli.set("calendar.get_past_days", "7")
    start = at(2, 19)
    patch(
        cli,
        "Appointments",
        {"id": old["id"], "title": "Dentist (rebooked)", "startDateTime": format_utc(start),
         "endDateTime": format_utc(start + timedelta(hours=1))},
    )  # fmt: skip

    got = cli.ok("get")

    assert [(a["action"], a["outcome"]) for a in got.actions(ref=uid)] == [("update", "done")]
    item = cli.personal(uid)
    assert item.subject == "Dentist (rebooked)" and utc(item.start) == start
    assert [i.uid for i in cli.personal_items()].count(uid) == 1
    assert state_of(cli, uid) == "downloaded"
