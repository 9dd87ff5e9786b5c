"""Options (R1, R2) written from the page, and the page's own protections (CSRF, headers)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from calferry.config import load_settings
from calferry.web.security import allowed_hosts
from tests.browser.conftest import WebUnderTest

pytestmark = pytest.mark.browser


def test_r2_options_change_is_persisted(web: WebUnderTest) -> None:
    page = web.goto("/options")
    expect(page.get_by_label("Calendar integration enabled")).to_be_checked()  # as the backend set it
    page.get_by_label("Calendar integration enabled").uncheck()
    page.get_by_label("Get past calendar items (days)").fill("3")
    page.get_by_label("Get future calendar items (days)").fill("14")
    page.get_by_label("Service Calls").uncheck()
    page.get_by_label("Default To-Do action type (id or name)").fill("Meeting")
    page.get_by_label("When Get finds a personal edit not yet sent").select_option("psa-wins")
    web.screenshot("options")
    page.get_by_role("button", name="Save options").click()
    expect(page.get_by_role("status")).to_have_text("Options saved.")
    calendar = load_settings().calendar
    assert calendar.enabled is False
    assert (calendar.get_past_days, calendar.get_future_days) == (3, 14)
    assert [k.value for k in calendar.get_kinds] == ["appointment", "todo"]
    assert (calendar.default_action_type, calendar.conflict_policy) == ("Meeting", "psa-wins")
    page.reload()
    expect(page.get_by_label("Get past calendar items (days)")).to_have_value("3")


def test_r2_bad_option_shows_next_to_its_field_and_others_are_saved(web: WebUnderTest) -> None:
    page = web.goto("/options")
    past = page.get_by_label("Get past calendar items (days)")
    past.evaluate("field => field.removeAttribute('min')")  # the server checks too, not only the browser
    past.fill("-4")
    page.get_by_label("Get future calendar items (days)").fill("9")
    page.get_by_role("button", name="Save options").click()
    expect(page.locator("#err-calendar-get_past_days")).to_contain_text("must not be negative")
    expect(page.get_by_label("Get past calendar items (days)")).to_have_value("-4")
    assert load_settings().calendar.get_future_days == 9
    assert load_settings().calendar.get_past_days == 7


def test_credentials_status_never_shows_the_secret(
    web: WebUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALFERRY_PSA_SECRET", "s3cr3t-value-xyz")
    page = web.goto("/options")
    expect(page.locator("#psa-secret-status")).to_contain_text("taken from the environment")
    assert "s3cr3t-value-xyz" not in page.content()


def test_post_without_csrf_token_is_refused(web: WebUnderTest) -> None:
    page = web.goto("/options")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert "calferry_csrf" in cookies
    with httpx.Client(base_url=web.base_url, cookies=cookies) as client:
        missing = client.post("/options", data={"calendar.get_past_days": "1"})
        wrong = client.post("/options", data={"calendar.get_past_days": "1", "csrf_token": "forged"})
    assert (missing.status_code, wrong.status_code) == (403, 403)
    assert load_settings().calendar.get_past_days == 7


def test_pages_send_strict_security_headers(web: WebUnderTest) -> None:
    response = web.page.goto(web.url("/options"))
    assert response is not None
    headers = response.headers
    assert headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_a_foreign_host_header_is_refused_so_dns_rebinding_reads_nothing(web: WebUnderTest) -> None:
    port = web.base_url.rsplit(":", 1)[1]
    with httpx.Client(base_url=web.base_url) as client:
        rebound = client.get("/options", headers={"Host": f"evil.example:{port}"})
        posted = client.post(
            "/options", headers={"Host": "evil.example"}, data={"calendar.get_past_days": "1"}
        )
        by_name = client.get("/options", headers={"Host": f"localhost:{port}"})
        by_address = client.get("/options")
    assert (rebound.status_code, posted.status_code) == (400, 400)
    assert "csrf" not in rebound.text.lower() and "calferry_csrf" not in rebound.headers.get("set-cookie", "")
    assert (by_name.status_code, by_address.status_code) == (200, 200)
    assert load_settings().calendar.get_past_days == 7


def test_hosts_served_are_loopback_and_the_bound_address() -> None:
    assert allowed_hosts("127.0.0.1", None) == ["127.0.0.1", "localhost", "[::1]"]
    assert allowed_hosts("::1", None) == ["127.0.0.1", "localhost", "[::1]"]
    assert allowed_hosts("192.0.2.7", "pw") == ["127.0.0.1", "localhost", "[::1]", "192.0.2.7"]
    assert allowed_hosts("calferry.example.org", "pw")[-1] == "calferry.example.org"
    assert allowed_hosts("0.0.0.0", "pw") == ["*"]  # any name of the machine, behind the password
