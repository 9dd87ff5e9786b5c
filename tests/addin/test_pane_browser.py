"""The real task pane in Chromium, with a stub ``Office`` (tests/addin/office_stub.js) in place of
Microsoft's CDN copy, against ``create_app`` over HTTPS, the Graph stand-in and ``calferry psa serve``.

Screenshots of the pane go to ``docs/screenshots/`` with ``CALFERRY_SCREENSHOTS=1`` (for
docs/outlook-addin.md), else into the test's temporary directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from calferry.model import PsaKind
from tests.addin.conftest import Outlook, monday_at
from tests.browser.conftest import DOCS_SCREENSHOTS

STUB = (Path(__file__).parent / "office_stub.js").read_text(encoding="utf-8")
OFFICE_JS = "https://appsforoffice.microsoft.com/**"
pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser: Browser, outlook: Outlook) -> Iterator[Page]:
    """A pane-sized page; Chromium does not know calferry's CA (test_tls checks the chain with it)."""
    context = browser.new_context(viewport={"width": 360, "height": 640}, ignore_https_errors=True)
    opened = context.new_page()
    opened.route(OFFICE_JS, _office_stub)
    yield opened
    context.close()


def _office_stub(route: Route) -> None:
    route.fulfill(body=STUB, content_type="text/javascript")


def open_pane(
    page: Page, outlook: Outlook, graph_id: str, view: str = "", *, paired: bool = True, **item: Any
) -> Page:
    """The pane for an item Outlook knows as ``graph_id`` (read mode unless ``compose=True``)."""
    seed = {
        "ewsId": "EWS-" + graph_id[-12:], "subject": item.pop("subject", "?"), "recurrence": None,
        "roaming": {"calferryToken": outlook.token} if paired else {}, **item,
    }  # fmt: skip
    seed["restIds"] = {seed["ewsId"]: graph_id}
    page.add_init_script(f"window.__officeSeed = {json.dumps(seed)};")
    page.goto(f"{outlook.base_url}/addin/pane{'/' + view if view else ''}")
    return page


def screenshot(page: Page, tmp_path: Path, name: str) -> None:
    folder = DOCS_SCREENSHOTS if os.environ.get("CALFERRY_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_r16_save_sends_an_appointment_and_stamps_the_outlook_item(
    page: Page, outlook: Outlook, tmp_path: Path
) -> None:
    graph_id = outlook.event("Budget review", monday_at(9))
    open_pane(page, outlook, graph_id, subject="Budget review")
    expect(page.locator("#subject")).to_have_text("Budget review")
    expect(page.get_by_label("Send as")).to_have_value("appointment")
    expect(page.get_by_label("Company")).to_be_hidden()
    screenshot(page, tmp_path, "addin-pane-send")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#result")).to_contain_text("Sent as Appointment #")
    psa_id = _psa_id(outlook, graph_id)
    expect(page.locator("#result")).to_have_text(f"Sent as Appointment #{psa_id}")
    assert outlook.psa_item(PsaKind.APPOINTMENT, psa_id).title == "Budget review"
    screenshot(page, tmp_path, "addin-pane-sent")


def test_r14_todo_needs_a_company_then_is_sent_with_it(page: Page, outlook: Outlook, tmp_path: Path) -> None:
    graph_id = outlook.event("Call back", monday_at(15, days=2))
    open_pane(page, outlook, graph_id, subject="Call back")
    page.get_by_label("Send as").select_option("todo")
    expect(page.get_by_label("Company")).to_be_visible()
    action_type = page.get_by_label("Action type")
    expect(action_type).to_have_value("General")  # the options' default, by name
    expect(action_type.locator("option")).to_have_text(["Email", "General", "Meeting", "Phone Call"])
    action_type.select_option("Meeting")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#error")).to_have_text("A To-Do needs a company: choose one, then Save again.")
    screenshot(page, tmp_path, "addin-pane-todo")
    assert outlook.stamp(graph_id) is None
    page.get_by_label("Company").select_option("Contoso Dental")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#result")).to_contain_text("Sent as To-Do #")
    expect(page.locator("#result")).to_have_text(f"Sent as To-Do #{_psa_id(outlook, graph_id)}")
    expect(page.locator("#error")).to_be_hidden()
    todo = outlook.psa_item(PsaKind.TODO, _psa_id(outlook, graph_id))
    assert todo.company_id == _company_id(outlook, "Contoso Dental")
    assert outlook.action_type_name(todo.action_type_id) == "Meeting"


def test_r17_resent_item_is_prefilled_and_locked(page: Page, outlook: Outlook, tmp_path: Path) -> None:
    graph_id = outlook.event("Visit Contoso", monday_at(13, days=2))
    with outlook.client() as client:
        first = client.post(
            "/addin/api/send",
            json={"id": graph_id, "kind": "todo", "company": "Contoso Dental", "action_type": "Phone Call"},
        )
    psa_id = first.json()["psa_id"]
    open_pane(page, outlook, graph_id, subject="Visit Contoso")
    expect(page.get_by_label("Send as")).to_have_value("todo")
    expect(page.get_by_label("Send as")).to_be_disabled()
    expect(page.get_by_label("Company")).to_have_value("Contoso Dental")
    expect(page.get_by_label("Company")).to_be_disabled()
    expect(page.get_by_label("Action type")).to_have_value("Phone Call")
    expect(page.get_by_label("Action type")).to_be_disabled()
    expect(page.locator("#notes")).to_contain_text(f"Sent before as To-Do #{psa_id}.")
    screenshot(page, tmp_path, "addin-pane-resend")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#result")).to_have_text(f"To-Do #{psa_id} is already up to date.")
    assert [r["id"] for r in outlook.psa_rows("CompanyToDos") if r["id"] == psa_id] == [psa_id]


