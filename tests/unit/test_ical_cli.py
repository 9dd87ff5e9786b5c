"""``calferry calendar serve`` and ``calferry import|export`` end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from icalendar import Calendar
from typer.testing import CliRunner

from calferry import config, secrets
from calferry.cli import app
from calferry.model import PersonalItem
from calferry.personal.ics import IcsCalendar
from tests.unit.test_ical_files import FIXTURES, SERIES, WINDOW, copy_fixture

runner = CliRunner()
OUTLOOK = FIXTURES / "outlook_windows_tzid.ics"


@contextmanager
def serving(*options: str) -> Iterator[dict[str, Any]]:
    """``calferry calendar serve --port 0 --json OPTIONS`` as a child process; yields its JSON line,
    and checks on the way out that SIGTERM stops it cleanly."""
    code = "from calferry.cli import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "calendar", "serve", "--port", "0", "--json", *options],
        stdout=subprocess.PIPE,
        env=os.environ.copy(),
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline()]
        while lines[-1] not in (b"}\n", b""):  # one indented JSON document, closed by its own line
            lines.append(process.stdout.readline())
        yield json.loads(b"".join(lines))
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


def test_serve_prints_a_working_calendar_url_and_stops_on_sigterm(calferry_home: Path) -> None:
    with serving("--store-file") as info:
        assert info["url"].endswith("/calferry/calendar/") and info["created"] is True
        assert Path(info["storage"]) == calferry_home / "calendar"
        password = secrets.caldav_password("calferry")
        found = httpx.request("PROPFIND", info["url"], headers={"Depth": "0"}, auth=("calferry", password))
        assert found.status_code == 207 and "calendar" in found.text


def use_calendar(backend: str, where: str = "") -> None:
    config.set_value("personal.backend", backend)
    if backend == "ics":
        config.set_value("personal.path", where)
    elif backend == "caldav":
        config.set_value("personal.url", where)


def run_json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def since_window_start() -> str:
    """--past-days reaching back to the first day of the fixture's window."""
    return str((datetime.now(UTC) - WINDOW.start).days + 1)


def events_by_uid(path: Path) -> dict[str, list[bytes]]:
    """Each UID's VEVENTs as icalendar serializes them (parsed first, so only content counts)."""
    found: dict[str, list[bytes]] = {}
    for event in Calendar.from_ical(path.read_bytes()).walk("VEVENT"):
        found.setdefault(str(event["UID"]), []).append(event.to_ical())
    return {uid: sorted(events) for uid, events in found.items()}


def listed(path: Path) -> list[PersonalItem]:
    return [replace(i, version=None) for i in IcsCalendar(path).snapshot(WINDOW).items]


@pytest.mark.parametrize("source", ["ics", "caldav"])
def test_export_then_import_keeps_series_overrides_exdates_unknown_properties_and_alarms(
    source: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    where = (
        str(tmp_path / "source.ics") if source == "ics" else request.getfixturevalue("radicale_calendar_url")
    )
    use_calendar(source, where)
    assert run_json("import", str(OUTLOOK)) == {"created": 4, "skipped": 0, "problems": [], "simplified": []}
    out = tmp_path / "out.ics"
    exported = run_json("export", str(out), "--past-days", since_window_start(), "--future-days", "0")
    assert exported == {"exported": 4, "problems": []}  # the series once, as one whole item
    text = out.read_text(encoding="utf-8")
    for kept in ("RRULE:FREQ=WEEKLY;UNTIL=20260413T070000Z", "EXDATE;TZID=", "RECURRENCE-ID;TZID=",
                 "TZID:W. Europe Standard Time", "X-MS-OLK-APPTSEQTIME:20260201T101500Z",
                 "X-MICROSOFT-CDO-INSTTYPE:0", "X-MICROSOFT-CDO-ALLDAYEVENT:TRUE", "TRIGGER:-PT15M"):  # fmt: skip
        assert kept in text, kept
    back = tmp_path / "back.ics"
    use_calendar("ics", str(back))
    assert run_json("import", str(out))["created"] == 4
    assert events_by_uid(back) == events_by_uid(OUTLOOK)  # every property of every event, alarms too
    assert listed(back) == listed(copy_fixture(tmp_path, OUTLOOK.name))  # a copy: no lock file by the fixture


def test_import_into_a_calendar_without_icalendar_storage_names_what_was_simplified() -> None:
    use_calendar("memory")
    result = run_json("import", str(OUTLOOK))
    assert (result["created"], result["skipped"]) == (3, 1)
    [problem] = result["problems"]
    assert (problem["where"], problem["uid"], problem["reason"]) == (
        str(OUTLOOK),
        SERIES,
        "the memory calendar cannot import series",
    )
    assert len(result["simplified"]) == 3
    assert all("simplified" in line and "X- properties" in line for line in result["simplified"])
    assert SERIES not in " ".join(result["simplified"])
    plain = runner.invoke(app, ["import", str(OUTLOOK)])
    assert plain.exit_code == 0 and plain.output.count("simplified:") == 3


def test_import_then_export_counts_items(tmp_path: Path) -> None:
    target = tmp_path / "mine.ics"
    config.set_value("personal.backend", "ics")
    config.set_value("personal.path", str(target))
    imported = runner.invoke(app, ["import", str(OUTLOOK), "--json"])
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout) == {"created": 4, "skipped": 0, "problems": [], "simplified": []}
    again = runner.invoke(app, ["import", str(OUTLOOK), "--json"])
    assert json.loads(again.stdout)["skipped"] == 4
    assert len([i for i in IcsCalendar(target).snapshot(WINDOW).items if i.uid == SERIES]) == 6
    out = tmp_path / "out.ics"
    exported = runner.invoke(app, ["export", str(out), "--past-days", "0", "--future-days", "3", "--json"])
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["exported"] == 0
    assert out.read_bytes().startswith(b"BEGIN:VCALENDAR")
