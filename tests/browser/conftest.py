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
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

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


@pytest.fixture
def service_factory() -> ServiceFactory:
    def factory():  # type: ignore[no-untyped-def]
        raise RuntimeError("no service yet")

    return factory
