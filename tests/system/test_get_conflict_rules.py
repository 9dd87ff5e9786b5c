"""Get through the CLI against the real PSA server and Radicale: R5 and its B policy (keep-personal,
psa-wins, ask, ``calferry resolve``), R25, R8, R27, R11 (recurring personal items in the PSA), the
deletion guards and B4 (the audit log). Every test looks at both sides after the command.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from calferry.model import PersonalItem
from calferry.psa.query import format_utc
from tests.system.conftest import Cli, at
from tests.system.get_helpers import (
    APPOINTMENT,
    SERVICE_CALL,
    TODO,
    delete,
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
    weekly,
)  # fmt: skip

# --- R5 and its B policy ----------------------------------------------------------------------------


def _edited_on_both_sides(cli: Cli) -> tuple[str, int]:
    row = first_appointment(cli)
    uid = ref(APPOINTMENT, row["id"])
    cli.ok("get")
    edit_personal(cli, uid, subject="My own title", description="my private notes")
    patch(cli, "Appointments", {"id": row["id"], "title": "The PSA's title", "description": "PSA text"})
    return uid, row["id"]


def test_r5_personal_edit_alone_is_kept_until_it_is_sent(cli: Cli) -> None:
    row = first_appointment(cli)
    uid = ref(APPOINTMENT, row["id"])
    cli.ok("get")
    edit_personal(cli, uid, subject="Lunch with the team (my words)")
    assert state_of(cli, uid) == "edited since sent"

    got = cli.ok("get")

    assert [(a["action"], a["outcome"]) for a in got.actions(ref=uid)] == [("skip", "skipped")]
    assert got.actions(ref=uid)[0]["rule"] == "R5"
    assert cli.personal(uid).subject == "Lunch with the team (my words)"
    assert (cli.psa_get("Appointments", row["id"]) or {})["title"] == row["title"]

    cli.ok("send", uid)
    assert (cli.psa_get("Appointments", row["id"]) or {})["title"] == "Lunch with the team (my words)"
    assert cli.ok("get").actions(ref=uid) == []
    assert state_of(cli, uid) == "downloaded"


def test_r5_keep_personal_default_reports_a_conflict_and_keeps_the_personal_edit(cli: Cli) -> None:
    uid, psa_id = _edited_on_both_sides(cli)

    got = cli.ok("get")

    [action] = got.actions(ref=uid)
    assert (action["action"], action["outcome"]) == ("conflict", "conflict")
    assert action["reason"] == "edited on both sides: your version kept"
    item = cli.personal(uid)
    assert (item.subject, item.description) == ("My own title", "my private notes")
    row = cli.psa_get("Appointments", psa_id)
    assert row is not None and (row["title"], row["description"]) == ("The PSA's title", "PSA text")
    assert state_of(cli, uid) == "conflict"
    assert any(e["ref"] == uid and e["outcome"] == "conflict" for e in cli.ok("log").data["entries"])

    resolved = cli.ok("resolve", uid, "--keep", "psa")

    assert [a["outcome"] for a in resolved.actions(ref=uid)] == ["done"]
    item = cli.personal(uid)
    assert (item.subject, item.description) == ("The PSA's title", "PSA text")
    assert state_of(cli, uid) == "downloaded"
    assert cli.ok("get").actions(ref=uid) == []


def test_r5_resolve_keep_personal_sends_the_personal_version(cli: Cli) -> None:
    uid, psa_id = _edited_on_both_sides(cli)
    cli.ok("get")
    assert state_of(cli, uid) == "conflict"

    resolved = cli.ok("resolve", uid, "--keep", "personal")

    assert [(a["action"], a["outcome"]) for a in resolved.actions(ref=uid)] == [("update", "done")]
    row = cli.psa_get("Appointments", psa_id)
    assert row is not None and (row["title"], row["description"]) == ("My own title", "my private notes")
    assert cli.personal(uid).subject == "My own title"
    assert state_of(cli, uid) == "downloaded"
    assert cli.ok("get").actions(ref=uid) == []


def test_r5_psa_wins_policy_overwrites_the_personal_edit(cli: Cli) -> None:
    uid, psa_id = _edited_on_both_sides(cli)

    got = cli.ok("get", "--policy", "psa-wins")

    [action] = got.actions(ref=uid)
    assert (action["action"], action["outcome"]) == ("update", "done") and "replaces your edit" in action[
        "reason"
    ]
    item = cli.personal(uid)
    assert (item.subject, item.description) == ("The PSA's title", "PSA text")
    assert state_of(cli, uid) == "downloaded"

    # the same from the config instead of the flag
    edit_personal(cli, uid, subject="Mine again")
    patch(cli, "Appointments", {"id": psa_id, "title": "The PSA's second title"})
    cli.set("calendar.conflict_policy", "psa-wins")
    cli.ok("get")
    assert cli.personal(uid).subject == "The PSA's second title"


def test_r5_ask_policy_reports_and_changes_nothing(cli: Cli) -> None:
    uid, psa_id = _edited_on_both_sides(cli)
    cli.set("calendar.conflict_policy", "ask")

    for _ in range(2):  # nothing is settled by asking: the next Get asks again
        got = cli.ok("get")
        [action] = got.actions(ref=uid)
        assert (action["action"], action["outcome"]) == (
            "conflict",
            "conflict",
        ) and "until you choose" in action["reason"]
        item = cli.personal(uid)
        assert (item.subject, item.description) == ("My own title", "my private notes")
        assert (cli.psa_get("Appointments", psa_id) or {})["title"] == "The PSA's title"
        assert state_of(cli, uid) == "conflict"


def test_r5_item_deleted_in_the_psa_but_edited_here_is_a_conflict_not_a_delete(cli: Cli) -> None:
    row = first_appointment(cli)
    uid = ref(APPOINTMENT, row["id"])
    cli.ok("get")
    edit_personal(cli, uid, description="notes I still need")
    delete(cli, "Appointments", row["id"])

    got = cli.ok("get")

    assert [a["outcome"] for a in got.actions(ref=uid)] == ["conflict"]
    assert cli.personal(uid).description == "notes I still need"


def test_r26_r5_copy_outside_the_window_edited_here_is_a_conflict_and_a_deleted_copy_stays_deleted(
    cli: Cli,
) -> None:
    nora = resource_id(cli)
    old = next(r for r in cli.psa_query("Appointments", eq("resourceID", nora)) if not in_window(r))
    todo = next(r for r in cli.psa_query("CompanyToDos", eq("assignedToResourceID", nora)) if in_window(r))
    old_uid, todo_uid = ref(APPOINTMENT, old["id"]), ref(TODO, todo["id"])
    cli.set("calendar.get_past_days", "14")
    cli.ok("get")
    cli.set("calendar.get_past_days", "7")
    edit_personal(cli, old_uid, description="what the dentist said")
    cal = cli.calendar()
    try:
        cal.delete(cli.personal(todo_uid).key)
    finally:
        cal.close()
    start = at(2, 19)
    patch(
        cli,
        "Appointments",
        {"id": old["id"], "title": "Dentist (rebooked)", "startDateTime": format_utc(start),
         "endDateTime": format_utc(start + timedelta(hours=1))},
    )  # fmt: skip
    patch(cli, "CompanyToDos", {"id": todo["id"], "activityDescription": "Changed in the PSA"})

    got = cli.ok("get")

    assert [a["outcome"] for a in got.actions(ref=old_uid)] == ["conflict"]
    kept = cli.personal(old_uid)
    assert kept.description == "what the dentist said" and kept.subject == old["title"]
    assert [a["outcome"] for a in got.actions(ref=todo_uid)] == ["skipped"]
    assert todo_uid not in personal_by_uid(cli)
    assert (cli.psa_get("CompanyToDos", todo["id"]) or {})["activityDescription"] == "Changed in the PSA"

    cli.ok("resolve", old_uid, "--keep", "psa")
    assert cli.personal(old_uid).subject == "Dentist (rebooked)" and utc(cli.personal(old_uid).start) == start


# --- R25 / R8 ---------------------------------------------------------------------------------------


def test_r25_items_deleted_in_the_psa_are_deleted_here(cli: Cli) -> None:
    nora = resource_id(cli)
    cli.create(PersonalItem("r25-own", at(3, 14), at(3, 15), "Supplier visit"))
    sent_id = cli.ok("send", "r25-own").actions(ref="r25-own")[0]["psa_id"]
    cli.ok("get")
    appointment = first_appointment(cli)
    todo = next(r for r in cli.psa_query("CompanyToDos", eq("assignedToResourceID", nora)) if in_window(r))
    before = set(personal_by_uid(cli))
    gone = {ref(APPOINTMENT, appointment["id"]), ref(TODO, todo["id"]), "r25-own"}
    assert gone <= before
    delete(cli, "Appointments", appointment["id"])
    delete(cli, "CompanyToDos", todo["id"])
    delete(cli, "Appointments", sent_id)

    got = cli.ok("get")

    assert {a["ref"] for a in got.actions(action="delete", outcome="done")} == gone
    assert all(a["rule"] == "R25" for a in got.actions(action="delete"))
    assert set(personal_by_uid(cli)) == before - gone
    assert cli.ok("get").actions() == []


def test_r8_service_call_deleted_in_the_psa_is_deleted_here(cli: Cli) -> None:
    call_id = min(service_calls_of(cli, resource_id(cli)))
    uid = ref(SERVICE_CALL, call_id)
    cli.ok("get")
    assert uid in personal_by_uid(cli)
    delete(cli, "ServiceCalls", call_id)

    got = cli.ok("get")

    [action] = got.actions(ref=uid)
    assert (action["action"], action["outcome"]) == ("delete", "done") and action["rule"] == "R8"
    assert uid not in personal_by_uid(cli)
    assert cli.psa_query("ServiceCallTickets", eq("serviceCallID", call_id)) == []


# --- R27 --------------------------------------------------------------------------------------------


def test_r27_recurring_personal_occurrence_sent_is_never_updated_by_get(cli: Cli) -> None:
    cli.seed_ical(weekly("standup", at(1, 14), 3, "Weekly standup"))
    occurrences = sorted(i["ref"] for i in cli.ok("items").data["items"] if i["ref"].startswith("standup@"))
    assert len(occurrences) == 3
    first = occurrences[0]
    psa_id = cli.ok("send", first).actions(ref=first)[0]["psa_id"]
    start = at(1, 16)
    patch(
        cli,
        "Appointments",
        {
            "id": psa_id,
            "title": "Renamed in the PSA",
            "startDateTime": format_utc(start),
            "endDateTime": format_utc(start + timedelta(hours=1)),
        },
    )

    got = cli.ok("get")

    assert [(a["action"], a["outcome"]) for a in got.actions(ref=first)] == [("skip", "skipped")]
    assert got.actions(ref=first)[0]["rule"] == "R27"
    item = cli.personal(first)
    assert item.subject == "Weekly standup" and utc(item.start) == at(1, 14)
    assert ref(APPOINTMENT, psa_id) not in personal_by_uid(cli)
    # nor is it deleted when the PSA deletes it (R22)
    delete(cli, "Appointments", psa_id)
    cli.ok("get")
    assert cli.personal(first).subject == "Weekly standup"


def test_r11_recurring_appointments_from_the_personal_calendar_show_in_the_psa(cli: Cli) -> None:
    nora = resource_id(cli)
    cli.seed_ical(weekly("review", at(2, 13), 2, "Code review"))
    refs = sorted(i["ref"] for i in cli.ok("items").data["items"] if i["ref"].startswith("review@"))
    sent = cli.ok("send", *refs)
    ids = [a["psa_id"] for a in sent.actions(outcome="done")]
    assert len(set(ids)) == 2
    rows = [cli.psa_get("Appointments", i) or {} for i in ids]
    assert [r["title"] for r in rows] == ["Code review"] * 2 and {r["resourceID"] for r in rows} == {nora}

    got = cli.ok("get")

    assert not {ref(APPOINTMENT, i) for i in ids} & {a["ref"] for a in got.actions()}
    review = [i for i in cli.personal_items() if i.uid == "review"]
    assert sorted(i.ref for i in review) == refs and all(i.recurring for i in review)
    assert not {ref(APPOINTMENT, i) for i in ids} & set(personal_by_uid(cli))


# --- guards, B4 -------------------------------------------------------------------------------------


def test_guard_get_deleting_more_than_the_threshold_stops_unless_force_delete(cli: Cli) -> None:
    cli.ok("get")
    rows = nora_appointments(cli)[:3]
    cli.set("calendar.delete_threshold", "2")
    for row in rows:
        delete(cli, "Appointments", row["id"])
    before = personal_by_uid(cli)

    for args in (("get",), ("get", "--dry-run")):
        stopped = cli.run(*args)
        assert stopped.exit_code == 7
        assert stopped.data["error"]["type"] == "TooManyDeletions"
        assert "3" in stopped.data["error"]["message"] and "2" in stopped.data["error"]["message"]
        assert "allowing" in stopped.data["error"]["message"]
        assert set(personal_by_uid(cli)) == set(before)

    forced = cli.ok("get", "--force-delete")

    assert {a["ref"] for a in forced.actions(action="delete", outcome="done")} == {
        ref(APPOINTMENT, r["id"]) for r in rows
    }
    assert set(personal_by_uid(cli)) == set(before) - {ref(APPOINTMENT, r["id"]) for r in rows}


def test_guard_psa_suddenly_empty_stops_unless_force_delete(cli: Cli) -> None:
    cli.set("calendar.get_kinds", "appointment")
    cli.ok("get")
    rows = nora_appointments(cli)
    for row in rows:
        delete(cli, "Appointments", row["id"])

    stopped = cli.run("get")

    assert stopped.exit_code == 7 and stopped.data["error"]["type"] == "SideLooksEmpty"
    assert len(cli.personal_items()) == len(rows)
    cli.ok("get", "--force-delete")
    assert cli.personal_items() == []


def test_b4_audit_log_records_every_transfer_with_ids_and_outcome(cli: Cli) -> None:
    cli.create(PersonalItem("b4-own", at(2, 16), at(2, 17), "Audit me"))
    got = cli.ok("get")
    sent = cli.ok("send", "b4-own")
    psa_id = sent.actions(ref="b4-own")[0]["psa_id"]

    entries = cli.ok("log", "--limit", "100").data["entries"]

    assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)
    newest = entries[0]
    assert (newest["action"], newest["ref"], newest["psa_kind"], newest["psa_id"], newest["outcome"]) == (
        "create:psa",
        "b4-own",
        "appointment",
        psa_id,
        "done",
    )
    downloads = {(e["ref"], e["psa_id"]) for e in entries if e["action"] == "create:personal"}
    assert downloads == {(a["ref"], a["psa_id"]) for a in got.actions(action="create")}
    assert len({e["run_id"] for e in entries}) == 2
    for entry in entries:
        assert datetime.fromisoformat(entry["at"]).tzinfo is not None and entry["message"]
