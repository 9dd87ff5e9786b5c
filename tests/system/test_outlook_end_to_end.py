"""Outlook as a technician uses it: ``personal.backend = graph``, through the CLI, end to end.

``calferry login --outlook`` runs msal's real device code flow against the Entra stand-in (https,
instance discovery off), every later command refreshes silently from the sign-in kept in the keyring,
and Send, Get, Add, series delete and conflicts go over HTTP to the Graph stand-in and the real PSA
server. Where a CalDAV system test proves a rule through the CLI, the same test runs here on Outlook.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from calferry.model import PersonalItem
from calferry.personal import token_cache
from calferry.personal.graph import GraphCalendar
from tests.fixtures.entra_standin import EntraStandin
from tests.fixtures.graph_standin import GraphStandin
from tests.system import test_add_rules as add
from tests.system import test_get_add_rules as get_add
from tests.system import test_get_conflict_rules as conflicts
from tests.system import test_send_rules as send
from tests.system.conftest import Cli, at
from tests.system.get_helpers import APPOINTMENT, first_appointment, patch, ref

TENANT, CLIENT_ID = "contoso.onmicrosoft.com", "00001111-aaaa-2222-bbbb-3333cccc4444"
CACHE = f"graph-token-cache:{TENANT}:{CLIENT_ID}"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class OutlookCli(Cli):
    """The system tests' CLI, its personal calendar the Graph stand-in's mailbox."""

    graph: GraphStandin | None = None

    def calendar(self) -> GraphCalendar:  # type: ignore[override]
        assert self.graph is not None
        return self.graph.calendar()


@pytest.fixture
def outlook(
    cli: Cli, graph_standin: GraphStandin, entra_standin: EntraStandin, monkeypatch: pytest.MonkeyPatch
) -> OutlookCli:
    """Nora's calferry with Outlook as her calendar, not signed in to Outlook yet."""
    monkeypatch.setenv("TZ", "America/New_York")  # the technician's computer
    for key, value in {
        "personal.backend": "graph",
        "personal.graph_url": graph_standin.url,
        "personal.graph_login_url": entra_standin.url,
        "personal.graph_tenant": TENANT,
        "personal.graph_client_id": CLIENT_ID,
    }.items():
        cli.set(key, value)
    return OutlookCli(cli.home, cli.psa_server, cli.calendar_url, graph=graph_standin)


@pytest.fixture
def signed_in(outlook: OutlookCli) -> OutlookCli:
    outlook.ok("login", "--outlook")
    return outlook


# --- signing in ---------------------------------------------------------------------------------


def test_login_outlook_runs_the_device_code_flow_and_keeps_the_sign_in_in_the_keyring(
    outlook: OutlookCli, entra_standin: EntraStandin
) -> None:
    entra_standin.entra.pending_polls = 0
    signed = outlook.run("login", "--outlook")
    assert signed.exit_code == 0, signed.stderr
    assert signed.data == {"signed_in": "outlook", "account": "adele.vance@contoso.test"}
    assert "enter the code ABCD1234" in signed.stderr
    assert entra_standin.entra.grants == [DEVICE_CODE]
    assert "entra-refresh-1" in (token_cache.load(CACHE) or "")
    assert outlook.ok("items").data["items"] == []


def test_an_expiring_token_is_refreshed_silently_and_the_rotated_sign_in_kept(
    outlook: OutlookCli, entra_standin: EntraStandin
) -> None:
    entra_standin.entra.expires_in = 60  # msal refreshes a token this close to its end
    outlook.ok("login", "--outlook")
    entra_standin.entra.expires_in = 3600
    outlook.ok("items")
    outlook.ok("items")  # the refreshed token, kept in the keyring, serves the next command
    assert entra_standin.entra.grants == [DEVICE_CODE, "refresh_token"]
    kept = token_cache.load(CACHE) or ""
    assert "entra-refresh-2" in kept and "entra-refresh-1" not in kept


def test_a_refused_refresh_asks_to_sign_in_again_with_entras_reason(
    outlook: OutlookCli, entra_standin: EntraStandin
) -> None:
    entra_standin.entra.expires_in = 60
    outlook.ok("login", "--outlook")
    entra_standin.entra.refuse_refresh = True
    refused = outlook.run("items")
    assert refused.exit_code == 4
    error = refused.data["error"]
    assert "AADSTS700082" in error["message"] and "Trace ID" not in error["message"]
    assert "calferry login --outlook" in error["message"]


def test_logout_outlook_forgets_the_sign_in(signed_in: OutlookCli) -> None:
    signed_in.ok("logout", "--outlook")
    assert token_cache.load(CACHE) is None
    assert signed_in.run("items").exit_code == 4


# --- Send, Get, Add, series delete and conflicts on Outlook ---------------------------------------


