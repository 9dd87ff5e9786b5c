"""``calferry calendar serve`` is safe by default (issue 12.9): it answers only to its own address
(against DNS rebinding) and asks for a password made once per install, unless ``--no-auth`` on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from calferry import config, secrets
from calferry.cli import app
from calferry.personal.radicale import DEFAULT_USER
from tests.unit.test_ical_cli import serving

runner = CliRunner()
CLI = [sys.executable, "-c", "from calferry.cli import main; main()"]


def _propfind(url: str, auth: tuple[str, str] | None = None, host: str | None = None) -> int:
    headers = {"Depth": "0", **({"Host": host} if host else {})}
    return httpx.request("PROPFIND", url, headers=headers, auth=auth, timeout=30).status_code


def test_serve_refuses_other_host_names_against_dns_rebinding(calferry_home: Path) -> None:
    with serving("--no-auth") as info:
        port = info["port"]
        assert _propfind(info["url"]) == 207
        assert _propfind(info["url"], host=f"localhost:{port}") == 207
        for rebound in (f"attacker.example:{port}", f"127.0.0.1.nip.io:{port}", "127.0.0.1"):
            assert _propfind(info["url"], host=rebound) == 403, rebound
        put = httpx.put(
            info["url"] + "evil.ics",
            content=b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
            headers={"Host": f"attacker.example:{port}"},
        )
        assert put.status_code == 403 and _propfind(info["url"] + "evil.ics") == 404


def test_serve_asks_for_the_generated_password_and_calferry_finds_it(calferry_home: Path) -> None:
    with serving("--store-file") as info:
        assert info["username"] == DEFAULT_USER and info["password_source"] == "file"
        password = secrets.caldav_password(DEFAULT_USER)
        assert len(password) >= 24
        assert _propfind(info["url"]) == 401
        assert _propfind(info["url"], auth=(DEFAULT_USER, "")) == 401
        assert _propfind(info["url"], auth=(DEFAULT_USER, password)) == 207
        config.write_settings({"personal.backend": "caldav", "personal.url": info["url"]})
        listed = runner.invoke(app, ["items", "--json"])  # no password given: calferry finds it
        assert listed.exit_code == 0, listed.output
    htpasswd = (calferry_home / "calendar.htpasswd").read_text()
    assert password not in htpasswd and htpasswd.startswith(f"{DEFAULT_USER}:$6$")
    with serving("--store-file") as again:  # the same password on the next start
        assert _propfind(again["url"], auth=(DEFAULT_USER, password)) == 207


def test_serve_without_a_keyring_stores_nothing_and_says_what_to_do(calferry_home: Path) -> None:
    done = subprocess.run(
        [*CLI, "calendar", "serve", "--port", "0"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 4
    said = " ".join(done.stderr.split())
    assert "no OS keyring" in said and "--store-file" in said
    assert not (calferry_home / "secrets.json").exists()


def test_no_auth_is_only_for_loopback(calferry_home: Path) -> None:
    refused = runner.invoke(
        app, ["calendar", "serve", "--host", "0.0.0.0", "--port", "0", "--no-auth", "--json"]
    )
    assert refused.exit_code == 5
    assert "without a password file" in json.loads(refused.stdout)["error"]["message"]


def test_a_password_calferry_already_finds_is_the_one_served(
    calferry_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(secrets.CALDAV_PASSWORD_ENV, "chosen-by-me")
    with serving() as info:
        assert info["password_source"] == "environment"
        assert _propfind(info["url"], auth=(DEFAULT_USER, "chosen-by-me")) == 207
    assert not (calferry_home / "secrets.json").exists()
