"""The org admin page (``calferry org web``) in Debian's Chromium, over a real PostgreSQL org database:
sign-in, the technicians and their switch, one technician's log, settings, the requests chart, and the
guards (sessions, cookie flags, CSRF and Origin)."""

from __future__ import annotations

import html
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from typer.testing import CliRunner

from calferry.cli import app
from calferry.org.admin.accounts import SESSION_LIFETIME, AdminAccounts
from calferry.org.admin.app import SESSION_COOKIE, serve_admin
from calferry.org.cluster import PrivateCluster
from calferry.org.store import OrgStore, Technician
from calferry.web.security import CSRF_COOKIE
from tests.org import admin_data as data

pytestmark = [pytest.mark.browser, pytest.mark.postgres]
ZONE = "America/New_York"
_numbers = itertools.count()


@dataclass
class AdminPage:
    page: Page
    base_url: str
    store: OrgStore
    db_url: str
    nora: Technician
    omar: Technician

    def goto(self, path: str) -> Page:
        self.page.goto(self.base_url + path)
        return self.page

    def sign_in(self, password: str = data.PASSWORD) -> None:
        self.goto("/signin")
        self.page.fill("#password", password)
        self.page.click("button:has-text('Sign in')")

    def cookie(self, name: str) -> dict[str, object]:
        (found,) = [c for c in self.page.context.cookies() if c["name"] == name]
        return dict(found)


@pytest.fixture
def admin(postgres_cluster: PrivateCluster, browser: Browser) -> Iterator[AdminPage]:
    url = postgres_cluster.create_database(f"admin_page_{next(_numbers)}")
    store = OrgStore.open(url)
    AdminAccounts(store.engine).set_password(data.PASSWORD)
    nora = store.add_technician(
        101, "nora@example.com", "caldav", "http://dav.example.com/nora/", name="Nora York"
    )
    omar = store.add_technician(102, "omar@example.com", "graph", "omar@example.com")
    server = serve_admin(store, zone=ZONE)
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        yield AdminPage(context.new_page(), server.url, store, url, nora, omar)
    finally:
        context.close()
        server.stop()
        store.close()


def _status(admin: AdminPage, *args: str) -> dict[str, object]:
    result = CliRunner().invoke(
        app, ["org", "status", *args, "--json"], env={"CALFERRY_ORG_DB": admin.db_url}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


@pytest.mark.parametrize("path", ["/technicians", "/settings", "/requests", "/technicians/1", "/"])
def test_every_page_without_a_session_goes_to_the_sign_in(admin: AdminPage, path: str) -> None:
    admin.goto(path)
    assert admin.page.url == admin.base_url + "/signin"
    expect(admin.page.locator("h1")).to_have_text("Sign in to the org admin page")
    expect(admin.page.locator("#technicians")).to_have_count(0)


def test_a_wrong_password_is_refused_and_the_right_one_signs_in(admin: AdminPage) -> None:
    admin.sign_in("not the password at all")
    expect(admin.page.locator("#signin-error")).to_have_text("That password is not right.")
    assert admin.page.url == admin.base_url + "/signin"
    assert not [c for c in admin.page.context.cookies() if c["name"] == SESSION_COOKIE]
    admin.sign_in()
    assert admin.page.url == admin.base_url + "/technicians"
    expect(admin.page.locator("#technicians tbody tr")).to_have_count(2)


def test_the_session_cookie_is_http_only_same_site_strict_and_expires(admin: AdminPage) -> None:
    admin.sign_in()
    cookie = admin.cookie(SESSION_COOKIE)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    lifetime = float(str(cookie["expires"])) - datetime.now(UTC).timestamp()
    assert SESSION_LIFETIME.total_seconds() - 120 < lifetime <= SESSION_LIFETIME.total_seconds()
    assert admin.page.evaluate("document.cookie").find(SESSION_COOKIE) == -1  # no script can read it


def test_sign_out_ends_the_session_in_the_database(admin: AdminPage) -> None:
    admin.sign_in()
    session = str(admin.cookie(SESSION_COOKIE)["value"])
    admin.page.click("button:has-text('Sign out')")
    assert admin.page.url == admin.base_url + "/signin"
    assert not AdminAccounts(admin.store.engine).signed_in(session)
    admin.goto("/technicians")
    assert admin.page.url == admin.base_url + "/signin"


def test_the_technicians_show_their_counts_runs_and_errors_in_the_admins_zone(admin: AdminPage) -> None:
    ran = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)  # 10:00 in New York (summer time)
    admin.store.record_run(
        admin.nora.id, ran, ran + timedelta(minutes=5), "the calendar server refused the sign-in"
    )
    for n in range(3):
        data.link(admin.store, admin.nora.id, f"uid-{n}", 500 + n)
    data.open_conflicts(admin.store, admin.nora.id, ["uid-1"])
    data.audit(admin.store, admin.nora.id, datetime.now(UTC), "uid-0", "failed", "the item was locked")
    admin.sign_in()
    row = admin.page.locator(f"tr[data-technician='{admin.nora.id}']")
    expect(row.locator(".items-linked")).to_have_text("3")
    expect(row.locator(".conflicts")).to_have_text("1")
    expect(row.locator(".errors")).to_have_text("1")
    expect(row).to_contain_text("Wed 1 Jul 10:00")
    expect(row).to_contain_text("Wed 1 Jul 10:05")
    expect(row).to_contain_text("The calendar server refused the sign-in")
    expect(admin.page.locator("#zone")).to_have_text(f"Times in {ZONE}")
    omar = admin.page.locator(f"tr[data-technician='{admin.omar.id}']")
    expect(omar).to_contain_text("Outlook mailbox: omar@example.com")
    expect(omar).to_contain_text("Not yet")


