"""The pages in the technician's words (issue 11, section 4): no rule codes or flags, names not ids, a
service call of one company's work only, the mapping page as the plug-in's, runs with conflicts that
say so, a Conflicts page that shows both versions and asks first, an audit log that reads like a history,
long subjects that wrap, a favicon and HEAD.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest
from playwright.sync_api import Page, expect

from calferry.model import PersonalItem
from calferry.personal.caldav import CalDavCalendar
from calferry.personal.radicale import DEFAULT_USER
from tests.browser.conftest import Backend, WebUnderTest
from tests.browser.test_get_add_pages import send

pytestmark = pytest.mark.browser

JARGON = re.compile(r"\bR\d+\b|--[a-z]")


def words(page: Page) -> str:
    return page.locator("body").inner_text()


def conflict_on(backend: Backend, ref: str = "budget") -> int:
    """``ref`` sent, then edited on both sides: the next Get reports a conflict. Its PSA id."""
    psa_id = send(backend, ref)
    backend.update_personal(replace(backend.personal(ref), subject="Budget review (my notes)"))
    backend.psa_patch("Appointments", id=psa_id, title="Budget review, moved by the office")
    return psa_id


def add(backend: Backend, item: PersonalItem) -> None:
    calendar = CalDavCalendar(backend.calendar_url, username=DEFAULT_USER)
    try:
        calendar.create(item)
    finally:
        calendar.close()


def test_b12_every_page_of_a_full_run_names_no_rule_and_no_flag(web: WebUnderTest, backend: Backend) -> None:
    seen: dict[str, str] = {}
    page = web.goto("/calendar")
    for ref in ("visit", "call", "standup@"):
        page.locator(f"tr[data-ref^='{ref}'] input[type=checkbox]").first.check()
    page.get_by_role("button", name="Send to PSA…").click()
    seen["mapping"] = words(page)
    page.locator("section[data-ref='call']").get_by_label("PSA kind").select_option("todo")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("section[data-ref='call'] .row-error")).to_have_text("A To-Do needs a company")
    seen["mapping result"] = words(page)
    conflict_on(backend)
    page = web.goto("/get")
    seen["get preview"] = words(page)
    page.get_by_role("button", name="Apply this Get").click()
    expect(page.locator("#summary")).to_be_visible()
    seen["get result"] = words(page)
    seen["conflicts"] = words(web.goto("/conflicts"))
    page = web.goto("/add?kind=todo")
    page.get_by_label("Start (required)").fill(f"{date.today().isoformat()}T09:00")
    page.get_by_label("End (required)").fill(f"{date.today().isoformat()}T09:30")
    page.get_by_label("Company (required)").fill("Nobody Ltd")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#add-error")).to_be_visible()
    seen["add error"] = words(page)
    for path in ("/add?kind=service-call", "/log", "/options", "/send", "/calendar?start=x"):
        seen[path] = words(web.goto(path))
    found = {name: JARGON.findall(text) for name, text in seen.items() if JARGON.search(text)}
    assert found == {}


def test_r14_action_types_by_name_and_contacts_follow_the_chosen_company(
    web: WebUnderTest, backend: Backend
) -> None:
    page = web.goto("/add?kind=todo")
    action = page.get_by_label("Action type (required)")
    expect(action.locator("option")).to_have_text(["Email", "General", "Meeting", "Phone Call"])
    expect(action).to_have_value("General")  # the options' default (id 3), shown by name
    suggestions = page.locator("#add-contacts option")
    expect(suggestions).to_have_count(0)
    for company in ("Contoso Dental", "Fabrikam Logistik GmbH"):
        page.get_by_label("Company (required)").fill(company)
        page.get_by_label("Company (required)").press("Tab")  # chosen: its contacts are suggested
        contacts = backend.psa_rows("Contacts", companyID=backend.company_id(company))
        wanted = sorted(f"{c['firstName']} {c['lastName']}" for c in contacts)
        # Both companies have as many contacts: wait for the names, not the count, to change.
        page.wait_for_function(
            "wanted => JSON.stringify([...document.querySelectorAll('#add-contacts option')]"
            ".map(o => o.value).sort()) === JSON.stringify(wanted)",
            arg=wanted,
        )
        offered = suggestions.evaluate_all("options => options.map(o => o.value).sort()")
        assert offered == wanted


def test_r30_service_call_offers_only_the_company_work_and_refuses_a_foreign_one(
    web: WebUnderTest, backend: Backend
) -> None:
    contoso = backend.company_id("Contoso Dental")
    calls = backend.psa_rows("ServiceCalls")
    page = web.goto("/add?kind=service-call")
    expect(page.locator("input[name=ticket]")).to_have_count(0)  # no company chosen: no work offered
    page.get_by_label("Company (required)").fill("Contoso Dental")
    page.get_by_label("Start (required)").fill(f"{date.today().isoformat()}T12:00")
    page.get_by_label("End (required)").fill(f"{date.today().isoformat()}T13:00")
    page.get_by_role("button", name="Show its tickets and tasks").click()
    own = {t["ticketNumber"] for t in backend.psa_rows("Tickets", companyID=contoso)}
    offered = page.locator("input[name=ticket]").evaluate_all("boxes => boxes.map(b => b.value)")
    assert set(offered) == own and len(own) < len(backend.psa_rows("Tickets"))
    expect(page.locator("input[name=task]")).to_have_count(0)  # the demo's project is Fabrikam's
    page.get_by_label("Tasks (numbers or titles, one per line)").fill("Move rack 2")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#add-error")).to_contain_text("Move rack 2")
    expect(page.locator("#add-error")).to_contain_text("belongs to another company")
    assert backend.psa_rows("ServiceCalls") == calls


def test_r17_r15_mapping_locks_a_sent_item_and_a_recurring_row_has_no_todo_fields(
    web: WebUnderTest, backend: Backend
) -> None:
    psa_id = send(backend, "budget")
    page = web.goto("/calendar")
    for ref in ("budget", "standup@"):
        page.locator(f"tr[data-ref^='{ref}'] input[type=checkbox]").first.check()
    page.get_by_role("button", name="Send to PSA…").click()
    budget, standup = (
        page.locator("section[data-ref='budget']"),
        page.locator("section[data-ref^='standup@']"),
    )
    expect(budget.get_by_label("PSA kind")).to_be_disabled()
    expect(budget.get_by_label("PSA kind")).to_have_value("appointment")
    expect(budget).to_contain_text("Sent before: its kind stay")
    expect(standup.get_by_label("PSA kind")).to_be_disabled()
    expect(standup.locator("input[type=text], select[name=action_type]")).to_have_count(0)  # no To-Do fields
    page.get_by_role("button", name="Save").click()
    expect(budget.locator(".result")).to_have_text(
        f"Unchanged since the last send: Appointment #{psa_id} in the PSA"
    )
    expect(standup.locator(".result")).to_contain_text("Sent as Appointment")


def test_r13_send_with_nothing_ticked_stays_on_the_calendar_with_a_message(web: WebUnderTest) -> None:
    page = web.goto("/calendar")
    page.get_by_role("button", name="Send to PSA…").click()
    expect(page).to_have_url(re.compile(r"/calendar\?"))
    expect(page.locator("#calendar-notice")).to_have_text(
        "Tick the items to send first: nothing was selected."
    )
    expect(page.locator("#items tbody tr").first).to_be_visible()


def test_r5_a_conflict_run_is_not_green_and_the_psa_version_is_taken_only_when_confirmed(
    web: WebUnderTest, backend: Backend
) -> None:
    conflict_on(backend)
    page = web.goto("/get")
    page.get_by_role("button", name="Apply this Get").click()
    summary = page.locator("#summary")
    expect(summary).to_have_class("attention")
    expect(summary).to_have_css("color", "rgb(138, 90, 0)")  # the warning colour, not green
    assert words(page).count("edited on both sides") == 1  # the reason once
    summary.get_by_role("link", name="open the Conflicts page").click()

    conflict = page.locator("section[data-ref='budget']")
    expect(conflict.get_by_role("region", name="Your version")).to_contain_text("Budget review (my notes)")
    expect(conflict.get_by_role("region", name="The PSA's version")).to_contain_text(
        "Budget review, moved by the office"
    )
    conflict.get_by_role("button", name="Take the PSA version").click()
    expect(page.get_by_role("alert")).to_contain_text("your edits to this item are lost")
    assert backend.personal("budget").subject == "Budget review (my notes)"  # asked, nothing done yet
    page.get_by_role("link", name="Cancel").click()
    page.locator("section[data-ref='budget']").get_by_role("button", name="Take the PSA version").click()
    page.get_by_role("button", name="Yes, take the PSA's version").click()
    expect(page.get_by_role("status")).to_contain_text("1 done")
    assert backend.personal("budget").subject == "Budget review, moved by the office"


def test_b4_audit_log_reads_like_a_history_with_paging_and_a_filter(
    web: WebUnderTest, backend: Backend
) -> None:
    budget_id = send(backend, "budget")
    send(backend, "visit")
    page = web.goto("/get")
    page.get_by_role("button", name="Apply this Get").click()
    page = web.goto("/log")
    budget = page.locator("#audit tr[data-ref='budget']")
    expect(budget.locator("td[data-label='Item']")).to_have_text("Budget review")
    expect(budget.locator("td[data-label='What happened']")).to_have_text("Created in the PSA")
    expect(budget.locator("td[data-label='Details']")).to_have_text("first send: creates the PSA item")
    expect(budget).to_have_attribute("data-rule", "R16")  # the rule stays in the data
    expect(budget.locator("td[data-label='PSA']")).to_have_text(f"Appointment #{budget_id}")
    expect(
        page.locator("#audit td[data-label='What happened']", has_text="Added to your calendar").first
    ).to_be_visible()
    total = page.locator("#audit tbody tr").count()
    assert total > 3

    page.get_by_label("Show only entries mentioning").fill("budget")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#audit tbody tr")).to_have_count(1)
    expect(page.locator("#audit tbody tr")).to_contain_text("Budget review")
    page = web.goto("/log?q=nothing+like+this")
    expect(page.locator("#audit")).to_contain_text("Nothing mentions “nothing like this”.")

    page = web.goto("/log?limit=2")
    first_page = page.locator("#audit tbody tr").all_inner_texts()
    assert len(first_page) == 2
    expect(page.get_by_role("link", name="Newer")).to_have_count(0)
    page.get_by_role("link", name="Older").click()
    expect(page.get_by_role("link", name="Newer")).to_have_count(1)  # the older page has loaded
    second_page = page.locator("#audit tbody tr").all_inner_texts()
    assert len(second_page) == 2 and not set(second_page) & set(first_page)
    page.get_by_role("link", name="Newer").click()
    expect(page.get_by_role("link", name="Newer")).to_have_count(0)  # the newest page has loaded
    assert page.locator("#audit tbody tr").all_inner_texts() == first_page


def test_a_long_unbroken_subject_wraps_and_pages_have_a_favicon_and_answer_head(
    web: WebUnderTest, backend: Backend
) -> None:
    start, end = backend.at(3, 10)
    add(backend, PersonalItem("long", start, end, "Contoso" * 40))
    page = web.goto("/calendar")
    expect(page.locator("tr[data-ref='long']")).to_be_visible()
    width = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert width[0] <= width[1]  # no sideways scrolling
    page.locator("tr[data-ref='long'] input[type=checkbox]").check()
    page.get_by_role("button", name="Send to PSA…").click()
    page.wait_for_load_state("load")  # the stylesheet too
    width = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert width[0] <= width[1]

    icon = page.request.get(web.url("/favicon.ico"))
    assert icon.status == 200 and icon.headers["content-type"] == "image/svg+xml"
    expect(page.locator("link[rel=icon]")).to_have_attribute("href", "/favicon.ico")
    for path in ("/calendar", "/add?kind=todo", "/conflicts", "/log", "/options", "/favicon.ico"):
        got, head = page.request.get(web.url(path)), page.request.head(web.url(path))
        assert (path, head.status) == (path, 200)
        assert head.body() == b"" and head.headers["content-type"] == got.headers["content-type"]
