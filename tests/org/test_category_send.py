"""The category send through the org worker, against real parts: PostgreSQL, `psa serve`, Radicale.

A technician sends an item by giving it the category ``Send to Autotask`` in their own calendar (R3);
after one run it is an Appointment of their resource and its category says ``Sent to Autotask``; an
item without the category never leaves the calendar; a refused one gets the error category and the
admin reads why in ``calferry org status --json``; a second run sends nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from calferry.cli import app
from calferry.model import ItemKey, PersonalItem
from calferry.org.cluster import PrivateCluster
from calferry.org.store import OrgStore
from calferry.personal.caldav import CalDavCalendar
from calferry.personal.radicale import DEFAULT_USER, RadicaleServer, bulk_put
from tests.fixtures.psa_server import PsaServer, configure_calferry
from tests.org.test_fanout import EVERYTHING, _calendar, _cycle, _resources

pytestmark = pytest.mark.postgres
NY = "tech.ny@demo.calferry.local"


@pytest.fixture
def pg_psa(postgres_cluster: PrivateCluster, psa_server_factory: Callable[..., PsaServer]) -> PsaServer:
    return psa_server_factory(db_url=postgres_cluster.create_database("psa_category_send"))


def _event(uid: str, summary: str, start: datetime, categories: str) -> str:
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start:%Y%m%dT%H%M%SZ}\r\n"
        f"DTEND:{start + timedelta(hours=1):%Y%m%dT%H%M%SZ}\r\nSUMMARY:{summary}\r\n"
        f"CATEGORIES:{categories}\r\nX-MS-OLK-KEEP:unknown to calferry\r\nEND:VEVENT\r\n"
    )


def _items(url: str) -> dict[str, PersonalItem]:
    cal = CalDavCalendar(url, username=DEFAULT_USER)
    try:
        return {i.uid: i for i in cal.snapshot(EVERYTHING).items}
    finally:
        cal.close()


def _kept(url: str, uid: str) -> str:
    cal = CalDavCalendar(url, username=DEFAULT_USER)
    try:
        (resource,) = [r for r in cal.resources(EVERYTHING)[0] if r.uid == uid]
        return str(resource.events[0]["X-MS-OLK-KEEP"])
    finally:
        cal.close()


def _appointments(pg_psa: PsaServer, title: str) -> list[dict[str, Any]]:
    with pg_psa.client() as http:
        answer = http.post(
            "Appointments/query", json={"filter": [{"op": "eq", "field": "title", "value": title}]}
        )
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _next_cycle(store: OrgStore, timestamp: int) -> None:
    """Five minutes pass: the poll and every technician's run are due again."""
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE poll_watermarks SET polled_at = polled_at - interval '5 minutes'"))
        conn.execute(text("UPDATE technicians SET next_run = now() - interval '1 minute'"))
    _cycle(store, timestamp)


def test_r3_b10_an_item_given_the_send_category_is_sent_once_and_marked_and_a_refusal_is_shown(
    pg_psa: PsaServer,
    org_store: OrgStore,
    org_db_url: str,
    radicale_server: RadicaleServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure_calferry(pg_psa, "http://127.0.0.1:1/unused/", "tech.ny", monkeypatch)
    nora_id = _resources(pg_psa)[NY]
    url = _calendar(radicale_server)
    soon = (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    events = _event("visit-1", "Site visit Acme", soon, "Customer,Send to Autotask") + _event(
        "lunch-1", "Lunch with Sam", soon + timedelta(hours=3), "Customer"
    )
    bulk_put(
        url, f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{events}END:VCALENDAR\r\n".encode()
    )
    nora = org_store.add_technician(nora_id, NY, "caldav", url)

    _cycle(org_store, 0)
    (sent,) = _appointments(pg_psa, "Site visit Acme")
    assert sent["resourceID"] == nora_id  # an Appointment of the technician's own resource
    assert _appointments(pg_psa, "Lunch with Sam") == []  # R3: no category, never leaves the calendar
    mine = _items(url)
    visit = mine["visit-1"]
    assert visit.categories == ("Customer", "Sent to Autotask")
    assert visit.stamp is not None and visit.stamp.psa_id == sent["id"]  # the stamp, as a Send writes it
    assert mine["lunch-1"].categories == ("Customer",)
    assert _kept(url, "visit-1") == "unknown to calferry"  # nothing it does not understand is rewritten
    assert org_store.technician(nora.id).send_errors == []

    # the technician gives a downloaded service call the category: R7 refuses it
    call_uid = next(uid for uid in mine if uid.startswith("calferry-service-call-"))
    cal = CalDavCalendar(url, username=DEFAULT_USER)
    try:
        call = cal.get(ItemKey(call_uid))
        cal.set_categories(call.key, ("Send to Autotask",), call.version)
    finally:
        cal.close()
    _next_cycle(org_store, 60)
    mine = _items(url)
    assert mine[call_uid].categories == ("Autotask error",)
    assert mine["visit-1"].categories == ("Customer", "Sent to Autotask")

    monkeypatch.setenv("CALFERRY_ORG_DB", org_db_url)
    status = CliRunner().invoke(app, ["org", "status", "--json"], catch_exceptions=False)
    (row,) = [t for t in json.loads(status.stdout)["technicians"] if t["id"] == nora.id]
    (error,) = row["send_errors"]
    assert error["ref"] == call_uid and error["reason"] == "a service call cannot be sent from your calendar"
    assert error["subject"].startswith("Service Call:")

    _next_cycle(org_store, 120)
    assert len(_appointments(pg_psa, "Site visit Acme")) == 1  # 0 duplicates after further runs
    assert _appointments(pg_psa, "Lunch with Sam") == []
    assert org_store.technician(nora.id).send_errors == [error]  # still in error: still shown
