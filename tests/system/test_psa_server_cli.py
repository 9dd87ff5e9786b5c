"""``calferry psa serve`` as a real subprocess: URL line, a working API, clean SIGTERM shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from calferry.psa.server import DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME

HEADERS = {"ApiIntegrationCode": DEMO_INTEGRATION_CODE, "UserName": DEMO_USERNAME, "Secret": DEMO_SECRET}
CLI = [sys.executable, "-c", "from calferry.cli import main; main()"]


def test_serve_prints_url_answers_and_stops_on_sigterm(calferry_home: Path):
    started = time.monotonic()
    proc = subprocess.Popen([*CLI, "psa", "serve", "--port", "0", "--seed", "demo"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ.copy())  # fmt: skip
    try:
        url = proc.stdout.readline().strip()
        startup = time.monotonic() - started
        assert url.startswith("http://127.0.0.1:") and url.endswith("/atservicesrest/v1.0/")
        zone = httpx.get(f"{url}zoneInformation", params={"user": DEMO_USERNAME}).json()
        assert url.startswith(zone["url"])
        body = {"filter": [{"op": "gte", "field": "id", "value": 0}]}
        assert (
            httpx.post(f"{url}Appointments/query/count", json=body, headers=HEADERS).json()["queryCount"] > 0
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
    assert code == 0
    assert (calferry_home / "psa" / "psa.sqlite3").exists()  # default --db under CALFERRY_HOME
    print(f"startup {startup:.2f}s")


def test_bad_fault_kind_is_a_user_error(calferry_home: Path):
    done = subprocess.run([*CLI, "psa", "serve", "--port", "0", "--faults", "0.2", "--fault-kinds", "teapot"],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 5
    assert "unknown fault kinds" in done.stderr
