"""Get with its preview (B1, R5-B, R23-R24), the Conflicts page, Add (R30-R32) and the audit log (B4)."""

from __future__ import annotations

import re
import socket
from dataclasses import replace
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from calferry import config
from calferry.model import PsaKind, PsaServiceCall
from tests.browser.conftest import Backend, WebUnderTest

pytestmark = pytest.mark.browser


def send(backend: Backend, ref: str) -> int:
    """Send one item through the service; its PSA id."""
    with backend.factory()() as svc:
        result = svc.send([ref])
    assert not result.failed
    stamp = backend.personal(ref).stamp
    assert stamp is not None
    return stamp.psa_id


def around_today() -> str:
    """The calendar page's range from this week's Monday to a week ahead: what a Get brings lands there."""
    today = date.today()
    return f"start={today - timedelta(days=today.weekday())}&end={today + timedelta(days=8)}"


def test_r5_get_preview_shows_conflict_and_confirm_applies_the_previewed_plan(
    web: WebUnderTest, backend: Backend
) -> None:
    psa_id = send(backend, "budget")
    backend.update_personal(replace(backend.personal("budget"), subject="Budget review (my notes)"))
    backend.psa_patch("Appointments", id=psa_id, title="Budget review, moved by the office")

    page = web.goto("/get")
    preview = page.locator("table.actions")
    expect(preview.locator("tr[data-ref='budget']")).to_contain_text("conflict")
    expect(preview.locator("tr.action-create", has_text="Training")).to_have_count(1)  # the demo's item
    web.screenshot("get-preview")
    assert backend.personal("budget").subject == "Budget review (my notes)"  # preview changes nothing
    page.get_by_role("button", name="Apply this Get").click()
    expect(page.get_by_role("status")).to_contain_text("1 conflict")
    web.screenshot("get-result")

    page = web.goto(f"/calendar?{around_today()}")
    expect(page.locator("tr[data-ref='budget'] td[data-label='State']")).to_have_text("conflict")
    expect(page.locator("#items")).to_contain_text("Training")
    assert backend.personal("budget").subject == "Budget review (my notes)"  # R5-B: kept

    page = web.goto("/conflicts")
    web.screenshot("conflicts")
    page.locator("section[data-ref='budget']").get_by_role("button", name="Take the PSA version").click()
    page.get_by_role("button", name="Yes, take the PSA's version").click()
    expect(page.get_by_role("status")).to_contain_text("1 done")
    assert backend.personal("budget").subject == "Budget review, moved by the office"
    expect(web.goto("/conflicts").locator("#conflicts")).to_contain_text("No conflicts.")


def test_get_preview_of_a_stale_plan_id_is_refused(web: WebUnderTest) -> None:
    page = web.goto("/get")
    page.locator("input[name=plan_id]").evaluate("field => field.value = 'no-such-plan'")
    page.get_by_role("button", name="Apply this Get").click()
    expect(page.get_by_role("alert")).to_contain_text("no longer available")


def test_r30_r31_add_service_call_then_the_automatic_get_shows_it(
    web: WebUnderTest, backend: Backend
) -> None:
    (ticket,) = backend.psa_rows("Tickets", title="Printer queue stalls #2")
    page = web.goto("/add?kind=service-call")
    today = date.today().isoformat()
    company = page.get_by_label("Company (required)")
    expect(company).to_have_attribute("list", "psa-companies")  # the PSA's companies to pick from
    expect(page.locator("#psa-companies option[value='Contoso Dental']")).to_have_count(1)
    expect(page.locator("#work-of")).to_have_text("Choose the company to see its open tickets and tasks.")
    company.fill("Fabrikam Logistik GmbH")
    page.get_by_label("Start (required)").fill(f"{today}T12:00")
    page.get_by_label("End (required)").fill(f"{today}T13:30")
    page.get_by_role("button", name="Show its tickets and tasks").click()
    expect(page.locator("#work-of")).to_contain_text("Fabrikam Logistik GmbH")
    expect(page.get_by_label("Start (required)")).to_have_value(f"{today}T12:00")  # kept
    page.get_by_label(f"{ticket['ticketNumber']} Printer queue stalls #2").check()  # ticked by number
    page.get_by_label("Other tasks (numbers or titles, one per line)").fill("Move rack 2")  # typed by title
    page.get_by_label("Description").fill("Replace the printer drum")
    web.screenshot("add-service-call")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Added to the PSA")).to_be_visible()
    created = page.locator("table.actions").first
    expect(created).to_contain_text(re.compile(r"Service Call #\d+"))
    found = re.search(r"Service Call #(\d+)", created.inner_text())
    assert found is not None
    call_id = int(found.group(1))
    expect(page.locator("table.actions").nth(1)).to_contain_text(
        "Service Call: Fabrikam Logistik GmbH"
    )  # R31
    web.screenshot("add-result")
    call = backend.psa_item(PsaKind.SERVICE_CALL, call_id)
    assert isinstance(call, PsaServiceCall) and call.company_id == backend.company_id(
        "Fabrikam Logistik GmbH"
    )
    assert sorted((w.kind.value, w.title) for w in call.work) == [
        ("task", "Move rack 2"), ("ticket", "Printer queue stalls #2"),
    ]  # fmt: skip
    row = web.goto("/calendar").locator("tr", has_text=f"Service Call #{call_id}")
    expect(row.locator("td[data-label='State']")).to_have_text("downloaded")


def test_r30_add_form_keeps_values_and_shows_a_missing_company(web: WebUnderTest, backend: Backend) -> None:
    todos = backend.psa_rows("CompanyToDos")
    page = web.goto("/add?kind=todo")
    expect(page.get_by_label("Action type (required)")).to_have_value("General")  # the default, by name
    page.get_by_label("Company (required)").fill("Nobody Ltd")
    page.get_by_label("Start (required)").fill(f"{date.today().isoformat()}T09:00")
    page.get_by_label("End (required)").fill(f"{date.today().isoformat()}T09:30")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#add-error")).to_contain_text("Nobody Ltd")
    expect(page.get_by_label("Company (required)")).to_have_value("Nobody Ltd")
    expect(page.locator("#psa-companies option")).to_have_count(3)  # the pick list is back too
    assert backend.psa_rows("CompanyToDos") == todos


def test_b4_audit_log_lists_the_transfer(web: WebUnderTest, backend: Backend) -> None:
    psa_id = send(backend, "budget")
    page = web.goto("/log")
    expect(page.locator("#audit tbody tr").first).to_contain_text("Budget review")
    expect(page.locator("#audit tbody tr").first).to_contain_text(f"Appointment #{psa_id}")
    web.screenshot("audit-log")


def test_b4_audit_log_shows_while_the_calendar_and_the_psa_are_down(
    web: WebUnderTest, backend: Backend
) -> None:
    psa_id = send(backend, "budget")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    config.set_value("psa.base_url", closed)
    config.set_value("personal.url", closed)
    page = web.goto("/log")
    expect(page.locator("#audit tbody tr").first).to_contain_text(f"Appointment #{psa_id}")
