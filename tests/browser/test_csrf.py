"""The page cannot be driven by another page: a state-changing request must come from the page's own
origin and carry the session's token, an HMAC under a per-install key. A hostile page on another
loopback port (cookies ignore ports) tosses in its own cookie and auto-posts every form; all are refused
and nothing changes, in the options, the PSA or the personal calendar.
"""

from __future__ import annotations

import html
import stat
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from calferry import paths
from calferry.config import load_settings
from calferry.web.app import default_service_factory
from calferry.web.security import CSRF_COOKIE, KEY_FILE
from calferry.wiring import open_records
from tests.browser.conftest import Backend, WebUnderTest
from tests.fixtures.web_client import ORIGIN, WebClient

pytestmark = pytest.mark.browser

POLICY = {"calendar.conflict_policy": "psa-wins", "calendar.get_past_days": "1", "calendar.enabled": "true"}


def options_client() -> WebClient:
    return WebClient(default_service_factory())


def test_same_origin_post_with_the_session_token_is_taken() -> None:
    page = options_client()
    assert page.post("/options", POLICY).status_code == 200
    assert load_settings().calendar.conflict_policy == "psa-wins"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://127.0.0.1:9999"},  # another loopback port: another origin
        {"Origin": "http://localhost:8765"},  # another host name: another origin
        {"Origin": "null"},  # a sandboxed frame or a data: page
        {"Sec-Fetch-Site": "same-site"},  # no Origin, and the browser says: not this origin
        {"Sec-Fetch-Site": "cross-site"},
        {},  # neither header: nothing vouches for the request
    ],
    ids=["other-port", "other-host", "null", "same-site", "cross-site", "no-headers"],
)
def test_a_post_not_from_the_page_itself_is_refused(headers: dict[str, str]) -> None:
    page = options_client()
    form = {**POLICY, "csrf_token": page.token()}
    answer = page.http.post("/options", data=form, headers=headers)
    assert answer.status_code == 403
    assert "did not come from calferry's own page" in html.unescape(answer.text)
    assert load_settings().calendar.conflict_policy == "keep-personal"


def test_without_origin_the_browsers_same_origin_word_is_taken() -> None:
    page = options_client()
    answer = page.http.post(
        "/options", data={**POLICY, "csrf_token": page.token()}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert answer.status_code == 200
    assert load_settings().calendar.conflict_policy == "psa-wins"


def test_a_cookie_chosen_by_someone_else_never_validates() -> None:
    """The old double-submit took any cookie and field that matched; now the field is the cookie's HMAC."""
    page = options_client()
    own_token = page.token()  # of the technician's session
    page.http.cookies.set(CSRF_COOKIE, "chosen-by-attacker")  # tossed in by another page
    for forged in ("chosen-by-attacker", own_token):
        answer = page.http.post("/options", data={**POLICY, "csrf_token": forged}, headers={"Origin": ORIGIN})
        assert answer.status_code == 403
    assert load_settings().calendar.conflict_policy == "keep-personal"


def test_the_key_is_per_install_and_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = options_client()
    first.token()
    key_file = paths.home() / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    session = first.http.cookies[CSRF_COOKIE]

    monkeypatch.setenv("CALFERRY_HOME", str(tmp_path / "other-home"))
    other = WebClient(default_service_factory())
    other.http.cookies.set(CSRF_COOKIE, session)  # the same session id in another install
    assert other.token() != first.token()
    assert (tmp_path / "other-home" / KEY_FILE).read_bytes() != key_file.read_bytes()


def test_the_key_survives_restarts() -> None:
    page = options_client()
    token = page.token()
    restarted = WebClient(default_service_factory())
    restarted.http.cookies.set(CSRF_COOKIE, page.http.cookies[CSRF_COOKIE])
    assert restarted.token() == token


# --- the attack, in Chromium ---------------------------------------------------------------------


def hostile_forms(target: str, backend: Backend) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every form of the page, as a hostile page would fill it in: path -> (action, fields)."""
    day = backend.monday + timedelta(days=2)
    return {
        "/options": (f"{target}/options", POLICY),
        "/send": (
            f"{target}/send",
            {
                "ref": "visit",
                "kind": "todo",
                "company": "Contoso Dental",
                "contact": "",
                "action_type": "",
                "start": backend.monday.isoformat(),
                "end": (backend.monday + timedelta(days=6)).isoformat(),
            },
        ),
        "/conflicts": (f"{target}/conflicts", {"ref": "budget", "keep": "psa"}),
        "/add": (
            f"{target}/add",
            {"kind": "appointment", "title": "Planted", "start": f"{day}T10:00", "end": f"{day}T11:00"},
        ),
        "/get": (f"{target}/get", {"plan_id": "guessed"}),
    }


class Hostile:
    """A page on another loopback port: it sets its own ``calferry_csrf`` cookie (cookies ignore ports,
    so the browser sends it to calferry too) and auto-posts a form with the matching field."""

    def __init__(self, forms: dict[str, tuple[str, dict[str, Any]]]) -> None:
        pages = {path: self._page(*form) for path, form in forms.items()}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path, "not here").encode()
                self.send_response(200 if self.path in pages else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Set-Cookie", f"{CSRF_COOKIE}=tossed-in; Path=/")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def _page(action: str, fields: dict[str, Any]) -> str:
        inputs = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(str(v))}">'
            for k, v in {**fields, "csrf_token": "tossed-in"}.items()
        )
        return (
            f'<!doctype html><form id="f" method="post" action="{action}">{inputs}</form>'
            '<script>document.getElementById("f").submit()</script>'
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile(web: WebUnderTest, backend: Backend) -> Iterator[Hostile]:
    server = Hostile(hostile_forms(web.base_url, backend))
    yield server
    server.close()


def what_could_change(backend: Backend) -> dict[str, Any]:
    with open_records() as records:
        links = records.store.counts()
        log = len(records.log(1000))
    return {
        "options": load_settings().to_dict(),
        "appointments": len(backend.psa_rows("Appointments")),
        "todos": len(backend.psa_rows("CompanyToDos")),
        "budget": backend.personal("budget").subject,
        "links": links,
        "log": log,
    }


def posted(page: Page, hostile_url: str, target: str) -> int:
    """Open the hostile page; return the status calferry answered its auto-posted form with."""
    with page.expect_response(lambda r: r.url.startswith(target) and r.request.method == "POST") as answer:
        page.goto(hostile_url)
    return answer.value.status


def test_a_hostile_page_on_another_port_cannot_post_any_form(
    web: WebUnderTest, backend: Backend, hostile: Hostile
) -> None:
    web.goto("/calendar")  # the technician has the page open: the browser holds calferry's cookie
    before = what_could_change(backend)
    statuses = {
        path: posted(web.page, hostile.url + path, web.base_url) for path in hostile_forms("", backend)
    }
    assert statuses == dict.fromkeys(("/options", "/send", "/conflicts", "/add", "/get"), 403)
    assert "did not come from calferry's own page" in web.page.content()
    assert what_could_change(backend) == before
