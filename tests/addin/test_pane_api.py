"""The task pane's API over HTTPS: the pairing token and the origin check, and Send through calferry's
engine against the Graph stand-in and the real PSA server (R14-R18 as everywhere)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from calferry.model import PsaKind
from tests.addin.conftest import Outlook, monday_at


def test_api_refuses_requests_without_the_pairing_token(outlook: Outlook) -> None:
    graph_id = outlook.event("Budget review", monday_at(9))
    with outlook.client() as client:
        client.headers.pop("Authorization")
        assert client.get("/addin/api/item", params={"id": graph_id}).status_code == 401
        client.headers["Authorization"] = "Bearer not-the-token"
        refused = client.get("/addin/api/item", params={"id": graph_id})
        sent = client.post("/addin/api/send", json={"id": graph_id})
    assert refused.status_code == 401 and refused.json()["pair"] is True
    assert sent.status_code == 401
    assert outlook.stamp(graph_id) is None
    assert all(r["title"] != "Budget review" for r in outlook.psa_rows("Appointments"))


def test_api_refuses_other_origins_and_names_only_its_own(outlook: Outlook) -> None:
    graph_id = outlook.event("Budget review", monday_at(9))
    with outlook.client(Origin="https://evil.example") as client:
        foreign = client.post("/addin/api/send", json={"id": graph_id})
    with outlook.client(Origin=outlook.base_url) as client:
        own = client.get("/addin/api/item", params={"id": graph_id})
    assert foreign.status_code == 403 and "access-control-allow-origin" not in foreign.headers
    assert own.status_code == 200
    assert own.headers["access-control-allow-origin"] == outlook.base_url
    assert outlook.stamp(graph_id) is None


def test_r14_new_item_defaults_to_appointment_with_the_psa_companies(outlook: Outlook) -> None:
    graph_id = outlook.event("Visit Contoso", monday_at(13, days=2))
    with outlook.client() as client:
        described = client.get("/addin/api/item", params={"id": graph_id}).json()
    assert described["subject"] == "Visit Contoso"
    assert (described["kind"], described["locked"], described["sent_as"]) == ("appointment", False, None)
    assert described["action_type"] == "General"  # the options' default action type (3), by name
    assert described["companies"] == ["Contoso Dental", "Fabrikam Logistik GmbH", "Northwind Traders Pty"]
    assert described["action_types"] == ["Email", "General", "Meeting", "Phone Call"]  # the To-Do ones


def test_r16_save_creates_the_appointment_and_stamps_the_outlook_item(outlook: Outlook) -> None:
    graph_id = outlook.event("Budget review", monday_at(9))
    with outlook.client() as client:
        answer = client.post("/addin/api/send", json={"id": graph_id, "kind": "appointment"})
    assert answer.status_code == 200, answer.text
    psa_id = answer.json()["psa_id"]
    assert answer.json()["message"] == f"Sent as Appointment #{psa_id}"
    assert outlook.psa_item(PsaKind.APPOINTMENT, psa_id).title == "Budget review"
    stamp = outlook.stamp(graph_id)
    assert stamp is not None and str(psa_id) in str(stamp)


def test_r17_resend_is_prefilled_locked_and_updates_the_same_todo(outlook: Outlook) -> None:
    graph_id = outlook.event("Call back", monday_at(15, days=2))
    with outlook.client() as client:
        first = client.post(
            "/addin/api/send",
            json={"id": graph_id, "kind": "todo", "company": "Contoso Dental", "action_type": "Phone Call"},
        ).json()
        described = client.get("/addin/api/item", params={"id": graph_id}).json()
        again = client.post("/addin/api/send", json={"id": graph_id, "kind": "appointment"}).json()
    assert first["message"] == f"Sent as To-Do #{first['psa_id']}"
    assert described["locked"] is True
    assert (described["kind"], described["company"]) == ("todo", "Contoso Dental")
    assert described["action_type"] == "Phone Call"  # the one sent, not the options' default
    assert described["sent_as"] == f"To-Do #{first['psa_id']}"
    assert again["psa_id"] == first["psa_id"] and again["kind"] == "todo"
    assert again["message"] == f"To-Do #{first['psa_id']} is already up to date."
    assert len([r for r in outlook.psa_rows("CompanyToDos") if r["id"] == first["psa_id"]]) == 1


def test_r18_private_item_arrives_as_appointment(outlook: Outlook) -> None:
    graph_id = outlook.event("Dentist", monday_at(8, days=1), sensitivity="private")
    with outlook.client() as client:
        assert client.get("/addin/api/item", params={"id": graph_id}).json()["private"] is True
        answer = client.post("/addin/api/send", json={"id": graph_id}).json()
    item = outlook.psa_item(PsaKind.APPOINTMENT, answer["psa_id"])
    assert item.title == "Appointment"
    assert "Dentist" not in (item.description or "")


def test_r14_todo_needs_a_company_in_words(outlook: Outlook) -> None:
    graph_id = outlook.event("Call back", monday_at(15, days=2))
    with outlook.client() as client:
        answer = client.post("/addin/api/send", json={"id": graph_id, "kind": "todo", "company": " "})
    assert answer.status_code == 400
    assert answer.json()["error"] == "A To-Do needs a company: choose one, then Save again."
    assert outlook.stamp(graph_id) is None


@pytest.mark.parametrize("kind", ["todo", "appointment"])
def test_r15_recurring_occurrence_is_sent_as_appointment(outlook: Outlook, kind: str) -> None:
    graph_id = outlook.occurrence("Standup", monday_at(8))
    with outlook.client() as client:
        assert client.get("/addin/api/item", params={"id": graph_id}).json()["recurring"] is True
        answer = client.post(
            "/addin/api/send", json={"id": graph_id, "kind": kind, "company": "Contoso Dental"}
        ).json()
    assert answer["kind"] == "appointment" and answer["message"].startswith("Sent as Appointment #")
    assert outlook.stamp(graph_id) is not None


def test_an_item_outlook_does_not_have_is_an_error_in_words(outlook: Outlook) -> None:
    with outlook.client() as client:
        answer = client.get("/addin/api/item", params={"id": "AAMkNoSuchItem="})
    assert answer.status_code in (400, 404, 409)
    assert "R1" not in answer.json()["error"] and answer.json()["error"].endswith(".")


def test_get_preview_then_get(outlook: Outlook) -> None:
    with outlook.client() as client:
        preview = client.get("/addin/api/get").json()
        assert preview["rows"], preview  # the demo PSA holds Nora's items this week
        done = client.post("/addin/api/get", json={"plan_id": preview["plan_id"]}).json()
        stale = client.post("/addin/api/get", json={"plan_id": preview["plan_id"]})
    assert done["summary"] and len(done["rows"]) == len(preview["rows"])
    assert len(outlook.graph.mailbox.events) >= len([r for r in preview["rows"] if r["action"] == "create"])
    assert stale.status_code == 400 and "preview again" in stale.json()["error"]


@pytest.mark.parametrize(
    "hostile", ["", "../calendars", "AAMk' or 1 eq 1", "x" * 5000, "AAMk%2F..%2Fme", "AAMk\u202e\u0000"]
)
def test_hostile_item_ids_cost_only_themselves(outlook: Outlook, hostile: str) -> None:
    graph_id = outlook.event("Budget review", monday_at(9))
    with outlook.client() as client:
        refused = client.post("/addin/api/send", json={"id": hostile, "kind": "appointment"})
        fine = client.get("/addin/api/item", params={"id": graph_id})
    assert 400 <= refused.status_code < 500, refused.text
    assert refused.json()["error"].endswith(".")
    assert fine.status_code == 200
    assert all(r["title"] != "Budget review" for r in outlook.psa_rows("Appointments"))


def test_help_page_unknown_pane_page_and_incomplete_request(outlook: Outlook) -> None:
    with outlook.client() as client:
        incomplete = client.post("/addin/api/send", json={"kind": "appointment"})
        assert incomplete.status_code == 400 and incomplete.json()["error"].startswith("The add-in sent")
        assert "Send to Autotask" in client.get("/addin/help").text
        assert client.get("/addin/pane/nope").status_code == 400


def test_a_calendar_other_than_outlook_is_explained(
    outlook: Outlook, monkeypatch: pytest.MonkeyPatch
) -> None:
    from calferry.personal.memory import MemoryCalendar

    monkeypatch.setattr("calferry.wiring.open_calendar", lambda settings: MemoryCalendar())
    with outlook.client() as client:
        answer = client.get("/addin/api/item", params={"id": "AAMk1"})
    assert answer.status_code == 409  # as on the page: a setup problem, not a bad request
    assert answer.json() == {
        "error": "The Outlook add-in needs calferry to use your Outlook calendar.",
        "hint": "Choose Outlook (Microsoft 365) as your own calendar in the options.",
    }


def test_r17_an_item_edited_in_outlook_updates_the_same_appointment(outlook: Outlook) -> None:
    graph_id = outlook.event("Budget review", monday_at(9))
    with outlook.client() as client:
        first = client.post("/addin/api/send", json={"id": graph_id}).json()
        outlook.graph.mailbox.patch(graph_id, {"subject": "Budget review (moved)"}, None)
        again = client.post("/addin/api/send", json={"id": graph_id, "kind": "todo"}).json()
    assert again == {
        "ok": True, "message": f"Sent again: Appointment #{first['psa_id']} updated",
        "kind": "appointment", "psa_id": first["psa_id"],
    }  # fmt: skip
    assert outlook.psa_item(PsaKind.APPOINTMENT, first["psa_id"]).title == "Budget review (moved)"


def test_r20_the_whole_series_sends_each_occurrence(outlook: Outlook) -> None:
    master = outlook.graph.seed_series("Standup", monday_at(8), monday_at(8) + timedelta(minutes=15), 3)
    with outlook.client() as client:
        described = client.get("/addin/api/item", params={"id": master["id"]}).json()
        first = client.post("/addin/api/send", json={"id": master["id"], "kind": "todo"}).json()
        again = client.post("/addin/api/send", json={"id": master["id"]}).json()
    assert (described["series"], described["recurring"], described["locked"]) == (True, True, False)
    assert first == {"ok": True, "message": "Sent the series: 3 occurrence(s) as Appointments.",
                     "kind": "appointment", "psa_id": None}  # fmt: skip
    assert again["message"] == "Sent the series: 0 occurrence(s) as Appointments, 3 already up to date."
    occurrences = [
        outlook.graph.mailbox.occurrence_id(master["id"], monday_at(8) + timedelta(days=7 * n))
        for n in range(3)
    ]
    stamps = [outlook.stamp(o) for o in occurrences]
    assert all(stamps) and len({s["id"] for s in stamps if s}) == 3
    assert len([r for r in outlook.psa_rows("Appointments") if r["title"] == "Standup"]) == 3


@pytest.mark.parametrize("kind", ["service-call", "meeting", "", "APPOINTMENT"])
def test_r10_only_appointment_or_todo_can_be_chosen(outlook: Outlook, kind: str) -> None:
    graph_id = outlook.event("Visit Contoso", monday_at(13, days=2))
    with outlook.client() as client:
        answer = client.post(
            "/addin/api/send", json={"id": graph_id, "kind": kind, "company": "Contoso Dental"}
        )
    assert answer.status_code == 400
    assert "Appointment" in answer.json()["error"]
    assert outlook.stamp(graph_id) is None
