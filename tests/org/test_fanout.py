"""The fan-out against real parts: PostgreSQL, `psa serve`, Radicale, a procrastinate worker.

Each technician's own CalDAV calendar receives their PSA items through the one-technician engine; a PSA
change reaches only the technician it concerns; one technician's broken calendar is their error only.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import text

from calferry.model import Window
from calferry.org.cluster import PrivateCluster
from calferry.org.jobs import TICK, make_app
from calferry.org.store import OrgStore, libpq_url
from calferry.org.worker import runtime_for
from calferry.personal.caldav import CalDavCalendar
from calferry.personal.radicale import DEFAULT_USER, RadicaleServer, bulk_put
from tests.fixtures.psa_server import PsaServer, configure_calferry

pytestmark = pytest.mark.postgres
_numbers = itertools.count()
EVERYTHING = Window(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
EMPTY = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nEND:VCALENDAR\r\n"


@pytest.fixture
def pg_psa(postgres_cluster: PrivateCluster, psa_server_factory: Callable[..., PsaServer]) -> PsaServer:
    return psa_server_factory(db_url=postgres_cluster.create_database(f"psa_fanout_{next(_numbers)}"))


def _calendar(radicale: RadicaleServer) -> str:
    url = radicale.calendar_url(calendar=f"org-{next(_numbers)}-{datetime.now(UTC):%H%M%S%f}")
    bulk_put(url, EMPTY)
    return url


def _titles(url: str) -> list[str]:
    cal = CalDavCalendar(url, username=DEFAULT_USER)
    try:
        return sorted(item.subject for item in cal.snapshot(EVERYTHING).items)
    finally:
        cal.close()


def _cycle(store: OrgStore, timestamp: int) -> None:
    """One tick through a real worker, which then runs the jobs it deferred, and stops when idle."""
    app = make_app(libpq_url(store.engine))
    with app.open(), contextlib.suppress(AlreadyEnqueued):  # the worker's own scheduler may have one waiting
        app.configure_task(TICK).defer(timestamp=timestamp)
    app.run_worker(wait=False, install_signal_handlers=False, listen_notify=False,
                   additional_context={"calferry": runtime_for(store)})  # fmt: skip


def _spent(store: OrgStore) -> int:
    """Autotask requests through the shared budget so far, every hour together."""
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(sum(requests), 0) FROM budget_hours")).scalar_one())


def _resources(pg_psa: PsaServer) -> dict[str, int]:
    with pg_psa.client() as http:
        rows = http.post(
            "Resources/query", json={"filter": [{"op": "gte", "field": "id", "value": 0}]}
        ).json()
    return {r["email"]: r["id"] for r in rows["items"]}


def test_each_technician_gets_their_own_items_and_a_psa_change_reaches_only_its_owner(
    pg_psa: PsaServer, org_store: OrgStore, radicale_server: RadicaleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_calferry(pg_psa, "http://127.0.0.1:1/unused/", "tech.ny", monkeypatch)
    resources = _resources(pg_psa)
    nora_id, leo_id = resources["tech.ny@demo.calferry.local"], resources["tech.berlin@demo.calferry.local"]
    nora_cal, leo_cal, broken_cal = (
        _calendar(radicale_server),
        _calendar(radicale_server),
        "http://127.0.0.1:9/x/",
    )
    nora = org_store.add_technician(nora_id, "tech.ny@demo.calferry.local", "caldav", nora_cal)
    leo = org_store.add_technician(leo_id, "tech.berlin@demo.calferry.local", "caldav", leo_cal)
    broken = org_store.add_technician(resources["tech.nocrm@demo.calferry.local"], "tech.nocrm@demo.calferry.local",
                                      "caldav", broken_cal)  # fmt: skip

    _cycle(org_store, 0)
    assert "Training" in _titles(nora_cal) and "Training" in _titles(leo_cal)  # each their own copy
    assert org_store.technician(broken.id).last_error  # the broken calendar is that technician's error
    assert org_store.technician(nora.id).last_error == "" and org_store.technician(leo.id).last_error == ""
    leo_ran = org_store.technician(leo.id).last_run
    spent = _spent(org_store)

    with pg_psa.client() as http:
        mine = http.post("Appointments/query", json={"filter": [{"op": "eq", "field": "resourceID", "value": nora_id},
                                                                 {"op": "eq", "field": "title", "value": "Training"}]})  # fmt: skip
        changed = http.patch(
            "Appointments", json={"id": mine.json()["items"][0]["id"], "title": "Training (room 4)"}
        )
        assert changed.status_code == 200
    with org_store.engine.begin() as conn:  # five minutes pass
        conn.execute(text("UPDATE poll_watermarks SET polled_at = polled_at - interval '5 minutes'"))
    _cycle(org_store, 60)
    assert "Training (room 4)" in _titles(nora_cal)
    assert "Training (room 4)" not in _titles(leo_cal)
    assert org_store.technician(leo.id).last_run == leo_ran  # nothing of Leo's changed: not run
    # the cycle's Autotask cost: the poll (2 a kind) and the threshold look; Nora's run reads nothing
    assert _spent(org_store) - spent == 6 + 1


def test_a_technician_removed_from_the_psa_is_disabled_with_a_message_and_nothing_deleted(
    pg_psa: PsaServer, org_store: OrgStore, radicale_server: RadicaleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_calferry(pg_psa, "http://127.0.0.1:1/unused/", "tech.ny", monkeypatch)
    url = radicale_server.calendar_url(calendar=f"gone-{next(_numbers)}-{datetime.now(UTC):%H%M%S%f}")
    mine = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:kept-1\r\n"
        "DTSTAMP:20260101T000000Z\r\nDTSTART:20260110T090000Z\r\nDTEND:20260110T100000Z\r\n"
        "SUMMARY:My own dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    bulk_put(url, mine.encode())
    gone = org_store.add_technician(987_654, "left@example.com", "caldav", url)
    _cycle(org_store, 0)
    row = org_store.technician(gone.id)
    assert row.enabled is False
    assert "no longer in the PSA" in row.disabled_reason and "987654" in row.disabled_reason
    assert _titles(url) == ["My own dentist"]
