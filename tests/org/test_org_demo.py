"""`calferry org demo` as an admin tries it: its PSA's technicians each get their own calendar, a PSA change
reaches its technician's calendar within one cycle, an item a technician gives the send category is sent, the
admin page shows it, and one Ctrl-C stops every part."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import text

from calferry import secrets
from calferry.model import PersonalItem, Window
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


def _mark_for_sending(url: str, subject: str) -> None:
    """The technician's per-item act (R3): an item of theirs given the send category."""
    calendar = CalDavCalendar(url, DEFAULT_USER, secrets.caldav_password(DEFAULT_USER, ""))
    try:
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        calendar.create(
            PersonalItem(
                "survey-1", start, start + timedelta(hours=1), subject, categories=("Send to Autotask",)
            )
        )
    finally:
        calendar.close()


def _categories(url: str, uid: str) -> tuple[str, ...]:
    calendar = CalDavCalendar(url, DEFAULT_USER, secrets.caldav_password(DEFAULT_USER, ""))
    try:
        return next(i.categories for i in calendar.snapshot(EVERYTHING).items if i.uid == uid)
    finally:
        calendar.close()


def _psa_titles(psa_url: str, resource_id: int) -> list[str]:
    query = {"filter": [{"op": "eq", "field": "resourceID", "value": resource_id}]}
    with httpx.Client(base_url=psa_url, headers=PSA_HEADERS, timeout=30) as http:
        return [a["title"] for a in http.post("Appointments/query", json=query).json()["items"]]


def _admin_page(info: dict[str, Any], org_db_url: str) -> str:
    """The demo's admin page after `calferry org init`, signed in as the admin would, its technicians list."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    subprocess.run([sys.executable, "-c", "from calferry.cli import main; main()", "org", "init", "--db",
                    org_db_url, "--password-stdin"], input="demo admin password\n", text=True, env=env,
                   check=True, capture_output=True)  # fmt: skip
    base = info["admin_url"]
    with httpx.Client(base_url=base, timeout=30, headers={"Origin": base}) as client:
        form = client.get("/signin").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        signed = client.post("/signin", data={"password": "demo admin password", "csrf_token": token[1]})
        assert signed.status_code == 303 and signed.headers["location"] == "/technicians"
        return client.get("/technicians").text


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
        _mark_for_sending(techs[NORA]["calendar"], "Site survey, Contoso")
        _next_cycle(store)
        _wait_for(lambda: store.technician(nora.id).last_run != nora.last_run, "Nora's run", seconds=180)
        assert "Training (room 4)" in _titles(techs[NORA]["calendar"])
        assert "Training (room 4)" not in _titles(techs[BERND]["calendar"])
        assert _categories(techs[NORA]["calendar"], "survey-1") == ("Sent to Autotask",)
        assert _psa_titles(info["psa_url"], nora.resource_id).count("Site survey, Contoso") == 1
        with store.engine.connect() as conn:
            linked = conn.execute(
                text("SELECT personal_uid FROM links WHERE technician_id = :t"), {"t": nora.id}
            )
            uids = {row[0] for row in linked}
        assert "survey-1" in uids  # the sent item is linked, in the org database
        row = re.search(rf'<tr data-technician="{nora.id}".*?</tr>', _admin_page(info, org_db_url), re.S)
        assert row is not None and "Nora York" in row[0]
        assert re.search(r'class="items-linked">(\d+)<', row[0])[1] == str(len(uids))  # type: ignore[index]
        assert re.search(r'class="errors">(\d+)<', row[0])[1] == "0"  # type: ignore[index]
    finally:
        store.close()
        demo.send_signal(signal.SIGINT)
        _, err = demo.communicate(timeout=180)
    assert demo.returncode == 0, err
    for stopped in (info["psa_url"], info["calendar_server"]):  # nothing left listening
        with pytest.raises(httpx.ConnectError):
            httpx.get(stopped, timeout=5)
