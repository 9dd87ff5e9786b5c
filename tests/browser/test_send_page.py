"""Select on the calendar page, map on the mapping page, Save (R13-R18): as a person clicks it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from calferry.model import PsaAppointment, PsaToDo
from tests.browser.conftest import Backend, WebUnderTest

pytestmark = pytest.mark.browser


def select_and_open_mapping(web: WebUnderTest, *refs: str) -> Page:
    page = web.goto("/calendar")
    for ref in refs:
        page.locator(f"tr[data-ref^='{ref}'] input[type=checkbox]").first.check()
    page.get_by_role("button", name="Send to PSA…").click()
    expect(page.get_by_role("heading", name="Calendar item mapping")).to_be_visible()
    return page


def test_r16_appointment_is_created_and_its_state_shown(web: WebUnderTest, backend: Backend) -> None:
    web.goto("/calendar")
    web.screenshot("calendar")
    page = select_and_open_mapping(web, "budget")
    row = page.locator("section[data-ref='budget']")
    expect(row.get_by_label("PSA kind")).to_have_value("appointment")  # R14: the default
    web.screenshot("mapping")
    page.get_by_role("button", name="Save").click()
    expect(row.locator(".result")).to_have_text("Created PSA appointment #1")
    created = list(backend.psa.items.values())
    assert len(created) == 1 and isinstance(created[0], PsaAppointment)
    assert (created[0].title, created[0].description) == ("Budget review", "Q3 numbers")
    page = web.goto("/calendar")
    item = page.locator("tr[data-ref='budget']")
    expect(item.locator("td[data-label='State']")).to_have_text("sent")
    expect(item.locator("td[data-label='In the PSA']")).to_have_text("appointment #1")


def test_r18_private_item_is_sent_as_appointment_without_its_text(
    web: WebUnderTest, backend: Backend
) -> None:
    page = select_and_open_mapping(web, "dentist")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("section[data-ref='dentist'] .result")).to_contain_text("Created PSA appointment")
    (sent,) = backend.psa.items.values()
    assert isinstance(sent, PsaAppointment)
    assert (sent.title, sent.description) == ("Appointment", "")


def test_r14_todo_without_company_fails_next_to_its_row_and_the_rest_is_sent(
    web: WebUnderTest, backend: Backend
) -> None:
    page = select_and_open_mapping(web, "visit", "call")
    visit, call = page.locator("section[data-ref='visit']"), page.locator("section[data-ref='call']")
    visit.get_by_label("PSA kind").select_option("todo")
    expect(visit.get_by_label("Action type")).to_have_value("3")  # R14: the default action type, editable
    visit.get_by_label("Company (To-Do; name or id)").fill("Acme GmbH")
    call.get_by_label("PSA kind").select_option("todo")
    page.get_by_role("button", name="Save").click()
    expect(call.locator(".row-error")).to_contain_text("company")
    expect(visit.locator(".result")).to_have_text("Created PSA todo #1")
    expect(call.get_by_label("PSA kind")).to_have_value("todo")  # what was entered is kept
    expect(page.get_by_role("alert").first).to_contain_text("1 item(s) could not be sent")
    web.screenshot("mapping-error")
    (todo,) = backend.psa.items.values()
    assert isinstance(todo, PsaToDo)
    assert (todo.company_id, todo.action_type_id, todo.description) == (10, 3, "new printers")


def test_r17_resent_item_comes_prefilled_and_updates_the_same_todo(
    web: WebUnderTest, backend: Backend
) -> None:
    page = select_and_open_mapping(web, "visit")
    row = page.locator("section[data-ref='visit']")
    row.get_by_label("PSA kind").select_option("todo")
    row.get_by_label("Company (To-Do; name or id)").fill("acme gmbh")
    row.get_by_label("Action type").fill("Phone call")
    page.get_by_role("button", name="Save").click()
    expect(row.locator(".result")).to_have_text("Created PSA todo #1")
    page = select_and_open_mapping(web, "visit")
    row = page.locator("section[data-ref='visit']")
    expect(row.get_by_label("PSA kind")).to_have_value("todo")
    expect(row.get_by_label("Company (To-Do; name or id)")).to_have_value("10")
    expect(row.get_by_label("Action type")).to_have_value("4")
    page.get_by_role("button", name="Save").click()
    expect(row.locator(".result")).to_have_text("Updated PSA todo #1")
    assert len(backend.psa.items) == 1


def test_r15_recurring_item_is_fixed_to_appointment(web: WebUnderTest, backend: Backend) -> None:
    page = select_and_open_mapping(web, "standup@")
    row = page.locator("section[data-ref^='standup@']")
    expect(row.get_by_label("PSA kind")).to_be_disabled()
    expect(row.get_by_label("PSA kind")).to_have_value("appointment")
    expect(row).to_contain_text("cannot be changed")
    page.get_by_role("button", name="Save").click()
    expect(row.locator(".result")).to_have_text("Created PSA appointment #1")
    (sent,) = backend.psa.items.values()
    assert isinstance(sent, PsaAppointment) and sent.title == "Standup"


def test_calendar_is_usable_by_keyboard_and_on_a_narrow_window(web: WebUnderTest) -> None:
    page = web.goto("/calendar")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.set_viewport_size({"width": 390, "height": 800})
    expect(page.locator("#items thead")).to_be_hidden()  # rows stack into cards
    box = page.locator("tr[data-ref='budget']").bounding_box()
    assert box is not None and box["width"] <= 390
    web.screenshot("calendar-narrow")