def test_send_get_and_a_second_get_that_reads_only_changes(
    signed_in: OutlookCli, graph_standin: GraphStandin
) -> None:
    signed_in.create(PersonalItem("out-1", at(2, 14), at(2, 15), "Budget review"))
    sent = signed_in.ok("send", "out-1")
    psa_id = sent.actions(ref="out-1", outcome="done")[0]["psa_id"]
    assert (signed_in.psa_get("Appointments", psa_id) or {})["title"] == "Budget review"
    stamp = signed_in.personal("out-1").stamp
    assert stamp is not None and stamp.psa_id == psa_id

    downloaded = {a["ref"] for a in signed_in.ok("get").actions(action="create", outcome="done")}
    in_outlook = {i.uid for i in signed_in.personal_items()}
    assert downloaded and downloaded <= in_outlook
    assert graph_standin.mailbox.sent_mail == []  # downloaded items carry no attendees

    row = first_appointment(signed_in)
    patch(signed_in, "Appointments", {"id": row["id"], "title": "Moved in the PSA"})
    before = len(graph_standin.mailbox.stats.requests)
    again = signed_in.ok("get")
    assert [a["outcome"] for a in again.actions(ref=ref(APPOINTMENT, row["id"]))] == ["done"]
    assert signed_in.personal(ref(APPOINTMENT, row["id"])).subject == "Moved in the PSA"
    reads = [p for m, p in graph_standin.mailbox.stats.requests[before:] if m == "GET"]
    assert reads and not [p for p in reads if "/calendarView?" in p], "the window was listed again"


def test_get_never_changes_a_meeting_you_organise_and_says_what_the_psa_changed(
    signed_in: OutlookCli, graph_standin: GraphStandin
) -> None:
    meeting = PersonalItem("kick-off", at(3, 15), at(3, 16), "Kick-off", attendees=("customer@example.com",))
    signed_in.create(meeting)
    graph_standin.mailbox.sent_mail.clear()  # the invitation was the technician's own doing
    psa_id = signed_in.ok("send", "kick-off").actions(ref="kick-off", outcome="done")[0]["psa_id"]
    patch(signed_in, "Appointments", {"id": psa_id, "title": "Kick-off (moved)"})

    for _ in range(2):  # reported on each Get until the meeting in Outlook matches
        got = signed_in.run("get")
        assert got.exit_code == 7, got.stdout
        [report] = got.actions(ref="kick-off")
        assert report["outcome"] == "failed" and "was not changed in Outlook" in report["error"]
        assert "“Kick-off (moved)”" in report["error"] and "1 attendee" in report["error"]
    assert signed_in.personal("kick-off").subject == "Kick-off"
    assert graph_standin.mailbox.sent_mail == []
    assert not [p for m, p in graph_standin.mailbox.stats.requests if m in ("PATCH", "DELETE")]

    event = graph_standin.stored("kick-off")  # the technician changes it in Outlook, which mails them
    graph_standin.mailbox.patch(event["id"], {"subject": "Kick-off (moved)"}, None)
    [conflict] = signed_in.ok("get").actions(ref="kick-off")  # edited on both sides, as it should be
    assert conflict["outcome"] == "conflict"
    signed_in.ok("resolve", "kick-off", "--keep", "personal")
    assert signed_in.ok("get").actions(ref="kick-off") == []
    assert (signed_in.psa_get("Appointments", psa_id) or {})["title"] == "Kick-off (moved)"


def test_series_delete_removes_every_occurrence_in_outlook_and_the_psa(
    signed_in: OutlookCli, graph_standin: GraphStandin
) -> None:
    master = graph_standin.seed_series("Standup", at(1, 14), at(1, 14, 30), 3, pattern="daily")
    uid = str(master["iCalUId"])
    refs = [i.ref for i in signed_in.personal_items() if i.uid == uid]
    assert len(refs) == 3
    signed_in.ok("send", refs[0], refs[1])
    deleted = signed_in.ok("series", "delete", uid)
    assert len([a for a in deleted.actions() if a["psa_kind"] == "appointment"]) == 2
    assert [i for i in signed_in.personal_items() if i.uid == uid] == []
    assert signed_in.ok("status").data["links"] == {}


def test_add_creates_in_the_psa_and_brings_it_into_outlook(signed_in: OutlookCli) -> None:
    start = at(4, 13)
    added = signed_in.ok(
        "add", "appointment", "--title", "Site visit", "--start", f"{start:%Y-%m-%dT%H:%M}+00:00",
        "--end", f"{start + timedelta(hours=1):%Y-%m-%dT%H:%M}+00:00",
    )  # fmt: skip
    created = [a for a in added.actions() if a["action"] == "create" and a["outcome"] == "done"]
    assert created
    assert "Site visit" in {i.subject for i in signed_in.personal_items()}


# --- calferry doctor --live: what this Outlook answers, read-only --------------------------------


