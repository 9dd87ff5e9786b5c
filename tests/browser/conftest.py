"""Debian's Chromium driven by Playwright (sync API) against the web app served by uvicorn on 127.0.0.1.

Never ``playwright install``: the browser is ``/usr/bin/chromium`` (``scripts/system-packages`` installs it);
if it is missing the tests fail with a clear message instead of being skipped.

Fixtures:

- ``browser``: one headless Chromium per session.
- ``web``: a :class:`WebUnderTest` per test: the app on a free loopback port over a real
  :class:`calferry.service.Service` (see ``backend``), a fresh browser ``page``, and ``url(path)``.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from calferry.config import load_settings, write_settings
from calferry.links import LinkStore
from calferry.model import (
    ActionType,
    Address,
    Company,
    Contact,
    PersonalItem,
    Resource,
    ServiceCallWork,
    WorkKind,
)
from calferry.personal.memory import MemoryCalendar
from calferry.psa.memory import MemoryPsa
from calferry.service import Service
from calferry.web.app import create_app
from calferry.web.common import ServiceFactory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"{CHROMIUM} is missing: run scripts/system-packages (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


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

    def url(self, path: str) -> str:
        return self.base_url + path

    def goto(self, path: str) -> Page:
        self.page.goto(self.url(path))
        return self.page

    def screenshot(self, name: str) -> None:
        """Keep a full-page picture for docs/web.md."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def web(browser: Browser, service_factory: ServiceFactory) -> Iterator[WebUnderTest]:
    live = start_server(service_factory)
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    try:
        yield WebUnderTest(context.new_page(), live.base_url)
    finally:
        context.close()
        live.stop()


@dataclass
class Backend:
    """The two sides the page works on, reachable by the test to seed and to check what happened."""

    calendar: MemoryCalendar
    psa: MemoryPsa
    monday: date

    def at(self, day: int, hour: int, minutes: int = 60) -> tuple[datetime, datetime]:
        start = datetime.combine(self.monday + timedelta(days=day), clock(hour), UTC)
        return start, start + timedelta(minutes=minutes)

    def factory(self) -> ServiceFactory:
        """A real Service per request over these sides, the link store in CALFERRY_HOME, options re-read."""

        @contextmanager
        def open_service() -> Iterator[Service]:
            store = LinkStore.open()
            try:
                with store.lock():
                    yield Service(load_settings(), self.calendar, self.psa, store)
            finally:
                store.close()

        return open_service


ME = Resource(1, "Tess", "Tech", email="tess@example.com", time_zone="UTC")
ACME = Company(10, "Acme GmbH", Address("Hauptstr. 1", city="Berlin", postal_code="10115", country="DE"))


@pytest.fixture
def backend() -> Backend:
    """Calendar integration enabled (R1), a week of personal items, a PSA with a company and a ticket."""
    write_settings({"calendar.enabled": True})
    today = date.today()
    backend = Backend(
        MemoryCalendar(),
        MemoryPsa(
            ME,
            companies=[ACME],
            contacts=[Contact(20, 10, "Carla", "Customer")],
            action_types=[ActionType(3, "Meeting"), ActionType(4, "Phone call")],
            work=[ServiceCallWork(WorkKind.TICKET, 100, "T20260301.0001", "Printer jams")],
        ),
        today - timedelta(days=today.weekday()),
    )
    seed_week(backend)
    return backend


def seed_week(b: Backend) -> None:
    b.calendar.create(PersonalItem("budget", *b.at(0, 9), subject="Budget review", description="Q3 numbers"))
    b.calendar.create(
        PersonalItem("dentist", *b.at(1, 8), subject="Dentist", description="root canal", private=True)
    )
    b.calendar.create(PersonalItem("visit", *b.at(2, 13), subject="Visit Acme", description="new printers"))
    b.calendar.create(PersonalItem("call", *b.at(2, 15), subject="Call back", description="about invoices"))
    b.calendar.add_series(PersonalItem("standup", *b.at(0, 8, 15), subject="Standup"), "FREQ=DAILY;COUNT=3")


@pytest.fixture
def service_factory(backend: Backend) -> ServiceFactory:
    return backend.factory()
