"""``calferry psa serve`` as a real subprocess: URL line, a working API, clean SIGTERM/SIGINT shutdown, and
reproducible fault injection from the command line (docs/psa-server.md). Its start-up time is measured by
``bench/psa_server_start.py``, not asserted here."""

from __future__ import annotations

import os
import signal
import socket
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


def _accepts(url: str, secret: str) -> int:
    headers = HEADERS | {"Secret": secret}
    return httpx.get(f"{url}ThresholdInformation", headers=headers).status_code


def test_secret_from_a_file_or_the_environment_never_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    secret_file = tmp_path / "psa-secret"
    secret_file.write_text("from-the-file\n")
    secret_file.chmod(0o600)
    with served("--seed", "demo", "--secret-file", str(secret_file)) as server:
        assert (_accepts(server.url, "from-the-file"), _accepts(server.url, DEMO_SECRET)) == (200, 401)
        command_line = Path(f"/proc/{server.proc.pid}/cmdline").read_bytes()
        assert b"from-the-file" not in command_line  # what `ps` shows
    monkeypatch.setenv("CALFERRY_PSA_SERVE_SECRET", "from-the-environment")
    with served("--seed", "demo") as server:
        assert _accepts(server.url, "from-the-environment") == 200
    with served("--seed", "demo", "--secret", "on-the-line") as server:  # still works; the flag wins
        assert _accepts(server.url, "on-the-line") == 200


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (("--secret-file", "/nonexistent/secret"), "cannot read the secret file"),
        (("--secret-file", "EMPTY"), "is empty"),
        (("--secret-file", "EMPTY", "--secret", "x"), "not both"),
    ],
)
def test_a_bad_secret_source_is_a_user_error(tmp_path: Path, flags: tuple[str, ...], words: str):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    args = [str(empty) if flag == "EMPTY" else flag for flag in flags]
    done = subprocess.run([*CLI, "psa", "serve", "--port", "0", *args], capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert done.returncode == 5
    assert words in done.stderr
    assert "Traceback" not in done.stderr


def _raw(url: str, request: bytes) -> bytes:
    """One request written byte for byte (what no HTTP library would send); the answer's first line."""
    host, port = httpx.URL(url).host, httpx.URL(url).port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request)
        return sock.recv(65536).split(b"\r\n", 1)[0]


def test_hostile_requests_leave_no_traceback_in_the_log(calferry_home: Path):
    with served("--seed", "demo") as server:
        path = httpx.URL(server.url).path
        auth = b"".join(f"{k}: {v}\r\n".encode() for k, v in HEADERS.items())
        hostile = [
            b"GET " + path.encode() + b"Appointments/" + b"9" * 5000 + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n",
            b"GET " + path.encode() + b"ThresholdInformation HTTP/1.1\r\nHost: x\r\nApiIntegrationCode: "
            + DEMO_INTEGRATION_CODE.encode() + b"\r\nUserName: " + DEMO_USERNAME.encode()
            + b"\r\nSecret: d\xc3\xa9mo\xff\r\n\r\n",
            b"POST " + path.encode() + b"Appointments/query HTTP/1.1\r\nHost: x\r\n" + auth
            + b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n{}",
            b"POST " + path.encode() + b"Appointments/query HTTP/1.1\r\nHost: x\r\n" + auth
            + b"Content-Type: application/json\r\nContent-Length: 43\r\n\r\n"
            + b'{"filter":[{"op":"eq","field":"id","value":'
        ]  # fmt: skip
        firsts = [_raw(server.url, request) for request in hostile]
        with httpx.Client(base_url=server.url, headers=HEADERS, timeout=10) as client:
            answers = [
                client.post(
                    "Appointments/query", json={"filter": [{"op": "eq", "field": "id", "value": 2**63}]}
                ),
                client.post(
                    "Appointments/query",
                    json={"filter": [{"op": "and", "items": [ALL["filter"][0]] * 10_000}]},
                ),
                client.post("Appointments/query", content=b" " * (10 * 1024 * 1024 + 1)),
                client.get(f"Appointments/{2**63}"),
            ]
        assert server.stop(signal.SIGTERM) == 0
        log = server.proc.stderr.read()  # type: ignore[union-attr]
    assert [a.status_code for a in answers] == [500, 500, 413, 404]
    assert all(first.split(b" ")[1] in {b"400", b"401", b"404", b"413", b"500"} for first in firsts), firsts
    assert "Traceback" not in log, log
