"""Select on the calendar page, map on the mapping page, Save (R13-R18, R33): as a person clicks it."""

from __future__ import annotations

import re
import socket
from dataclasses import replace

import pytest
from playwright.sync_api import Locator, Page, expect

from calferry import config
from calferry.model import PsaAppointment, PsaKind, PsaToDo
from tests.browser.conftest import NOAH, Backend, WebUnderTest

pytestmark = pytest.mark.browser

CREATED = re.compile(r"Sent as (Appointment|To-Do) #(\d+)")


def select_and_open_mapping(web: WebUnderTest, *refs: str) -> Page:
    page = web.goto("/calendar")
    for ref in refs:
        page.locator(f"tr[data-ref^='{ref}'] input[type=checkbox]").first.check()
    page.get_by_role("button", name="Send to PSA…").click()
    expect(page.get_by_role("heading", name="Calendar item mapping")).to_be_visible()
    return page


def created_id(row: Locator) -> int:
    """The PSA id a mapping row reports, after checking it says it was sent."""
    expect(row.locator(".result")).to_have_text(CREATED)
    found = CREATED.fullmatch(row.locator(".result").inner_text().strip())
    assert found is not None
    return int(found.group(2))


def test_r16_appointment_is_created_and_its_state_shown(web: WebUnderTest, backend: Backend) -> None:
    web.goto("/calendar")
    web.screenshot("calendar")
    page = select_and_open_mapping(web, "budget")
    row = page.locator("section[data-ref='budget']")
    expect(row.get_by_label("PSA kind")).to_have_value("appointment")  # R14: the default
    web.screenshot("mapping")
    page.get_by_role("button", name="Save").click()
    psa_id = created_id(row)
    created = backend.psa_item(PsaKind.APPOINTMENT, psa_id)
    assert isinstance(created, PsaAppointment)
    assert (created.title, created.description) == ("Budget review", "Q3 numbers")
    (stored,) = backend.psa_rows("Appointments", title="Budget review")
    assert stored["id"] == psa_id  # exactly one was made
    page = web.goto("/calendar")
    item = page.locator("tr[data-ref='budget']")
    expect(item.locator("td[data-label='State']")).to_have_text("sent")
    expect(item.locator("td[data-label='In the PSA']")).to_have_text(f"Appointment #{psa_id}")


def test_r18_private_item_is_sent_as_appointment_without_its_text(
    web: WebUnderTest, backend: Backend
) -> None:
    page = select_and_open_mapping(web, "dentist")
    page.get_by_role("button", name="Save").click()
    sent = backend.psa_item(PsaKind.APPOINTMENT, created_id(page.locator("section[data-ref='dentist']")))
    assert isinstance(sent, PsaAppointment)
    assert (sent.title, sent.description) == ("Appointment", "")
    assert "root canal" not in str(backend.psa_rows("Appointments"))


def test_r14_todo_without_company_fails_next_to_its_row_and_the_rest_is_sent(
    web: WebUnderTest, backend: Backend
) -> None:
    page = select_and_open_mapping(web, "visit", "call")
    visit, call = page.locator("section[data-ref='visit']"), page.locator("section[data-ref='call']")
    visit.get_by_label("PSA kind").select_option("todo")
    expect(visit.get_by_label("Action type")).to_have_value(
        "General"
    )  # R14: the default action type, by name
    offered_types = visit.get_by_label("Action type").locator("option").all_inner_texts()
    assert offered_types == ["Email", "General", "Meeting", "Phone Call"]  # only those valid for To-Dos
    company = visit.get_by_label("Company (To-Do)")
    expect(company).to_have_attribute("list", "psa-companies")  # the PSA's companies to pick from
    offered = page.locator("#psa-companies option").evaluate_all("options => options.map(o => o.value)")
    assert offered == ["Contoso Dental", "Fabrikam Logistik GmbH", "Northwind Traders Pty"]
    company.fill("Contoso Dental")
    call.get_by_label("PSA kind").select_option("todo")
    page.get_by_role("button", name="Save").click()
    expect(call.locator(".row-error")).to_contain_text("company")
    todo_id = created_id(visit)
    expect(visit.get_by_label("PSA kind")).to_be_disabled()  # sent now: its kind and company stay
    expect(visit.get_by_label("Company (To-Do)")).to_have_attribute("readonly", "")
    expect(call.get_by_label("PSA kind")).to_have_value("todo")  # what was entered is kept
    expect(page.get_by_role("alert").first).to_contain_text("1 item(s) could not be sent")
    web.screenshot("mapping-error")
    todo = backend.psa_item(PsaKind.TODO, todo_id)
    assert isinstance(todo, PsaToDo)
    assert (todo.company_id, todo.action_type_id, todo.description) == (
        backend.company_id("Contoso Dental"), 3, "new printers",
    )  # fmt: skip
    assert not backend.psa_rows("CompanyToDos", activityDescription="about invoices")


