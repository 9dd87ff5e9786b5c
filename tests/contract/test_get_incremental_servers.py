"""B3 against the real servers: a no-change Get after a full one costs markers and one sync report."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from calferry.config import Settings
from calferry.links import LinkStore
from calferry.model import PsaAppointment, Window
from calferry.personal.caldav import CalDavCalendar
from calferry.personal.radicale import DEFAULT_USER, ensure_calendar
from calferry.psa.gateway import AutotaskPsa
from calferry.service import Service
from tests.contract.test_autotask_client import make_client

NY = "tech.ny@demo.calferry.local"
SETTINGS = Settings.from_dict({"calendar": {"enabled": True}, "personal": {"backend": "caldav"}})
MARKER_QUERIES = {
    "POST Appointments/query",
    "POST CompanyToDos/query",
    "POST ServiceCalls/query",
    "POST ServiceCallTickets/query",
    "POST ServiceCallTicketResources/query",
    "POST ServiceCallTasks/query",
    "POST ServiceCallTaskResources/query",
}


@dataclass
class Run:
    """One ``calferry get`` run: fresh adapters on the kept link store."""

    service: Service
    personal: CalDavCalendar
    psa: AutotaskPsa


@pytest.fixture
def runs(psa_server: Any, radicale_calendar_url: str, tmp_path: Path) -> Iterator[Any]:
    ensure_calendar(radicale_calendar_url)
    store = LinkStore(tmp_path / "links.sqlite3")
    opened: list[Run] = []

    def start() -> Run:
        personal = CalDavCalendar(radicale_calendar_url, username=DEFAULT_USER)
        psa = AutotaskPsa(make_client(psa_server), resource=NY)
        psa.me()  # who am I: asked once per run, not part of the Get's reads
        personal.requests = 0
        opened.append(Run(Service(SETTINGS, personal, psa, store, lambda: datetime.now(UTC)), personal, psa))
        return opened[-1]

    yield start
    for run in opened:
        run.personal.close()
        run.psa.close()
    store.close()


def spent(psa: AutotaskPsa, before: dict[str, int]) -> dict[str, int]:
    return {
        k: v - before.get(k, 0)
        for k, v in psa.request_counts().items()
        if k != "total" and v != before.get(k, 0)
    }


def test_b3_no_change_get_reads_markers_and_one_sync_report(runs: Any) -> None:
    full = runs()
    created = full.service.get()
    assert created.outcomes()["done"] >= 7 and not created.failed
    again = runs()
    before = dict(again.psa.request_counts())
    result = again.service.get()
    assert result.results == []
    assert again.personal.requests == 1  # the sync-collection report: no listing, no reads, no writes
    used = spent(again.psa, before)
    assert set(used) <= MARKER_QUERIES and all(n == 1 for n in used.values()), used


def test_b3_a_psa_edit_fetches_that_item_only_and_updates_its_copy(runs: Any) -> None:
    runs().service.get()
    again = runs()
    me = again.psa.me()
    cal = SETTINGS.calendar
    window = Window.around(datetime.now(UTC), cal.get_past_days, cal.get_future_days)
    snapshot = again.psa.snapshot(window, me.id, cal.get_kinds)
    target = next(i for i in snapshot.items if isinstance(i, PsaAppointment))
    again.psa.client.update("Appointments", {"id": target.id, "title": "Moved by the dispatcher"})
    before = dict(again.psa.request_counts())
    result = again.service.get()
    assert [(r.action.kind.value, r.outcome) for r in result.results] == [("update", "done")]
    used = spent(again.psa, before)
    assert used["POST Appointments/query"] == 2  # the markers, then the one changed appointment by id
    assert "POST Companies/query" not in used
    subjects = [i.subject for i in again.personal.snapshot(window).items]
    assert "Moved by the dispatcher" in subjects
    assert runs().service.get().results == []
