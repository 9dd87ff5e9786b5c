"""``calferry web``: loopback by default, a password beyond it, the URL as JSON; basic auth when asked."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from tests.browser.conftest import Backend, start_server

CALFERRY = [sys.executable, "-c", "from calferry.cli import main; main()"]


def test_web_refuses_a_public_address_without_a_password() -> None:
    done = subprocess.run(
        [*CALFERRY, "web", "--host", "0.0.0.0", "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 3
    assert "without a password" in json.loads(done.stdout)["error"]["message"]


def test_web_prints_its_url_as_json_and_serves_the_page() -> None:
    process = subprocess.Popen(
        [*CALFERRY, "web", "--port", "0", "--json"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        document = "".join(iter(process.stdout.readline, "}\n")) + "}"
        url = json.loads(document)["url"]
        assert url.startswith("http://127.0.0.1:")
        response = httpx.get(f"{url}/options", timeout=30)
        assert response.status_code == 200
        assert response.headers["x-frame-options"] == "DENY"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_password_protects_every_page(backend: Backend) -> None:
    live = start_server(backend.factory(), password="correct horse")
    try:
        assert httpx.get(f"{live.base_url}/calendar").status_code == 401
        assert httpx.get(f"{live.base_url}/calendar", auth=("me", "wrong")).status_code == 401
        page = httpx.get(f"{live.base_url}/calendar", auth=("me", "correct horse"))
        assert page.status_code == 200
        assert "correct horse" not in page.text
    finally:
        live.stop()