def test_r18_private_item_arrives_as_appointment(page: Page, outlook: Outlook) -> None:
    graph_id = outlook.event("Dentist", monday_at(8, days=1), sensitivity="private")
    open_pane(page, outlook, graph_id, subject="Dentist")
    expect(page.locator("#notes")).to_contain_text('Autotask shows it as "Appointment"')
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#result")).to_contain_text("Sent as Appointment #")
    assert outlook.psa_item(PsaKind.APPOINTMENT, _psa_id(outlook, graph_id)).title == "Appointment"


def test_r15_recurring_item_in_compose_mode_is_saved_first_and_locked_to_appointment(
    page: Page, outlook: Outlook
) -> None:
    graph_id = outlook.occurrence("Standup", monday_at(8))
    weekly = {"recurrenceType": "weekly", "recurrenceProperties": {"interval": 1, "days": ["mon"]}}
    open_pane(page, outlook, graph_id, subject="Standup", compose=True, recurrence=weekly)
    expect(page.get_by_label("Send as")).to_be_disabled()
    expect(page.get_by_label("Send as")).to_have_value("appointment")
    expect(page.locator("#notes")).to_contain_text("recurring item is sent as Appointments")
    assert page.evaluate("window.__saves") == 1
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#result")).to_contain_text("Sent as Appointment #")
    assert outlook.stamp(graph_id) is not None


def test_pairing_asks_for_the_code_keeps_it_and_refuses_a_wrong_one(page: Page, outlook: Outlook) -> None:
    graph_id = outlook.event("Budget review", monday_at(9))
    open_pane(page, outlook, graph_id, paired=False, subject="Budget review")
    expect(page.get_by_label("Pairing code")).to_be_visible()
    page.get_by_label("Pairing code").fill("not-the-code")
    page.get_by_role("button", name="Pair").click()
    expect(page.locator("#error")).to_contain_text("not paired with calferry")
    expect(page.get_by_label("Pairing code")).to_be_visible()
    page.get_by_label("Pairing code").fill(outlook.token)
    page.get_by_role("button", name="Pair").click()
    expect(page.locator("#subject")).to_have_text("Budget review")
    assert page.evaluate("window.__roaming.calferryToken") == outlook.token


def test_get_calendar_items_previews_then_gets(page: Page, outlook: Outlook, tmp_path: Path) -> None:
    open_pane(page, outlook, "unused", "get")
    expect(page.locator("#summary")).to_be_visible()
    count = page.locator("#rows li").count()
    assert count > 0
    screenshot(page, tmp_path, "addin-pane-get")
    before = len(outlook.graph.mailbox.events)
    page.get_by_role("button", name="Get these items").click()
    expect(page.get_by_role("button", name="Get these items")).to_be_hidden()
    expect(page.locator("#rows li").first).to_contain_text("(done")
    assert len(outlook.graph.mailbox.events) > before


def test_add_to_autotask_opens_the_add_forms(page: Page, outlook: Outlook) -> None:
    open_pane(page, outlook, "unused", "add")
    page.get_by_role("link", name="Open the Add forms").click()
    assert page.evaluate("window.__opened") == f"{outlook.base_url}/add"


def _psa_id(outlook: Outlook, graph_id: str) -> int:
    stamp = outlook.stamp(graph_id)
    assert stamp is not None, "the Outlook item carries no stamp"
    return int(stamp["id"])


def _company_id(outlook: Outlook, name: str) -> int:
    (row,) = [r for r in outlook.psa_rows("Companies") if r["companyName"] == name]
    return int(row["id"])


def test_a_code_revoked_meanwhile_asks_again_and_then_sends_once(page: Page, outlook: Outlook) -> None:
    from calferry.addin import token

    graph_id = outlook.event("Budget review", monday_at(9))
    open_pane(page, outlook, graph_id, subject="Budget review")
    expect(page.locator("#subject")).to_have_text("Budget review")
    new_code = token.pair()  # paired again elsewhere: the pane's code no longer works
    sends: list[str] = []
    page.on("request", lambda r: sends.append(r.url) if r.url.endswith("/addin/api/send") else None)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_label("Pairing code")).to_be_visible()
    expect(page.locator("#mapping")).to_be_hidden()
    assert outlook.stamp(graph_id) is None
    page.get_by_label("Pairing code").fill(new_code)
    page.get_by_role("button", name="Pair").click()
    expect(page.locator("#mapping")).to_be_visible()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#result")).to_contain_text("Sent as Appointment #")
    assert len(sends) == 2  # the refused one and this one: no listener was attached twice
    assert len([r for r in outlook.psa_rows("Appointments") if r["title"] == "Budget review"]) == 1
