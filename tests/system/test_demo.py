"""``calferry demo`` as a real subprocess: PSA, calendar, config and web page up; the engine works on them."""

from __future__ import annotations

import importlib.util
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from calferry import config
from calferry.commands.demo_cmd import DEMO_ITEM, demo_resource
from calferry.model import Window
from calferry.personal.caldav import CalDavCalendar
from calferry.psa.server import DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME
from calferry.wiring import open_service
from tests.system.test_private_state import not_private

HEADERS = {"ApiIntegrationCode": DEMO_INTEGRATION_CODE, "UserName": DEMO_USERNAME, "Secret": DEMO_SECRET}
CLI = [sys.executable, "-c", "from calferry.cli import main; main()"]
FREE_PORTS = ["--psa-port", "0", "--calendar-port", "0", "--web-port", "0", "--no-open"]
DEMO_UIDS = {
    "demo-onsite-acme",
    "demo-dentist",
    "demo-training",
    "demo-conference",
    "demo-call-back",
    "demo-weekly-standup",
}
STARTUP_SECONDS = 60


def _read_line(process: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """The demo's one JSON line, waited for with a deadline (a dead demo fails at once)."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, f"calferry demo printed nothing within {timeout:.0f} s"
    line = process.stdout.readline()
    assert line, f"calferry demo exited with {process.wait()} before it was ready"
    info: dict[str, Any] = json.loads(line)
    return info


@contextmanager
def running_demo(home: Path, *extra: str) -> Iterator[tuple[dict[str, Any], subprocess.Popen[bytes]]]:
    """Start the demo, yield its summary; stop it with SIGTERM (the test asserts the exit code)."""
    command = [*CLI, "demo", "--json", *FREE_PORTS, "--home", str(home), *extra]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=os.environ.copy())
    try:
        yield _read_line(process, STARTUP_SECONDS), process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=30)


def _query(psa_url: str, entity: str, *filters: dict[str, Any]) -> list[dict[str, Any]]:
    body = {"filter": list(filters) or [{"op": "gte", "field": "id", "value": 0}]}
    answer = httpx.post(f"{psa_url}{entity}/query", json=body, headers=HEADERS, timeout=30)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _demo_week() -> Window:
    """The demo calendar's week (Monday first) and the next two, in the demo resource's zone."""
    zone = ZoneInfo(demo_resource().time_zone)
    today = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today - timedelta(days=today.weekday())
    return Window(monday - timedelta(days=1), monday + timedelta(days=21))


def _calendar_items(info: dict[str, Any]) -> list[Any]:
    """The demo calendar's items, read with the password the demo made and keeps in its home."""
    password = json.loads((Path(info["home"]) / "secrets.json").read_text())["caldav:calferry"]
    calendar = CalDavCalendar(info["calendar_url"], "calferry", password)
    try:
        return list(calendar.snapshot(_demo_week()).items)
    finally:
        calendar.close()


def _cli_json(home: Path, *args: str) -> dict[str, Any]:
    env = {**os.environ, "CALFERRY_HOME": str(home)}
    done = subprocess.run([*CLI, *args, "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_demo_serves_psa_calendar_and_page_and_the_engine_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "demo-home"
    with running_demo(home) as (info, process):
        assert info["home"] == str(home) and info["resource"] == demo_resource().email
        assert any(DEMO_ITEM in line for line in info["try"])
        _check_psa(info["psa_url"])
        _check_calendar(info)
        _check_config(home, info)
        page = httpx.get(info["web_url"], timeout=30, follow_redirects=True)
        assert page.status_code == 200 and "Acme Dental network check" in page.text
        assert not_private(home) == {}  # the demo's home, its PSA database and calendar: 0700 / 0600
        monkeypatch.setenv("CALFERRY_HOME", str(home))
        _check_send_and_get(info)
        if importlib.util.find_spec("calferry.commands.engine_cmd") is not None:
            _check_cli(home)
        assert _stop(process) == 0


def _check_psa(psa_url: str) -> None:
    me = _query(psa_url, "Resources", {"op": "eq", "field": "email", "value": demo_resource().email})
    assert len(me) == 1 and "hasCrmAccess" not in me[0]
    mine = _query(psa_url, "Appointments", {"op": "eq", "field": "resourceID", "value": me[0]["id"]})
    assert {"Dentist", "Training", "Quarterly review"} <= {a["title"] for a in mine}
    no_crm = _query(psa_url, "Resources", {"op": "beginsWith", "field": "email", "value": "tech.nocrm@"})
    assert len(no_crm) == 1


def _check_calendar(info: dict[str, Any]) -> None:
    items = _calendar_items(info)
    assert {i.uid for i in items} == DEMO_UIDS
    standups = [i for i in items if i.uid == "demo-weekly-standup"]
    assert any("moved" in i.subject for i in standups)  # the moved occurrence
    assert len(standups) == 2  # this week's and the moved one; the third week's is cancelled
    assert [i.private for i in items if i.uid == "demo-dentist"] == [True]


def _check_config(home: Path, info: dict[str, Any]) -> None:
    settings = config.load_settings(home / "config.toml")
    assert settings.calendar.enabled is True
    assert settings.personal.backend == "caldav" and settings.personal.url == info["calendar_url"]
    assert settings.psa.base_url == info["psa_url"] and settings.psa.resource == info["resource"]
    assert settings.psa.username == DEMO_USERNAME and settings.psa.integration_code == DEMO_INTEGRATION_CODE


def _check_send_and_get(info: dict[str, Any]) -> None:
    with open_service() as svc:
        sent = svc.send([DEMO_ITEM])
        assert [r.outcome for r in sent.results] == ["done"]
        fetched = svc.get()
    assert [r for r in fetched.results if r.outcome == "done"], "Get downloaded nothing"
    titles = {a["title"] for a in _query(info["psa_url"], "Appointments")}
    assert "On-site: Acme Dental network check" in titles
    uids = {i.uid for i in _calendar_items(info)}
    assert any(uid.startswith("calferry-appointment-") for uid in uids)


def _check_cli(home: Path) -> None:
    states = {i["ref"]: i["state"] for i in _cli_json(home, "items")["items"]}
    assert states[DEMO_ITEM] == "sent"
    assert "downloaded" in states.values()
    _cli_json(home, "get")


def test_a_second_start_reuses_the_data_and_reset_seeds_afresh(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    with running_demo(home) as (info, process):
        first = _calendar_items(info)
        companies = len(_query(info["psa_url"], "Companies"))
        assert _stop(process) == 0
    with running_demo(home) as (info, process):
        assert sorted(i.ref for i in _calendar_items(info)) == sorted(i.ref for i in first)
        assert len(_query(info["psa_url"], "Companies")) == companies
        assert config.load_settings(home / "config.toml").psa.base_url == info["psa_url"]
        (home / "calendar" / "stray.txt").write_text("left by the first run")
        assert _stop(process) == 0
    with running_demo(home, "--reset") as (info, process):
        assert not (home / "calendar" / "stray.txt").exists()
        assert {i.uid for i in _calendar_items(info)} == DEMO_UIDS
        assert _stop(process) == 0


def test_reset_refuses_a_folder_that_is_not_a_demo_home(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    started = time.monotonic()
    done = subprocess.run(
        [*CLI, "demo", "--json", *FREE_PORTS, "--home", str(precious), "--reset"],
        capture_output=True,
        text=True,
        timeout=STARTUP_SECONDS,
    )
    assert done.returncode == 3 and "refusing to wipe" in json.loads(done.stdout)["error"]["message"]
    assert (precious / "notes.txt").read_text() == "keep me"
    assert time.monotonic() - started < STARTUP_SECONDS
