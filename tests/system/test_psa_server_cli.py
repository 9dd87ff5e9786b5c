"""``calferry psa serve`` as a real subprocess: URL line, a working API, clean SIGTERM/SIGINT shutdown, and
reproducible fault injection from the command line (docs/psa-server.md). Its start-up time is measured by
``bench/psa_server_start.py``, not asserted here."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from calferry.psa.server import DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME
from calferry.psa.server.faults import ALL_KINDS

HEADERS = {"ApiIntegrationCode": DEMO_INTEGRATION_CODE, "UserName": DEMO_USERNAME, "Secret": DEMO_SECRET}
CLI = [sys.executable, "-c", "from calferry.cli import main; main()"]
ALL = {"filter": [{"op": "gte", "field": "id", "value": 0}]}


class Served:
    """A running ``calferry psa serve``: its process and base URL."""

    def __init__(self, *flags: str) -> None:
        self.proc = subprocess.Popen([*CLI, "psa", "serve", "--port", "0", *flags], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=os.environ.copy())  # fmt: skip
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def stop(self, signum: int) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=10)


@contextmanager
def served(*flags: str) -> Iterator[Served]:
    server = Served(*flags)
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.stop(signal.SIGTERM)


def _answers(url: str) -> bool:
    body = httpx.post(f"{url}Appointments/query/count", json=ALL, headers=HEADERS).json()
    return int(body["queryCount"]) > 0


def test_serve_prints_url_answers_and_stops_on_sigterm(calferry_home: Path):
    with served("--seed", "demo") as server:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/atservicesrest/v1.0/")
        zone = httpx.get(f"{server.url}zoneInformation", params={"user": DEMO_USERNAME}).json()
        assert server.url.startswith(zone["url"])
        assert _answers(server.url)
        assert server.stop(signal.SIGTERM) == 0
    assert (calferry_home / "psa" / "psa.sqlite3").exists()  # default --db under CALFERRY_HOME


def test_serve_stops_cleanly_on_sigint(calferry_home: Path):
    with served("--seed", "demo") as server:
        assert _answers(server.url)
        assert server.stop(signal.SIGINT) == 0  # Ctrl-C is a normal end, not a traceback
        assert "Traceback" not in server.proc.stderr.read()  # type: ignore[union-attr]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}zoneInformation", params={"user": DEMO_USERNAME})


def test_bad_fault_kind_is_a_user_error(calferry_home: Path):
    done = subprocess.run([*CLI, "psa", "serve", "--port", "0", "--faults", "0.2", "--fault-kinds", "teapot"],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 5
    assert "unknown fault kinds" in done.stderr


def _outcome(client: httpx.Client, request: httpx.Request) -> str:
    """The injected fault's kind (``x-calferry-fault``, sent even before a drop) or the status code."""
    try:
        response = client.send(request, stream=True)
    except httpx.TransportError:
        return "no-answer"
    kind = response.headers.get("x-calferry-fault")
    try:
        response.read()
    except httpx.TransportError:
        return kind or "dropped"
    finally:
        response.close()
    return kind or str(response.status_code)


def _fault_run(tmp_path: Path, name: str, seed: int, n: int = 300) -> list[str]:
    """``n`` requests, reads and PATCHes alternating, against a fresh faulty server; their outcomes."""
    db = f"sqlite:///{tmp_path / f'{name}.sqlite3'}"
    faults = ("--faults", "0.2", "--fault-seed", str(seed), "--fault-delay", "0.01")
    with (
        served("--seed", "demo", "--db", db, *faults) as server,
        httpx.Client(base_url=server.url, headers=HEADERS, timeout=10) as client,
    ):
        outcomes = []
        for k in range(n):
            if k % 2:
                request = client.build_request("PATCH", "Appointments", json={"id": 1, "title": f"Probe {k}"})
            else:
                request = client.build_request("POST", "Appointments/query/count", json=ALL)
            outcomes.append(_outcome(client, request))
        assert server.stop(signal.SIGTERM) == 0
    return outcomes


def test_cli_faults_are_reproducible_from_the_seed_and_every_default_kind_appears(tmp_path: Path):
    first = _fault_run(tmp_path, "first", seed=7)
    second = _fault_run(tmp_path, "second", seed=7)
    other = _fault_run(tmp_path, "other", seed=8)
    assert first == second  # same seed, same requests: the same faults at the same places
    assert first != other
    counts = Counter(first)
    assert set(ALL_KINDS) <= set(counts), counts  # 429, 500, 503, slow, drop, lost-answer
    assert set(counts) <= {*ALL_KINDS, "200"}, counts
    assert 30 <= sum(counts[k] for k in ALL_KINDS) <= 90  # about 20 % of 300
    lost = [k for k, outcome in enumerate(first) if outcome == "lost-answer"]
    assert lost and all(k % 2 for k in lost)  # only the PATCHes can lose their answer
