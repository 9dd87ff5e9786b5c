"""Get with its preview (B1, R5-B, R23-R24), the Conflicts page, Add (R30-R32) and the audit log (B4)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from playwright.sync_api import expect

from calferry.model import ItemKey, PsaAppointment, PsaKind, PsaRef, PsaServiceCall
from tests.browser.conftest import ME, Backend, WebUnderTest

pytestmark = pytest.mark.browser


def send(backend: Backend, ref: str) -> None:
    with backend.factory()() as svc:
        assert not svc.send([ref]).failed


def test_r5_get_preview_shows_conflict_and_confirm_applies_the_previewed_plan(
    web: WebUnderTest, backend: Backend
) -> None:
    send(backend, "budget")
    mine = backend.calendar.get(ItemKey("budget"))
    backend.calendar.update(replace(mine, subject="Budget review (my notes)"))
    backend.psa.edit(PsaRef(PsaKind.APPOINTMENT, 1), title="Budget review, moved by the office")
    backend.psa.create(PsaAppointment(None, "Site visit", *backend.at(3, 10), ME.id))

    page = web.goto("/get")
    preview = page.locator("table.actions")
    expect(preview.locator("tr[data-ref='budget']")).to_contain_text("conflict")
    expect(preview.locator("tr.action-create")).to_contain_text("Site visit")
    web.screenshot("get-preview")
    assert (
        backend.calendar.get(ItemKey("budget")).subject == "Budget review (my notes)"
    )  # preview changes nothing
    page.get_by_role("button", name="Apply this Get").click()
    expect(page.get_by_role("status")).to_contain_text("1 conflict")
    web.screenshot("get-result")

    page = web.goto("/calendar")
    expect(page.locator("tr[data-ref='budget'] td[data-label='State']")).to_have_text("conflict")
    expect(page.locator("#items")).to_contain_text("Site visit")
    assert backend.calendar.get(ItemKey("budget")).subject == "Budget review (my notes)"  # R5-B: kept

    page = web.goto("/conflicts")
    web.screenshot("conflicts")
    page.locator("tr[data-ref='budget']").get_by_role("button", name="Take the PSA version").click()
    expect(page.get_by_role("status")).to_contain_text("1 done")
    assert backend.calendar.get(ItemKey("budget")).subject == "Budget review, moved by the office"
    expect(web.goto("/conflicts").locator("#conflicts")).to_contain_text("No conflicts.")


def test_get_preview_of_a_stale_plan_id_is_refused(web: WebUnderTest) -> None:
    page = web.goto("/get")
    page.locator("input[name=plan_id]").evaluate("field => field.value = 'no-such-plan'")
    page.get_by_role("button", name="Apply this Get").click()
    expect(page.get_by_role("alert")).to_contain_text("no longer available")


def test_r30_r31_add_service_call_then_the_automatic_get_shows_it(
    web: WebUnderTest, backend: Backend
) -> None:
    page = web.goto("/add?kind=service-call")
    today = date.today().isoformat()
    page.get_by_label("Company (required; name or id)").fill("Acme GmbH")
    page.get_by_label("Start (required)").fill(f"{today}T12:00")
    page.get_by_label("End (required)").fill(f"{today}T13:30")
    page.get_by_label("Tickets (numbers or titles, one per line)").fill("T20260301.0001")
    page.get_by_label("Description").fill("Replace the printer drum")
    web.screenshot("add-service-call")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Added to the PSA")).to_be_visible()
    expect(page.locator("table.actions").first).to_contain_text("service-call #1")
    expect(page.locator("table.actions").nth(1)).to_contain_text("Service Call: Acme GmbH")  # R31
    web.screenshot("add-result")
    (call,) = backend.psa.items.values()
    assert isinstance(call, PsaServiceCall) and [w.number for w in call.work] == ["T20260301.0001"]
    row = web.goto("/calendar").locator("tr", has_text="Service Call: Acme GmbH")
    expect(row.locator("td[data-label='State']")).to_have_text("downloaded")


def test_r30_add_form_keeps_values_and_shows_a_missing_company(web: WebUnderTest, backend: Backend) -> None:
    page = web.goto("/add?kind=todo")
    expect(page.get_by_label("Action type (required)")).to_have_value("3")
    page.get_by_label("Company (required; name or id)").fill("Nobody Ltd")
    page.get_by_label("Start (required)").fill(f"{date.today().isoformat()}T09:00")
    page.get_by_label("End (required)").fill(f"{date.today().isoformat()}T09:30")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#add-error")).to_contain_text("Nobody Ltd")
    expect(page.get_by_label("Company (required; name or id)")).to_have_value("Nobody Ltd")
    assert backend.psa.items == {}


def test_b4_audit_log_lists_the_transfer(web: WebUnderTest, backend: Backend) -> None:
    send(backend, "budget")
    page = web.goto("/log")
    expect(page.locator("#audit tbody tr").first).to_contain_text("budget")
    expect(page.locator("#audit tbody tr").first).to_contain_text("appointment #1")
    web.screenshot("audit-log")
