"""`calferry org demo` as an admin tries it: its PSA's technicians each get their own calendar, a PSA change
reaches its technician's calendar within one cycle, and one Ctrl-C stops every part."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import text

from calferry import secrets
from calferry.model import Window
from calferry.org.jobs import TICK, make_app
from calferry.org.store import OrgStore, libpq_url
from calferry.personal.caldav import CalDavCalendar
from calferry.personal.radicale import DEFAULT_USER
from calferry.psa.server import DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME
from tests.org.test_worker_kill import _wait_for

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
EVERYTHING = Window(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
NORA, BERND, NOAH = (f"{m}@demo.calferry.local" for m in ("tech.ny", "tech.berlin", "tech.nocrm"))
PSA_HEADERS = {"ApiIntegrationCode": DEMO_INTEGRATION_CODE, "UserName": DEMO_USERNAME, "Secret": DEMO_SECRET}


def _titles(url: str) -> list[str]:
    calendar = CalDavCalendar(url, DEFAULT_USER, secrets.caldav_password(DEFAULT_USER, ""))
    try:
        return sorted(item.subject for item in calendar.snapshot(EVERYTHING).items)
    finally:
        calendar.close()


def _rename_training(psa_url: str, resource_id: int, title: str) -> None:
    """The PSA side of a change: the technician's "Training" appointment gets another title."""
    query = {"filter": [{"op": "eq", "field": "resourceID", "value": resource_id},
                        {"op": "eq", "field": "title", "value": "Training"}]}  # fmt: skip
    with httpx.Client(base_url=psa_url, headers=PSA_HEADERS, timeout=30) as http:
        found = http.post("Appointments/query", json=query).json()["items"]
        assert http.patch("Appointments", json={"id": found[0]["id"], "title": title}).status_code == 200


def _next_cycle(store: OrgStore) -> None:
    """A cycle's time passes and the worker's next tick comes (now, not at the next minute)."""
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE poll_watermarks SET polled_at = polled_at - interval '5 minutes'"))
    app = make_app(libpq_url(store.engine))
    with app.open(), contextlib.suppress(AlreadyEnqueued):  # one waiting already does the same
        app.configure_task(TICK).defer(timestamp=int(time.time()))


def _start(org_db_url: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    env.pop("CALFERRY_ORG_DB", None)
    demo = subprocess.Popen([sys.executable, "-c", "from calferry.cli import main; main()", "org", "demo",
                             "--db", org_db_url, "--json"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert demo.stdout is not None
    line = demo.stdout.readline()
    if not line:
        demo.wait(60)
        pytest.fail(demo.stderr.read() if demo.stderr else "the demo said nothing")
    return demo, json.loads(line)


def test_the_demo_fans_a_psa_change_out_to_its_technician_within_a_cycle_and_ctrl_c_stops_every_part(
    org_db_url: str, calferry_home: Path
) -> None:
    demo, info = _start(org_db_url)
    store = OrgStore.open(org_db_url)
    try:
        techs = {t["email"]: t for t in info["technicians"]}
        assert set(techs) == {NORA, BERND, NOAH}
        assert len({t["calendar"] for t in techs.values()}) == 3  # one calendar each, in one Radicale
        assert all(t["calendar"].startswith(info["calendar_server"]) for t in techs.values())
        ids = [t["id"] for t in techs.values()]
        _wait_for(lambda: all(store.technician(i).last_run for i in ids), "the first cycle", seconds=180)
        assert "Training" in _titles(techs[NORA]["calendar"]) and "Training" in _titles(
            techs[BERND]["calendar"]
        )
        assert [store.technician(i).last_error for i in ids] == ["", "", ""]

        nora = store.technician(techs[NORA]["id"])
        _rename_training(info["psa_url"], nora.resource_id, "Training (room 4)")
        _next_cycle(store)
        _wait_for(lambda: store.technician(nora.id).last_run != nora.last_run, "Nora's run", seconds=180)
        assert "Training (room 4)" in _titles(techs[NORA]["calendar"])
        assert "Training (room 4)" not in _titles(techs[BERND]["calendar"])
    finally:
        store.close()
        demo.send_signal(signal.SIGINT)
        _, err = demo.communicate(timeout=180)
    assert demo.returncode == 0, err
    for stopped in (info["psa_url"], info["calendar_server"]):  # nothing left listening
        with pytest.raises(httpx.ConnectError):
            httpx.get(stopped, timeout=5)