def test_disabling_a_technician_on_the_page_is_in_the_database_and_in_org_status(admin: AdminPage) -> None:
    admin.sign_in()
    row = admin.page.locator(f"tr[data-technician='{admin.nora.id}']")
    row.locator("input[name=reason]").fill("on leave until May")
    row.locator("button:has-text('Stop syncing')").click()
    expect(admin.page.locator("#notice")).to_contain_text("Nora York: no longer synced (on leave until May)")
    tech = admin.store.technician(admin.nora.id)
    assert (tech.enabled, tech.disabled_reason) == (False, "on leave until May")
    listed = {t["id"]: t for t in _status(admin)["technicians"]}  # type: ignore[attr-defined]
    assert (listed[admin.nora.id]["enabled"], listed[admin.nora.id]["disabled_reason"]) == (
        False,
        "on leave until May",
    )
    assert listed[admin.omar.id]["enabled"] is True
    admin.page.locator(f"tr[data-technician='{admin.nora.id}'] button:has-text('Sync again')").click()
    expect(admin.page.locator("#notice")).to_contain_text("synced from the next cycle on")
    assert admin.store.technician(admin.nora.id).enabled is True


def test_one_technicians_page_shows_their_conflicts_errors_and_pages_their_log(admin: AdminPage) -> None:
    start = datetime.now(UTC) - timedelta(hours=3)
    for n in range(55):
        data.audit(admin.store, admin.nora.id, start + timedelta(minutes=n), f"uid-{n}", message=f"entry {n}")
    data.audit(
        admin.store, admin.nora.id, start - timedelta(minutes=1), "uid-c", "conflict", "both sides changed"
    )
    data.audit(
        admin.store, admin.nora.id, start - timedelta(minutes=2), "uid-f", "failed", "the PSA refused it"
    )
    data.audit(admin.store, admin.omar.id, start, "omars-own", message="not Nora's")
    data.open_conflicts(admin.store, admin.nora.id, ["uid-c"])
    admin.sign_in()
    admin.page.click("a:has-text('Nora York')")
    expect(admin.page.locator("h1")).to_have_text("Nora York")
    expect(admin.page.locator("#conflicts tbody tr[data-ref='uid-c']")).to_contain_text("both sides changed")
    expect(admin.page.locator("#errors tbody tr[data-ref='uid-f']")).to_contain_text("the PSA refused it")
    audit = admin.page.locator("#audit tbody tr")
    expect(audit).to_have_count(50)
    expect(audit.first).to_contain_text("entry 54")
    admin.page.click("a:has-text('Older')")
    expect(admin.page.locator("#audit caption")).to_contain_text("51–57")
    expect(admin.page.locator("#audit")).not_to_contain_text("not Nora's")
    expect(admin.page.locator("#audit tbody tr").last).to_contain_text("the PSA refused it")
    expect(admin.page.locator("#audit tr[data-ref='uid-c']")).to_contain_text(
        "waiting for the technician's choice"
    )


