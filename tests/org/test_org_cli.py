"""`calferry org ...` as the admin runs it: the database plumbing, the technicians, settings, status."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import make_url
from typer.testing import CliRunner

from calferry.cli import app
from tests.fixtures.psa_server import PsaServer, configure_calferry

pytestmark = pytest.mark.postgres
runner = CliRunner()


def _json(*args: str) -> tuple[int, dict[str, object]]:
    result = runner.invoke(app, [*args, "--json"], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def test_without_an_org_database_the_admin_is_told_where_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALFERRY_ORG_DB", raising=False)
    code, answer = _json("org", "status")
    assert code != 0
    error = answer["error"]
    assert isinstance(error, dict) and "no org database" in error["message"]


def test_technicians_and_settings_round_trip_through_status(
    org_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_password = make_url(org_db_url).set(password="s3cret-Pw").render_as_string(hide_password=False)
    monkeypatch.setenv("CALFERRY_ORG_DB", with_password)  # trust auth: the password is only carried
    code, alice = _json("org", "technician", "add", "29682885", "alice@example.com", "http://cal/alice/")
    assert code == 0 and alice["enabled"] is True
    assert _json("org", "technician", "disable", str(alice["id"]), "--reason", "on leave")[0] == 0
    assert _json("org", "settings", "set", "budget_share", "0.1")[0] == 0
    code, bad = _json("org", "settings", "set", "cycle_minutes", "often")
    assert code != 0 and "whole number" in str(bad["error"])
    code, status = _json("org", "status")
    assert code == 0
    assert [(t["email"], t["enabled"], t["disabled_reason"]) for t in status["technicians"]] == [  # type: ignore[union-attr]
        ("alice@example.com", False, "on leave")
    ]
    assert status["settings"]["budget_share"] == 0.1  # type: ignore[index]
    assert status["budget"]["capacity"] == 1000  # type: ignore[index]
    assert "s3cret-Pw" not in json.dumps(status)  # the database password is never shown


def test_the_disabled_technician_number_nobody_has_is_refused(
    org_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALFERRY_ORG_DB", org_db_url)
    code, answer = _json("org", "technician", "disable", "4711")
    assert code != 0 and "4711" in str(answer["error"])


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_org_demo_starts_a_private_postgresql_and_stops_it_on_ctrl_c_or_sigterm(
    demo_psa: PsaServer, monkeypatch: pytest.MonkeyPatch, calferry_home: Path, stop: signal.Signals
) -> None:
    configure_calferry(demo_psa, "http://127.0.0.1:1/unused/", "tech.ny", monkeypatch)
    monkeypatch.delenv("CALFERRY_ORG_DB", raising=False)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}"}
    demo = subprocess.Popen([sys.executable, "-c", "from calferry.cli import main; main()", "org", "demo", "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert demo.stdout is not None
        lines = []
        while not "".join(lines).rstrip().endswith("}"):
            line = demo.stdout.readline()
            assert line, demo.stderr.read() if demo.stderr else ""
            lines.append(line)
        info = json.loads("".join(lines))
        assert info["private_cluster"] is True
        socket_dir = Path(str(make_url(str(info["db"])).query["host"]))
        assert (socket_dir / ".s.PGSQL.5432").exists()
    finally:
        demo.send_signal(stop)
        _, err = demo.communicate(timeout=180)
    assert demo.returncode == 0, err
    assert not (socket_dir / ".s.PGSQL.5432").exists()  # the cluster stopped with it