def test_doctor_live_says_what_outlook_answers_and_writes_nothing(
    signed_in: OutlookCli, graph_standin: GraphStandin
) -> None:
    graph_standin.seed_series("Standup", at(1, 14), at(1, 14, 30), 3, pattern="daily")
    before = len(graph_standin.mailbox.stats.requests)

    checks = {c["name"]: c for c in signed_in.ok("doctor", "--live").data["checks"]}

    original = checks["originalStart of occurrences"]
    assert original["outcome"] == "as expected"
    assert "left out by default, sent when asked for; occurrenceId sent" in original["detail"]
    assert checks["a stale change key is refused"]["outcome"] == "not run"
    assert "series master row" in checks["series masters in delta"]["detail"]
    assert {m for m, _ in graph_standin.mailbox.stats.requests[before:]} == {"GET"}
    shown = signed_in.run("doctor", "--live", json_output=False)
    assert shown.exit_code == 0 and "originalStart of occurrences" in shown.stdout


def test_doctor_asks_outlook_only_when_told_to_and_only_for_outlook(signed_in: OutlookCli) -> None:
    offline = signed_in.run("doctor")
    assert offline.exit_code == 3 and "calferry doctor --live" in offline.data["error"]["message"]
    signed_in.set("personal.backend", "caldav")
    assert signed_in.run("doctor", "--live").exit_code == 3


# --- the CalDAV system tests, run again on Outlook -------------------------------------------------


def test_r5_keep_personal_reports_a_conflict_on_outlook(signed_in: OutlookCli) -> None:
    conflicts.test_r5_keep_personal_default_reports_a_conflict_and_keeps_the_personal_edit(signed_in)


def test_r5_psa_wins_overwrites_the_personal_edit_on_outlook(signed_in: OutlookCli) -> None:
    conflicts.test_r5_psa_wins_policy_overwrites_the_personal_edit(signed_in)


def test_r25_items_deleted_in_the_psa_are_deleted_in_outlook(signed_in: OutlookCli) -> None:
    conflicts.test_r25_items_deleted_in_the_psa_are_deleted_here(signed_in)


PORTED = {  # every CalDAV system test that uses only the CLI and the calendar's items (not iCalendar text);
    # left out: r28_appointment_name_is_subject_and_resource_not_mapped, which checks that CalDAV keeps
    # the PSA's zone in the item (Graph answers in UTC, and Outlook keeps its own zone for display)
    send: [
        "test_r3_get_never_sends_and_send_sends_only_the_selected_item",
        "test_r13_several_selected_items_are_sent_in_one_run_and_nothing_else",
        "test_r14_a_todo_without_company_is_refused_and_nothing_is_created",
        "test_r14_appointment_is_the_default_kind",
        "test_r14_a_todo_gets_the_default_action_type_and_action_type_overrides_it",
        "test_r16_first_send_creates_the_psa_item_and_stamps_its_id",
        "test_r17_a_resend_updates_the_same_appointment_never_a_duplicate",
        "test_r17_a_resent_todo_keeps_its_kind_and_company_without_flags",
        "test_r18_subject_and_description_are_mapped_and_nothing_else",
        "test_r18_the_logged_in_resource_is_the_appointments_resource",
    ],
    get_add: [
        "test_r23_get_creates_personal_items_for_noras_psa_items_only",
        "test_r26_only_items_inside_the_window_are_added",
        "test_r26_items_outside_the_window_are_not_updated_nor_deleted",
        "test_r10_get_kinds_bring_appointments_todos_and_service_calls_as_configured",
        "test_r11_each_service_call_occurrence_is_its_own_personal_item",
        "test_r28_service_call_renders_company_tickets_and_address",
        "test_r28_todo_subject_is_company_contact_and_action_type",
        "test_r24_r29_psa_edit_rewrites_subject_description_and_times",
        "test_r4_psa_is_master_of_a_sent_item",
        "test_r26_r24_item_rescheduled_into_the_window_is_updated_from_outside_it",
    ],
    conflicts: [
        "test_r5_personal_edit_alone_is_kept_until_it_is_sent",
        "test_r5_resolve_keep_personal_sends_the_personal_version",
        "test_r5_ask_policy_reports_and_changes_nothing",
        "test_r5_item_deleted_in_the_psa_but_edited_here_is_a_conflict_not_a_delete",
        "test_r26_r5_copy_outside_the_window_edited_here_is_a_conflict_and_a_deleted_copy_stays_deleted",
        "test_r8_service_call_deleted_in_the_psa_is_deleted_here",
        "test_guard_get_deleting_more_than_the_threshold_stops_unless_force_delete",
        "test_guard_psa_suddenly_empty_stops_unless_force_delete",
        "test_b4_audit_log_records_every_transfer_with_ids_and_outcome",
    ],
    add: [
        "test_r30_add_appointment_creates_it_in_the_psa",
        "test_r30_add_todo_with_company_contact_and_action_type",
        "test_r31_add_runs_a_get_with_the_current_options",
        "test_r32_added_appointment_has_no_location_service_call_has_the_company_address",
    ],
}


@pytest.mark.parametrize(
    "case", [(m, n) for m, names in PORTED.items() for n in names], ids=lambda c: c[1].removeprefix("test_")
)
def test_the_caldav_system_test_passes_on_outlook(signed_in: OutlookCli, case: tuple[object, str]) -> None:
    module, name = case
    getattr(module, name)(signed_in)
