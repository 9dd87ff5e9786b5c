"""``calferry calendar serve`` and ``calferry import|export`` end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from typer.testing import CliRunner

from calferry import config
from calferry.cli import app
from calferry.personal.ics import IcsCalendar
from tests.unit.test_ical_files import FIXTURES, SERIES, WINDOW

runner = CliRunner()


def test_serve_prints_a_working_calendar_url_and_stops_on_sigterm(calferry_home: Path) -> None:
    command = [sys.executable, "-m", "calferry.cli", "calendar", "serve", "--port", "0", "--json"]
    code = "from calferry.cli import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, *command[3:]], stdout=subprocess.PIPE, env=os.environ.copy()
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline()]
        while lines[-1] not in (b"}\n", b""):  # one indented JSON document, closed by its own line
            lines.append(process.stdout.readline())
        info = json.loads(b"".join(lines))
        assert info["url"].endswith("/calferry/calendar/") and info["created"] is True
        assert Path(info["storage"]) == calferry_home / "calendar"
        found = httpx.request("PROPFIND", info["url"], headers={"Depth": "0"}, auth=("calferry", ""))
        assert found.status_code == 207 and "calendar" in found.text
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


def test_serve_refuses_other_hosts_without_htpasswd() -> None:
    result = runner.invoke(app, ["calendar", "serve", "--host", "0.0.0.0", "--port", "0", "--json"])
    assert result.exit_code == 5
    assert "htpasswd" in json.loads(result.stdout)["error"]["message"] + json.loads(result.stdout)[
        "error"
    ].get("hint", "htpasswd")


def test_import_then_export_counts_items(tmp_path: Path) -> None:
    target = tmp_path / "mine.ics"
    config.set_value("personal.backend", "ics")
    config.set_value("personal.path", str(target))
    imported = runner.invoke(app, ["import", str(FIXTURES / "outlook_windows_tzid.ics"), "--json"])
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout) == {"created": 4, "skipped": 0, "problems": []}
    again = runner.invoke(app, ["import", str(FIXTURES / "outlook_windows_tzid.ics"), "--json"])
    assert json.loads(again.stdout)["skipped"] == 4
    assert len([i for i in IcsCalendar(target).list(WINDOW).items if i.uid == SERIES]) == 6
    out = tmp_path / "out.ics"
    exported = runner.invoke(app, ["export", str(out), "--past-days", "0", "--future-days", "3", "--json"])
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["exported"] == 0
    assert out.read_bytes().startswith(b"BEGIN:VCALENDAR")
