"""Send through the CLI against the real PSA server and Radicale: R2, R3, R12-R14, R16-R19.

Every test looks at both sides directly: the PSA over raw REST, the personal item (and its stamp, R16)
over CalDAV. Recurring items are in test_send_recurring.py; preview, plans and errors in
test_send_preview_and_errors.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from calferry.model import Origin, PersonalItem, PsaKind, ShowAs, Stamp
from tests.system.conftest import NOAH, NORA, Cli, at
from tests.system.send_helpers import (
    appointment_ids,
    appointments_of,
    company_id,
    only,
    psa_item,
    resource_id,
    todo_ids,
    vcalendar,
    vevent,
)

BERND = "tech.berlin@demo.calferry.local"


def _sent_id(cli: Cli, *args: str) -> int:
    """Send and return the one PSA id the run reports as done."""
    done = only(cli.ok("send", *args).actions(outcome="done"))
    return int(done["psa_id"])


# --- R2: the options --------------------------------------------------------------------------


def test_r2_default_action_type_set_from_the_cli_is_what_a_todo_gets(cli: Cli) -> None:
    cli.create(PersonalItem("r2", at(2), at(2, 10), "Call back", description="About the invoice"))
    changed = cli.ok("config", "set", "calendar.default_action_type", "Phone Call")
    assert changed.data["value"] == "Phone Call"
    shown = cli.ok("config", "show").data
    assert shown["calendar"]["default_action_type"] == "Phone Call"
    assert shown["calendar"]["enabled"] is True

    todo_id = _sent_id(cli, "r2", "--as", "todo", "--company", "Contoso Dental")
    assert psa_item(cli, "CompanyToDos", todo_id)["actionType"] == 1  # "Phone Call" by name


def test_r2_an_invalid_option_is_refused_and_the_old_value_kept(cli: Cli) -> None:
    refused = cli.run("config", "set", "calendar.get_future_days", "soon")
    assert refused.exit_code != 0
    assert set(refused.data["error"]) >= {"type", "message"}
    assert cli.ok("config", "show").data["calendar"]["get_future_days"] == 30


# --- R3 / R13: only what is selected, and only by Send ------------------------------------------


def test_r3_get_never_sends_and_send_sends_only_the_selected_item(cli: Cli) -> None:
    for n in range(3):
        cli.create(PersonalItem(f"r3-{n}", at(1 + n), at(1 + n, 10), f"Private plan {n}"))
    before = appointment_ids(cli)
    cli.ok("get")
    titles = {a["title"] for a in cli.psa_query("Appointments")}
    assert not any(t.startswith("Private plan") for t in titles)  # Get brought in, sent nothing
    assert appointment_ids(cli) == before

    cli.ok("send", "r3-1")
    cli.ok("get")
    new = appointment_ids(cli) - before
    assert [psa_item(cli, "Appointments", i)["title"] for i in new] == ["Private plan 1"]
    assert cli.personal("r3-0").stamp is None and cli.personal("r3-2").stamp is None
    states = {i["ref"]: i["state"] for i in cli.ok("items").data["items"] if i["ref"].startswith("r3")}
    assert states == {"r3-0": "not sent", "r3-1": "sent", "r3-2": "not sent"}


def test_r3_send_without_a_selection_is_refused(cli: Cli) -> None:
    cli.create(PersonalItem("r3-none", at(1), at(1, 10), "Not chosen"))
    before = appointment_ids(cli)
    refused = cli.run("send")
    assert refused.exit_code == 5
    assert refused.data["error"]["type"] == "InputError"
    assert refused.data["error"]["rule"] == "R13" and "R13" not in refused.data["error"]["message"]
    assert appointment_ids(cli) == before
    assert cli.personal("r3-none").stamp is None


def test_r13_several_selected_items_are_sent_in_one_run_and_nothing_else(cli: Cli) -> None:
    for n in range(4):
        cli.create(PersonalItem(f"r13-{n}", at(3), at(3, 10 + n), f"Block {n}"))
    before = appointment_ids(cli)
    sent = cli.ok("send", "r13-0", "r13-2", "r13-3")
    assert sorted(a["ref"] for a in sent.actions(outcome="done")) == ["r13-0", "r13-2", "r13-3"]
    new = appointment_ids(cli) - before
    assert sorted(psa_item(cli, "Appointments", i)["title"] for i in new) == ["Block 0", "Block 2", "Block 3"]
    assert {cli.personal(f"r13-{n}").stamp.psa_id for n in (0, 2, 3)} == new  # type: ignore[union-attr]
    assert cli.personal("r13-1").stamp is None


# --- R12: authentication, reused once logged in ------------------------------------------------


def test_r12_without_a_secret_send_asks_for_login_and_a_login_is_reused(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = cli.psa_server.headers["Secret"]
    monkeypatch.delenv("CALFERRY_PSA_SECRET")
    cli.create(PersonalItem("r12", at(1), at(1, 10), "Needs the PSA"))
    before = appointment_ids(cli)

    refused = cli.run("send", "r12")
    assert refused.exit_code == 4
    assert refused.data["error"]["type"] == "CredentialsMissing"
    assert "calferry login" in refused.data["error"]["message"]
    assert appointment_ids(cli) == before and cli.personal("r12").stamp is None

    logged_in = cli.run("login", "--secret-stdin", input=secret + "\n")
    assert logged_in.exit_code == 0, logged_in.stdout
    assert logged_in.data["stored"] == "keyring" and secret not in logged_in.stdout

    psa_id = _sent_id(cli, "r12")  # no variable, no prompt: the stored secret is reused
    assert psa_id not in before
    assert psa_item(cli, "Appointments", psa_id)["title"] == "Needs the PSA"
    assert cli.personal("r12").stamp.psa_id == psa_id  # type: ignore[union-attr]


# --- R14: the mapping step --------------------------------------------------------------------


def test_r14_a_todo_without_company_is_refused_and_nothing_is_created(cli: Cli) -> None:
    cli.create(PersonalItem("r14", at(2), at(2, 10), "Follow up"))
    todos, appointments = todo_ids(cli), appointment_ids(cli)
    refused = cli.run("send", "r14", "--as", "todo")
    assert refused.exit_code == 5
    skip = only(refused.actions(ref="r14"))
    assert skip["action"] == "skip" and skip["outcome"] == "skipped"
    assert "company" in skip["reason"]
    assert todo_ids(cli) == todos and appointment_ids(cli) == appointments
    assert cli.personal("r14").stamp is None


def test_r14_appointment_is_the_default_kind(cli: Cli) -> None:
    cli.create(PersonalItem("r14-default", at(2), at(2, 10), "Just time"))
    todos = todo_ids(cli)
    psa_id = _sent_id(cli, "r14-default")
    assert psa_item(cli, "Appointments", psa_id)["title"] == "Just time"
    assert todo_ids(cli) == todos
    assert cli.personal("r14-default").stamp.psa_kind is PsaKind.APPOINTMENT  # type: ignore[union-attr]


def test_r14_a_todo_gets_the_default_action_type_and_action_type_overrides_it(cli: Cli) -> None:
    cli.create(PersonalItem("r14-a", at(2), at(2, 10), "Subject stays home", description="Check backups"))
    cli.create(PersonalItem("r14-b", at(3), at(3, 10), "Visit"))
    contoso = company_id(cli, "Contoso Dental")

    preview = cli.ok("send", "r14-a", "--as", "todo", "--company", "Contoso Dental", "--dry-run")
    shown = only(preview.data["actions"])["payload"]["psa_item"]
    assert shown["action_type_id"] == 3  # the mapping page shows the options' default ("General")

    default_id = _sent_id(cli, "r14-a", "--as", "todo", "--company", "Contoso Dental")
    todo = psa_item(cli, "CompanyToDos", default_id)
    assert (todo["companyID"], todo["actionType"]) == (contoso, 3)
    assert todo["assignedToResourceID"] == resource_id(cli)
    assert todo["activityDescription"] == "Check backups"  # the subject is not mapped to a To-Do
    assert "Subject stays home" not in str(todo)
    assert (todo["startDateTime"], todo["endDateTime"]) == (
        f"{at(2):%Y-%m-%dT%H:%M:%SZ}",
        f"{at(2, 10):%Y-%m-%dT%H:%M:%SZ}",
    )
    assert cli.personal("r14-a").stamp == Stamp(PsaKind.TODO, default_id, Origin.SENT, contoso)

    chosen_id = _sent_id(
        cli, "r14-b", "--as", "todo", "--company", str(contoso), "--contact", "Sam Lee 1",
        "--action-type", "Meeting",
    )  # fmt: skip
    chosen = psa_item(cli, "CompanyToDos", chosen_id)
    assert (chosen["actionType"], chosen["contactID"]) == (2, 2)


# --- R16 / R17: first send creates and stamps, a re-send updates the same item --------------------


def test_r16_first_send_creates_the_psa_item_and_stamps_its_id(cli: Cli) -> None:
    cli.create(PersonalItem("r16", at(4), at(4, 11), "Workshop", description="Bring the laptop"))
    before = appointment_ids(cli)
    psa_id = _sent_id(cli, "r16")
    assert appointment_ids(cli) - before == {psa_id}
    stamped = cli.personal("r16")
    assert stamped.stamp == Stamp(PsaKind.APPOINTMENT, psa_id, Origin.SENT)
    assert (stamped.subject, stamped.description) == ("Workshop", "Bring the laptop")
    listed = only([i for i in cli.ok("items").data["items"] if i["ref"] == "r16"])
    assert (listed["state"], listed["psa_kind"], listed["psa_id"]) == ("sent", "appointment", psa_id)
    assert cli.ok("status").data["links"] == {"appointment/sent": 1}


def test_r17_a_resend_updates_the_same_appointment_never_a_duplicate(cli: Cli) -> None:
    item = cli.create(PersonalItem("r17", at(5), at(5, 10), "Draft title"))
    psa_id = _sent_id(cli, "r17")
    before = appointment_ids(cli)
    edited = replace(cli.personal("r17"), subject="Final title", start=at(5, 13), end=at(5, 15))
    cli.calendar().update(edited)
    assert item.version != edited.version
    listed = {i["ref"]: i["state"] for i in cli.ok("items").data["items"]}
    assert listed["r17"] == "edited since sent"

    resent = only(cli.ok("send", "r17").actions(ref="r17"))
    assert (resent["action"], resent["psa_id"]) == ("update", psa_id)
    assert appointment_ids(cli) == before
    stored = psa_item(cli, "Appointments", psa_id)
    assert (stored["title"], stored["startDateTime"]) == ("Final title", f"{at(5, 13):%Y-%m-%dT%H:%M:%SZ}")
    assert cli.personal("r17").stamp.psa_id == psa_id  # type: ignore[union-attr]
    assert {i["ref"]: i["state"] for i in cli.ok("items").data["items"]}["r17"] == "sent"


def test_r17_a_resent_todo_keeps_its_kind_and_company_without_flags(cli: Cli) -> None:
    cli.create(PersonalItem("r17-todo", at(6), at(6, 10), "Quote", description="First draft"))
    fabrikam = company_id(cli, "Fabrikam Logistik GmbH")
    todo_id = _sent_id(
        cli, "r17-todo", "--as", "todo", "--company", "Fabrikam Logistik GmbH", "--action-type", "1"
    )
    cli.calendar().update(replace(cli.personal("r17-todo"), description="Second draft"))
    todos, appointments = todo_ids(cli), appointment_ids(cli)

    preview = only(cli.ok("send", "r17-todo", "--dry-run").data["actions"])
    assert (preview["action"], preview["psa_kind"], preview["psa_id"]) == ("update", "todo", todo_id)
    assert preview["payload"]["psa_item"]["company_id"] == fabrikam  # pre-filled from the last send

    cli.ok("send", "r17-todo")
    todo = psa_item(cli, "CompanyToDos", todo_id)
    assert (todo["companyID"], todo["actionType"], todo["activityDescription"]) == (
        fabrikam,
        1,
        "Second draft",
    )
    assert todo_ids(cli) == todos and appointment_ids(cli) == appointments
    assert cli.personal("r17-todo").stamp == Stamp(PsaKind.TODO, todo_id, Origin.SENT, fabrikam)

    refused = cli.run("send", "r17-todo", "--as", "appointment")  # the kind of a sent item cannot change
    assert refused.exit_code == 5
    assert only(refused.actions(ref="r17-todo"))["rule"] == "R17"
    assert todo_ids(cli) == todos and appointment_ids(cli) == appointments


# --- R18: the field table ---------------------------------------------------------------------


def test_r18_private_item_is_sent_as_appointment_without_description(cli: Cli) -> None:
    cli.seed_ical(
        vcalendar(
            vevent("r18-private", at(2, 15), at(2, 16), "Therapy session", "CLASS:PRIVATE",
                   "DESCRIPTION:Dr. Smith\\, room 3")
        )
    )  # fmt: skip
    psa_id = _sent_id(cli, "r18-private")
    stored = psa_item(cli, "Appointments", psa_id)
    assert (stored["title"], stored["description"]) == ("Appointment", "")
    assert "Therapy" not in str(stored) and "Smith" not in str(stored)
    mine = cli.personal("r18-private")
    assert (mine.subject, mine.description, mine.private) == ("Therapy session", "Dr. Smith, room 3", True)

    cli.calendar().update(replace(mine, subject="Therapy (moved)", start=at(2, 17), end=at(2, 18)))
    cli.ok("send", "r18-private")
    stored = psa_item(cli, "Appointments", psa_id)
    assert (stored["title"], stored["description"]) == ("Appointment", "")
    assert stored["startDateTime"] == f"{at(2, 17):%Y-%m-%dT%H:%M:%SZ}"


def test_r18_subject_and_description_are_mapped_and_nothing_else(cli: Cli) -> None:
    item = PersonalItem(
        "r18-fields", at(3, 9), at(3, 10, 30), "Board meeting", description="Agenda: budget",
        location="Room Zanzibar", categories=("Magenta-label",), reminder_minutes=25, show_as=ShowAs.TENTATIVE,
    )  # fmt: skip
    cli.create(item)
    psa_id = _sent_id(cli, "r18-fields")
    stored = psa_item(cli, "Appointments", psa_id)
    assert (stored["title"], stored["description"]) == ("Board meeting", "Agenda: budget")
    assert stored["startDateTime"] == f"{at(3, 9):%Y-%m-%dT%H:%M:%SZ}"
    assert stored["endDateTime"] == f"{at(3, 10, 30):%Y-%m-%dT%H:%M:%SZ}"
    assert "Zanzibar" not in str(stored) and "Magenta" not in str(stored)
    mine = cli.personal("r18-fields")  # stamping keeps every personal-only field
    assert (mine.location, mine.categories, mine.reminder_minutes, mine.show_as) == (
        "Room Zanzibar", ("Magenta-label",), 25, ShowAs.TENTATIVE,
    )  # fmt: skip


def test_r18_an_all_day_item_blocks_whole_days_in_the_resource_time_zone(cli: Cli) -> None:
    cli.seed_ical(
        vcalendar(
            vevent("r18-dst-start", date(2027, 3, 14), date(2027, 3, 15), "Day off"),  # US DST begins
            vevent("r18-trip", date(2027, 11, 6), date(2027, 11, 9), "Trade show"),  # US DST ends on the 7th
        )
    )
    day_off = psa_item(cli, "Appointments", _sent_id(cli, "r18-dst-start"))
    assert (day_off["startDateTime"], day_off["endDateTime"]) == (
        "2027-03-14T05:00:00Z",
        "2027-03-15T04:00:00Z",
    )
    trip = psa_item(cli, "Appointments", _sent_id(cli, "r18-trip"))
    assert (trip["startDateTime"], trip["endDateTime"]) == ("2027-11-06T04:00:00Z", "2027-11-09T05:00:00Z")
    assert cli.personal("r18-trip").start == date(2027, 11, 6)  # still all-day on the personal side


def test_r18_an_all_day_todo_blocks_the_whole_day_too(cli: Cli) -> None:
    cli.seed_ical(vcalendar(vevent("r18-allday-todo", date(2027, 1, 12), date(2027, 1, 13), "Audit day")))
    todo = psa_item(
        cli, "CompanyToDos", _sent_id(cli, "r18-allday-todo", "--as", "todo", "--company", "Contoso Dental")
    )
    assert (todo["startDateTime"], todo["endDateTime"]) == ("2027-01-12T05:00:00Z", "2027-01-13T05:00:00Z")


def test_r18_the_logged_in_resource_is_the_appointments_resource(cli: Cli) -> None:
    cli.create(PersonalItem("r18-nora", at(2), at(2, 10), "Nora's slot"))
    cli.create(PersonalItem("r18-bernd", at(2, 11), at(2, 12), "Bernd's slot"))
    nora_item = psa_item(cli, "Appointments", _sent_id(cli, "r18-nora"))
    assert nora_item["resourceID"] == resource_id(cli)

    cli.set("psa.resource", BERND)
    bernd_item = psa_item(cli, "Appointments", _sent_id(cli, "r18-bernd"))
    assert bernd_item["resourceID"] == resource_id(cli, BERND)


# --- R19: a meeting updates only the sender's calendar -----------------------------------------


def test_r19_a_meeting_sent_updates_only_the_senders_psa_calendar(cli: Cli) -> None:
    cli.seed_ical(
        vcalendar(
            vevent("r19", at(4, 14), at(4, 15), "Design review",
                   f"ORGANIZER:mailto:{NORA}",
                   f"ATTENDEE;CN=Bernd;RSVP=TRUE:mailto:{BERND}",
                   f"ATTENDEE;CN=Noah:mailto:{NOAH}",
                   "ATTENDEE;CUTYPE=RESOURCE:mailto:room-2@demo.calferry.local")
        )
    )  # fmt: skip
    assert only([i for i in cli.ok("items").data["items"] if i["ref"] == "r19"])["kind"] == "meeting"
    nora, bernd, noah = resource_id(cli), resource_id(cli, BERND), resource_id(cli, NOAH)
    theirs = {r: appointments_of(cli, r) for r in (bernd, noah)}
    before = appointment_ids(cli)

    psa_id = _sent_id(cli, "r19")
    assert appointment_ids(cli) - before == {psa_id}
    stored = psa_item(cli, "Appointments", psa_id)
    assert stored["resourceID"] == nora
    assert {r: appointments_of(cli, r) for r in (bernd, noah)} == theirs
    assert BERND not in str(stored) and NOAH not in str(stored)
    mine = cli.personal("r19")
    assert set(mine.attendees) == {BERND, NOAH, "room-2@demo.calferry.local"}  # invitees kept as they were
    assert mine.stamp is not None and mine.stamp.psa_id == psa_id
