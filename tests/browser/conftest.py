"""Debian's Chromium driven by Playwright (sync API) against the web app served by uvicorn on 127.0.0.1.

Never ``playwright install``: the browser is ``/usr/bin/chromium`` (``scripts/system-packages`` installs it);
if it is missing the tests fail with a clear message instead of being skipped.

Fixtures:

- ``browser``: one headless Chromium per session (``tests/fixtures/chromium.py``, shared by every folder).
- ``web``: a :class:`WebUnderTest` per test: the app on a free loopback port over a real
  :class:`calferry.service.Service` (see ``backend``), a fresh browser ``page``, and ``url(path)``.
- ``backend``: the real servers behind the page: the demo-seeded PSA server (SQLite, reset per test)
  with the demo technician Nora York configured as ``psa.resource``, and a fresh Radicale calendar
  holding a week of personal items (one bulk PUT). The service opens the configured adapters per
  request, exactly as ``calferry web`` does.

Screenshots go to ``docs/screenshots/`` only with ``CALFERRY_SCREENSHOTS=1`` (to regenerate the pictures
of docs/web.md); otherwise into the test's own temporary directory, so a test run changes no
committed file.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from playwright.sync_api import Browser, Page

from calferry.config import load_settings
from calferry.model import ItemKey, PersonalItem, PsaItem, PsaKind, PsaRef
from calferry.personal.caldav import CalDavCalendar
from calferry.personal.radicale import DEFAULT_USER, bulk_put
from calferry.psa.autotask import RetryPolicy
from calferry.psa.gateway import AutotaskPsa
from calferry.service import Service
from calferry.web.app import create_app
from calferry.web.common import ServiceFactory
from calferry.wiring import open_service
from tests.fixtures.psa_server import PsaServer, configure_calferry
from tests.system.send_helpers import daily_series, vcalendar, vevent

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
NORA = "tech.ny@demo.calferry.local"  # the demo technician with CRM access (America/New_York)
NEW_YORK = ZoneInfo("America/New_York")
NOAH = "tech.nocrm@demo.calferry.local"  # the demo technician without CRM access (R33)
QUICK_RETRY = RetryPolicy(base_delay=0.01, max_delay=0.05)
"""On loopback a refused connection is final: retry it as often as in production, but without the waits."""


@dataclass
class LiveServer:
    """uvicorn in a thread on a socket bound before it starts, so the port is known and free."""

    server: uvicorn.Server
    thread: threading.Thread
    base_url: str

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def start_server(factory: ServiceFactory, password: str | None = None) -> LiveServer:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(factory, password=password)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web app did not start")
        time.sleep(0.01)
    return LiveServer(server, thread, f"http://127.0.0.1:{port}")


@dataclass
class WebUnderTest:
    page: Page
    base_url: str
    screenshots: Path

    def url(self, path: str) -> str:
        return self.base_url + path

    def goto(self, path: str) -> Page:
        self.page.goto(self.url(path))
        return self.page

    def screenshot(self, name: str) -> None:
        """A full-page picture: for docs/web.md with CALFERRY_SCREENSHOTS=1, else kept with the test."""
        self.screenshots.mkdir(parents=True, exist_ok=True)
        self.page.evaluate("document.activeElement?.blur()")  # the page as read, without a focus ring
        self.page.screenshot(path=str(self.screenshots / f"{name}.png"), full_page=True)


@pytest.fixture
def web(browser: Browser, service_factory: ServiceFactory, tmp_path: Path) -> Iterator[WebUnderTest]:
    live = start_server(service_factory)
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    pictures = DOCS_SCREENSHOTS if os.environ.get("CALFERRY_SCREENSHOTS") == "1" else tmp_path / "screenshots"
    try:
        yield WebUnderTest(context.new_page(), live.base_url, pictures)
    finally:
        context.close()
        live.stop()


@dataclass
class Backend:
    """The two real sides the page works on, reachable by the test to seed and to check what happened."""

    psa_server: PsaServer
    calendar_url: str
    monday: date

    def at(self, day: int, hour: int, minutes: int = 60) -> tuple[datetime, datetime]:
        start = datetime.combine(self.monday + timedelta(days=day), clock(hour), UTC)
        return start, start + timedelta(minutes=minutes)

    def factory(self) -> ServiceFactory:
        """What ``calferry web`` opens per request (options re-read, the configured adapters), with
        quick retries so that an unreachable PSA fails at once."""

        @contextmanager
        def opened() -> Iterator[Service]:
            with open_service(load_settings()) as svc:
                assert isinstance(svc.psa, AutotaskPsa)
                svc.psa.client.retry = QUICK_RETRY
                yield svc

        return opened

    def personal(self, ref: str) -> PersonalItem:
        calendar = CalDavCalendar(self.calendar_url, username=DEFAULT_USER)
        try:
            return calendar.get(ItemKey.from_ref(ref))
        finally:
            calendar.close()

    def update_personal(self, item: PersonalItem) -> None:
        calendar = CalDavCalendar(self.calendar_url, username=DEFAULT_USER)
        try:
            calendar.update(item)
        finally:
            calendar.close()

    def psa_item(self, kind: PsaKind, psa_id: int) -> PsaItem:
        """An item as the PSA holds it, read through the real adapter."""
        with self.factory()() as svc:
            return svc.psa.get(PsaRef(kind, psa_id))

    def psa_rows(self, entity: str, **equal: Any) -> list[dict[str, Any]]:
        """Raw rows of ``entity`` whose fields equal ``equal`` (every row without arguments)."""
        conditions = [{"op": "eq", "field": k, "value": v} for k, v in equal.items()]
        body = {"filter": conditions or [{"op": "gte", "field": "id", "value": 0}]}
        with self.psa_server.client() as client:
            answer = client.post(f"{entity}/query", json=body)
        answer.raise_for_status()
        rows: list[dict[str, Any]] = answer.json()["items"]
        return rows

    def psa_patch(self, entity: str, **fields: Any) -> None:
        """An edit made in the PSA itself (raw REST PATCH, as Autotask takes it)."""
        with self.psa_server.client() as client:
            client.patch(entity, json=fields).raise_for_status()

    def company_id(self, name: str) -> int:
        (row,) = self.psa_rows("Companies", companyName=name)
        return int(row["id"])


@pytest.fixture
def backend(demo_psa: PsaServer, radicale_calendar_url: str, monkeypatch: pytest.MonkeyPatch) -> Backend:
    """Calendar integration enabled (R1), Nora York's fresh demo PSA, a week of personal items."""
    demo_psa.state.reset()
    configure_calferry(demo_psa, radicale_calendar_url, NORA, monkeypatch)
    today = datetime.now(NEW_YORK).date()  # the page's weeks are Nora's
    backend = Backend(demo_psa, radicale_calendar_url, today - timedelta(days=today.weekday()))
    bulk_put(radicale_calendar_url, seed_week(backend).encode("utf-8"))
    return backend


def seed_week(b: Backend) -> str:
    """This week's personal items as one VCALENDAR: an appointment, a private one, two to be To-Dos, a series."""
    return vcalendar(
        vevent("budget", *b.at(0, 9), "Budget review", "DESCRIPTION:Q3 numbers"),
        vevent("dentist", *b.at(1, 8), "Dentist", "DESCRIPTION:root canal", "CLASS:PRIVATE"),
        vevent("visit", *b.at(2, 13), "Visit Contoso", "DESCRIPTION:new printers"),
        vevent("call", *b.at(2, 15), "Call back", "DESCRIPTION:about invoices"),
        daily_series("standup", b.at(0, 8)[0], 3, "Standup"),
    )


@pytest.fixture
def service_factory(backend: Backend) -> ServiceFactory:
    return backend.factory()