def test_a_wrong_setting_is_explained_in_words_and_nothing_is_saved(admin: AdminPage) -> None:
    admin.sign_in()
    admin.goto("/settings")
    admin.page.fill("#set-cycle", "10")
    admin.page.fill("#set-share", "5")
    admin.page.click("button:has-text('Save')")
    expect(admin.page.locator("#err-budget_share")).to_have_text(
        "The budget share must be between 0.01 and 1 (1 is the whole hourly limit)."
    )
    expect(admin.page.locator("#not-saved")).to_be_visible()
    expect(admin.page.locator("#set-share")).to_have_value("5")  # what was typed, to correct it
    expect(admin.page.locator("#set-cycle")).to_have_value("10")
    assert admin.store.settings().cycle_minutes == 5  # all or nothing
    admin.page.fill("#set-cycle", "10")
    admin.page.fill("#set-share", "0.1")
    admin.page.uncheck("#set-kind-todo")
    admin.page.select_option("#set-policy", "psa-wins")
    admin.page.click("button:has-text('Save')")
    expect(admin.page.locator("#saved")).to_be_visible()
    saved = admin.store.settings()
    assert (saved.cycle_minutes, saved.budget_share, saved.policy) == (10, 0.1, "psa-wins")
    assert "todo" not in saved.kinds and saved.kinds


def test_no_kind_ticked_is_refused_in_words(admin: AdminPage) -> None:
    admin.sign_in()
    admin.goto("/settings")
    for box in admin.page.locator("input[name=kinds]").all():
        box.uncheck()
    admin.page.click("button:has-text('Save')")
    expect(admin.page.locator("#err-kinds")).to_contain_text("Kinds must be some of")
    assert admin.store.settings().kinds


def test_the_chart_has_24_hourly_bars_under_the_threshold_line(admin: AdminPage) -> None:
    data.requests_at(admin.store, 0, 96)
    data.requests_at(admin.store, 23, 3000)
    admin.sign_in()
    admin.page.click("nav a:has-text('Autotask requests')")
    chart = admin.page.locator("#requests-chart")
    bars = chart.locator("rect.bar")
    expect(bars).to_have_count(24)
    expect(chart.locator("line.threshold")).to_have_count(1)
    requests = [int(b.get_attribute("data-requests") or "-1") for b in bars.all()]
    assert requests[0] == 3000 and requests[-1] == 96 and sum(requests) == 3096
    threshold_y = float(chart.locator("line.threshold").get_attribute("y1") or "0")
    share_y = float(chart.locator("line.share").get_attribute("y1") or "0")
    tallest_top = float(bars.first.get_attribute("y") or "0")
    assert threshold_y < tallest_top < share_y  # 3,000 is above calferry's 2,500 and under the 10,000
    expect(admin.page.locator("#requests tbody tr")).to_have_count(24)


def test_a_post_from_another_origin_is_refused_and_changes_nothing(admin: AdminPage) -> None:
    admin.sign_in()
    token_field = admin.page.locator("input[name=csrf_token]").first.get_attribute("value")
    cookies = {
        SESSION_COOKIE: admin.cookie(SESSION_COOKIE)["value"],
        CSRF_COOKIE: admin.cookie(CSRF_COOKIE)["value"],
    }
    form = {"enabled": "no", "reason": "forged", "csrf_token": token_field}
    path = f"/technicians/{admin.nora.id}/enabled"
    with httpx.Client(base_url=admin.base_url, cookies={k: str(v) for k, v in cookies.items()}) as client:
        refused = client.post(path, data=form, headers={"Origin": "http://127.0.0.1:9999"})
        assert refused.status_code == 403 and "did not come from calferry's own page" in html.unescape(
            refused.text
        )
        assert (
            client.post(
                path, data={**form, "csrf_token": "forged"}, headers={"Origin": admin.base_url}
            ).status_code
            == 403
        )
        assert admin.store.technician(admin.nora.id).enabled is True
        taken = client.post(path, data=form, headers={"Origin": admin.base_url})  # the same, from the page
        assert taken.status_code == 303
    assert admin.store.technician(admin.nora.id).disabled_reason == "forged"


def test_a_page_without_a_session_cannot_be_written_to(admin: AdminPage) -> None:
    with httpx.Client(base_url=admin.base_url) as client:
        answer = client.post(
            f"/technicians/{admin.nora.id}/enabled",
            data={"enabled": "no"},
            headers={"Origin": admin.base_url},
        )
    assert answer.status_code == 303 and answer.headers["location"] == "/signin"
    assert admin.store.technician(admin.nora.id).enabled is True


def test_the_page_is_served_under_loopback_names_only(admin: AdminPage) -> None:
    with httpx.Client(base_url=admin.base_url) as client:
        assert client.get("/signin", headers={"Host": "evil.example"}).status_code == 400
        assert re.search(r"calferry", client.get("/signin").text)


def test_a_technician_nobody_has_is_a_page_that_says_so(admin: AdminPage) -> None:
    admin.sign_in()
    answer = admin.page.goto(admin.base_url + "/technicians/4711")
    assert answer is not None and answer.status == 404
    expect(admin.page.locator("#error")).to_have_text("No technician has the number 4711")