def test_r17_resent_item_comes_prefilled_and_updates_the_same_todo(
    web: WebUnderTest, backend: Backend
) -> None:
    todos = {r["id"] for r in backend.psa_rows("CompanyToDos")}
    page = select_and_open_mapping(web, "visit")
    row = page.locator("section[data-ref='visit']")
    row.get_by_label("PSA kind").select_option("todo")
    row.get_by_label("Company (To-Do)").fill("contoso dental")
    row.get_by_label("Action type").select_option("Phone Call")
    page.get_by_role("button", name="Save").click()
    todo_id = created_id(row)
    page = select_and_open_mapping(web, "visit")
    row = page.locator("section[data-ref='visit']")
    expect(row.get_by_label("PSA kind")).to_have_value("todo")
    expect(row.get_by_label("PSA kind")).to_be_disabled()  # sent before: the kind and company stay
    company = row.get_by_label("Company (To-Do)")
    expect(company).to_have_value("Contoso Dental")  # by name, not its id
    expect(company).to_have_attribute("readonly", "")
    expect(row.get_by_label("Action type")).to_have_value("Phone Call")
    suggested = row.locator("datalist option").evaluate_all("options => options.map(o => o.value)")
    contoso = backend.company_id("Contoso Dental")
    assert sorted(suggested) == sorted(
        f"{c['firstName']} {c['lastName']}" for c in backend.psa_rows("Contacts", companyID=contoso)
    )
    page.get_by_role("button", name="Save").click()
    expect(row.locator(".result")).to_have_text(f"Unchanged since the last send: To-Do #{todo_id} in the PSA")
    expect(row.locator(".row-error")).to_have_count(0)

    backend.update_personal(replace(backend.personal("visit"), description="new printers, two floors"))
    page = select_and_open_mapping(web, "visit")
    row = page.locator("section[data-ref='visit']")
    expect(row.get_by_label("Action type")).to_have_value("Phone Call")
    page.get_by_role("button", name="Save").click()
    expect(row.locator(".result")).to_have_text(f"Updated To-Do #{todo_id} in the PSA")
    todo = backend.psa_item(PsaKind.TODO, todo_id)
    assert isinstance(todo, PsaToDo) and todo.description == "new printers, two floors"
    assert {r["id"] for r in backend.psa_rows("CompanyToDos")} - todos == {todo_id}  # one, never a twin


def test_r15_recurring_item_is_fixed_to_appointment(web: WebUnderTest, backend: Backend) -> None:
    page = select_and_open_mapping(web, "standup@")
    row = page.locator("section[data-ref^='standup@']")
    expect(row.get_by_label("PSA kind")).to_be_disabled()
    expect(row.get_by_label("PSA kind")).to_have_value("appointment")
    expect(row).to_contain_text("cannot be changed")
    page.get_by_role("button", name="Save").click()
    sent = backend.psa_item(PsaKind.APPOINTMENT, created_id(row))
    assert isinstance(sent, PsaAppointment) and sent.title == "Standup"


def test_r33_todo_without_crm_access_is_refused_next_to_its_row(web: WebUnderTest, backend: Backend) -> None:
    config.set_value("psa.resource", NOAH)
    page = select_and_open_mapping(web, "visit", "budget")
    visit, budget = page.locator("section[data-ref='visit']"), page.locator("section[data-ref='budget']")
    visit.get_by_label("PSA kind").select_option("todo")
    visit.get_by_label("Company (To-Do)").fill("Contoso Dental")
    before = backend.psa_rows("CompanyToDos")
    page.get_by_role("button", name="Save").click()
    expect(visit.locator(".row-error")).to_contain_text("CRM")
    expect(visit.get_by_label("Company (To-Do)")).to_have_value("Contoso Dental")
    appointment = backend.psa_item(PsaKind.APPOINTMENT, created_id(budget))  # the rest is sent
    assert isinstance(appointment, PsaAppointment)
    assert appointment.resource_id == backend.psa_rows("Resources", email=NOAH)[0]["id"]
    assert backend.psa_rows("CompanyToDos") == before  # nothing left behind (R33)
    assert backend.personal("visit").stamp is None


def test_unreachable_psa_shows_on_every_row_and_nothing_is_lost(web: WebUnderTest, backend: Backend) -> None:
    page = select_and_open_mapping(web, "budget", "visit")
    budget, visit = page.locator("section[data-ref='budget']"), page.locator("section[data-ref='visit']")
    visit.get_by_label("PSA kind").select_option("todo")
    visit.get_by_label("Company (To-Do)").fill("Contoso Dental")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    config.set_value("psa.base_url", closed)
    before = backend.psa_rows("Appointments"), backend.psa_rows("CompanyToDos")
    page.get_by_role("button", name="Save").click()
    for row in (budget, visit):
        expect(row.locator(".row-error")).to_contain_text(
            re.compile(f"cannot reach the PSA at {re.escape(closed)}", re.I)
        )
    expect(page.get_by_role("alert").first).to_contain_text("2 item(s) could not be sent")
    expect(visit.get_by_label("PSA kind")).to_have_value("todo")
    expect(visit.get_by_label("Company (To-Do)")).to_have_value("Contoso Dental")
    assert (backend.psa_rows("Appointments"), backend.psa_rows("CompanyToDos")) == before
    assert backend.personal("budget").subject == "Budget review" and backend.personal("budget").stamp is None

    config.set_value("psa.base_url", backend.psa_server.base_url)  # back online: the same form goes through
    page.get_by_role("button", name="Save").click()
    created_id(budget), created_id(visit)


def test_calendar_is_usable_by_keyboard_and_on_a_narrow_window(web: WebUnderTest) -> None:
    page = web.goto("/calendar")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.set_viewport_size({"width": 390, "height": 800})
    expect(page.locator("#items thead")).to_be_hidden()  # rows stack into cards
    box = page.locator("tr[data-ref='budget']").bounding_box()
    assert box is not None and box["width"] <= 390
    web.screenshot("calendar-narrow")
