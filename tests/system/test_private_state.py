"""What calferry leaves on disk after login, send, get and the web page (all as real processes, with
``--verbose``), in a $HOME of its own:

- secrets are where we say they are: the PSA secret, in clear or in base64, is only in the file chosen
  with ``--store-file``; not elsewhere in CALFERRY_HOME, not in $HOME (no keyrings.alt file), not in any
  output;
- private state stays private: CALFERRY_HOME and every folder in it 0700, every file 0600.
"""

from __future__ import annotations

import base64
import json
import select
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from calferry import config, paths
from calferry.model import PersonalItem
from calferry.personal.caldav import CalDavCalendar
from calferry.personal.radicale import DEFAULT_USER
from tests.fixtures.psa_server import PsaServer

CLI = [sys.executable, "-c", "from calferry.cli import main; main()"]
NORA = "tech.ny@demo.calferry.local"


def _variants(secret: str) -> list[bytes]:
    """The secret as it would sit in a file: clear, base64 (keyrings.alt's form), URL-safe base64."""
    raw = secret.encode()
    encoded = [base64.b64encode(raw), base64.urlsafe_b64encode(raw)]
    return [raw, *encoded, *(e.rstrip(b"=") for e in encoded)]


def _files_holding(root: Path, needles: list[bytes]) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)}


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A whole $HOME for the processes; CALFERRY_HOME inside it, keyrings.alt's plaintext file
    backend configured as the keyring (as the dev extra leaves a machine without a desktop)."""
    home = tmp_path / "user"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CALFERRY_HOME", str(home / ".config" / "calferry"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("COLUMNS", "200")
    return home


@dataclass
class UsedHome:
    """A $HOME after a working session: the secret, the file it was stored in, everything printed."""

    home: Path
    calferry_home: Path
    secret: str
    chosen: Path
    outputs: list[str]


@pytest.fixture
def used_home(
    user_home: Path, psa_server_factory: Callable[..., PsaServer], radicale_calendar_url: str
) -> UsedHome:
    secret = f"leak-probe-{uuid.uuid4().hex}"
    server = psa_server_factory(secret=secret)
    _configure(server, radicale_calendar_url)
    outputs: list[str] = []

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, timeout=120)
        outputs.extend((done.stdout, done.stderr))
        return done

    refused = run("login", "--secret-stdin", stdin=secret + "\n")
    assert refused.returncode == 4 and "no OS keyring" in refused.stderr
    logged_in = run("login", "--secret-stdin", "--store-file", "--json", stdin=secret + "\n")
    assert logged_in.returncode == 0, logged_in.stderr
    sent = run("send", "leak-probe", "--verbose")
    assert sent.returncode == 0 and "POST Appointments" in sent.stdout + sent.stderr, sent.stderr
    got = run("get", "--verbose")
    assert got.returncode == 0, got.stdout + got.stderr
    assert run("status").returncode == 0
    outputs.extend(_browse_web_page())
    chosen = Path(json.loads(logged_in.stdout)["file"])
    return UsedHome(user_home, paths.home(), secret, chosen, outputs)


def test_the_secret_is_only_in_the_file_chosen_with_store_file(used_home: UsedHome) -> None:
    variants = _variants(used_home.secret)
    assert _files_holding(used_home.home, variants) == {used_home.chosen}
    assert used_home.chosen.parent == used_home.calferry_home
    assert not (used_home.home / ".local" / "share" / "python_keyring").exists()
    assert not [o for o in used_home.outputs if any(v.decode() in o for v in variants)]


def test_calferry_home_is_0700_and_every_file_in_it_0600(used_home: UsedHome) -> None:
    assert {"config.toml", "secrets.json", "links.sqlite3"} <= {
        p.name for p in used_home.calferry_home.iterdir()
    }
    assert not_private(used_home.calferry_home) == {}


def not_private(root: Path) -> dict[str, str]:
    """Every path under ``root`` (itself included) that is not private: folders 0700, files 0600."""
    found = {}
    for path in [root, *root.rglob("*")]:
        wanted = 0o700 if path.is_dir() else 0o600
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode != wanted:
            found[str(path.relative_to(root))] = oct(mode)
    return found


def _configure(server: PsaServer, calendar_url: str) -> None:
    values = {
        "calendar.enabled": "true",
        "personal.backend": "caldav",
        "personal.url": calendar_url,
        "personal.username": DEFAULT_USER,
        "psa.base_url": server.base_url,
        "psa.username": server.headers["UserName"],
        "psa.integration_code": server.headers["ApiIntegrationCode"],
        "psa.resource": NORA,
    }
    config.write_settings(values)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    calendar = CalDavCalendar(calendar_url, username=DEFAULT_USER)
    try:
        calendar.create(PersonalItem("leak-probe", start, start + timedelta(hours=1), "Probe visit"))
    finally:
        calendar.close()


def _browse_web_page() -> list[str]:
    """``calferry web`` as a process: its calendar, Get, options and log pages; returns what it printed."""
    process = subprocess.Popen(
        [*CLI, "web", "--port", "0", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, "calferry web printed nothing"
        text = process.stdout.readline()
        while not text.rstrip().endswith("}"):  # one indented JSON document, then it serves
            text += process.stdout.readline()
        url = json.loads(text)["url"].rstrip("/")
        pages: list[Any] = [
            httpx.get(f"{url}{path}", timeout=60) for path in ("/calendar", "/get", "/options", "/log")
        ]
        assert [p.status_code for p in pages] == [200, 200, 200, 200]
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    return [out, err, *(p.text for p in pages)]
