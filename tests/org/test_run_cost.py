"""What a cycle costs in Autotask requests, against real parts: PostgreSQL, `psa serve`, Radicale, a worker.

The poll reads for everyone; a technician's run reads nothing from Autotask (its items and what they name
come from the poll's cache, its resource too) and the cycle looks at ThresholdInformation once. The
requests are those the shared budget counted (every request passes its gate).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from calferry.model import PersonalItem
from calferry.org.store import OrgStore
from calferry.personal.caldav import CalDavCalendar
from calferry.personal.radicale import DEFAULT_USER, RadicaleServer
from calferry.psa.server.models import TABLES
from calferry.psa.server.seed import bulk_appointments, bulk_resources
from tests.fixtures.psa_server import PsaServer, configure_calferry
from tests.org.test_fanout import EVERYTHING, _calendar, _cycle, _resources, _spent, _titles, pg_psa

pytestmark = pytest.mark.postgres
__all__ = ["pg_psa"]  # the fixture, shared with the fan-out tests

QUIET_POLL = 2 * 3
"""One changes query and one count per kind: Appointments, CompanyToDos, ServiceCalls."""
THRESHOLD_LOOK = 1
"""The cycle's one ThresholdInformation, for the budget and every run's client."""


def _items(url: str) -> list[PersonalItem]:
    cal = CalDavCalendar(url, username=DEFAULT_USER)
    try:
        return list(cal.snapshot(EVERYTHING).items)
    finally:
        cal.close()


def _minutes_pass(store: OrgStore) -> None:
    """A cycle's time passes: the poll is due, and so is every technician's run."""
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE poll_watermarks SET polled_at = polled_at - interval '5 minutes'"))
        conn.execute(text("UPDATE technicians SET next_run = now() - interval '1 second'"))


def _appointments_of(pg_psa: PsaServer, resource_id: int) -> list[dict[str, object]]:
    with pg_psa.client() as http:
        found = http.post(
            "Appointments/query", json={"filter": [{"op": "eq", "field": "resourceID", "value": resource_id}]}
        )
    return list(found.json()["items"])


def test_a_cycle_with_5_changed_technicians_among_20_costs_the_poll_and_one_threshold_look(
    pg_psa: PsaServer, org_store: OrgStore, radicale_server: RadicaleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_calferry(pg_psa, "http://127.0.0.1:1/unused/", "tech.ny", monkeypatch)
    emails = [f"tech{n:02d}@cost.example" for n in range(20)]
    resources = bulk_resources(pg_psa.state.engine, emails)
    for resource in resources:
        bulk_appointments(pg_psa.state.engine, 2, resource, datetime.now(UTC) + timedelta(days=1))
    technicians = [
        org_store.add_technician(resource, email, "caldav", _calendar(radicale_server))
        for resource, email in zip(resources, emails, strict=True)
    ]
    _cycle(org_store, 0)
    assert all(_titles(t.calendar) == ["Bulk appointment 1", "Bulk appointment 2"] for t in technicians)

    changed = technicians[::4]
    with pg_psa.client() as http:
        for technician in changed:
            first = _appointments_of(pg_psa, technician.resource_id)[0]
            assert http.patch("Appointments", json={"id": first["id"], "title": "Moved"}).status_code == 200
    _minutes_pass(org_store)
    before, spent = {t.id: org_store.technician(t.id).last_run for t in technicians}, _spent(org_store)
    _cycle(org_store, 60)

    assert len(changed) == 5
    assert _spent(org_store) - spent == QUIET_POLL + THRESHOLD_LOOK  # 5 changes fit the changes query's page
    assert all(org_store.technician(t.id).last_run != before[t.id] for t in technicians)  # all 20 ran
    assert all(org_store.technician(t.id).last_error == "" for t in technicians)
    for technician in technicians:
        expected = (
            ["Bulk appointment 2", "Moved"]
            if technician in changed
            else ["Bulk appointment 1", "Bulk appointment 2"]
        )
        assert sorted(_titles(technician.calendar)) == expected


def test_a_first_run_with_to_dos_and_service_calls_reads_nothing_from_autotask(
    pg_psa: PsaServer, org_store: OrgStore, radicale_server: RadicaleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_calferry(pg_psa, "http://127.0.0.1:1/unused/", "tech.ny", monkeypatch)
    _cycle(org_store, 0)  # the poll fills the cache; nobody to run yet
    nora = org_store.add_technician(
        _resources(pg_psa)["tech.ny@demo.calferry.local"], "tech.ny@demo.calferry.local", "caldav",
        _calendar(radicale_server),
    )  # fmt: skip
    _minutes_pass(org_store)
    spent = _spent(org_store)
    _cycle(org_store, 60)

    # the quiet poll, then the new technician's resource and its location (once, for the cycle), the look
    assert _spent(org_store) - spent == QUIET_POLL + 2 + THRESHOLD_LOOK
    assert org_store.technician(nora.id).last_error == ""
    items = {item.subject: item for item in _items(nora.calendar)}
    # her to-do, named by its action type, company and contact; her service calls with their work
    assert "Meeting: Fabrikam Logistik GmbH / Maria Garcia 2" in items
    calls = [item for subject, item in items.items() if subject.startswith("Service Call: ")]
    assert len(calls) == 2 and all("Ticket T" in call.description for call in calls)
    assert any("Task T" in call.description and "Move rack" in call.description for call in calls)


def test_a_resource_made_inactive_disables_its_technician_at_no_request_of_its_own(
    pg_psa: PsaServer, org_store: OrgStore, radicale_server: RadicaleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_calferry(pg_psa, "http://127.0.0.1:1/unused/", "tech.ny", monkeypatch)
    resource = _resources(pg_psa)["tech.ny@demo.calferry.local"]
    nora = org_store.add_technician(
        resource, "tech.ny@demo.calferry.local", "caldav", _calendar(radicale_server)
    )
    _cycle(org_store, 0)
    assert org_store.technician(nora.id).enabled and "Training" in _titles(nora.calendar)

    table = TABLES["Resources"]
    with pg_psa.state.engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == resource).values(isActive=False))
    _minutes_pass(org_store)
    with org_store.engine.begin() as conn:  # an hour passes since the resources were read
        conn.execute(text("UPDATE psa_refs SET fetched_at = fetched_at - interval '61 minutes'"))
    spent = _spent(org_store)
    _cycle(org_store, 60)

    assert _spent(org_store) - spent == QUIET_POLL + 1 + THRESHOLD_LOOK  # the hour's read of the resources
    row = org_store.technician(nora.id)
    assert row.enabled is False
    assert "no longer in the PSA" in row.disabled_reason and "inactive" in row.disabled_reason
    assert "Training" in _titles(nora.calendar)  # nothing of hers deleted


def test_a_resource_the_psa_no_longer_has_disables_its_technician_at_no_request_of_its_own(
    pg_psa: PsaServer, org_store: OrgStore, radicale_server: RadicaleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_calferry(pg_psa, "http://127.0.0.1:1/unused/", "tech.ny", monkeypatch)
    _cycle(org_store, 0)
    gone = org_store.add_technician(987_654, "left@example.com", "caldav", _calendar(radicale_server))
    _minutes_pass(org_store)
    spent = _spent(org_store)
    _cycle(org_store, 60)

    assert _spent(org_store) - spent == QUIET_POLL + 1 + THRESHOLD_LOOK  # the new technician's resource, none
    row = org_store.technician(gone.id)
    assert row.enabled is False
    assert row.disabled_reason == "no longer in the PSA (no resource has id 987654 in the PSA)"
