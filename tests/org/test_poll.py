"""The central PSA poll against `calferry psa serve` on PostgreSQL: changes, deletions, their cost."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calferry.model import PsaKind, Window
from calferry.org.cluster import PrivateCluster
from calferry.org.poll import UNASSIGNED, CentralPoll
from calferry.org.store import OrgStore
from calferry.psa.autotask import AutotaskClient
from calferry.psa.query import ALL, overlapping
from calferry.psa.server.seed import bulk_appointments
from tests.fixtures.psa_server import PsaServer

pytestmark = pytest.mark.postgres

_numbers = itertools.count()
KINDS = (PsaKind.APPOINTMENT, PsaKind.TODO, PsaKind.SERVICE_CALL)


@pytest.fixture
def pg_psa(postgres_cluster: PrivateCluster, psa_server_factory: Callable[..., PsaServer]) -> PsaServer:
    """The demo PSA on a PostgreSQL database of its own."""
    return psa_server_factory(db_url=postgres_cluster.create_database(f"psa_poll_{next(_numbers)}"))


@pytest.fixture
def client(pg_psa: PsaServer) -> Iterator[AutotaskClient]:
    h = pg_psa.headers
    with AutotaskClient(
        pg_psa.base_url, username=h["UserName"], integration_code=h["ApiIntegrationCode"], secret=h["Secret"],
        threshold_every=10**9, threshold_seconds=10**9,
    ) as c:  # fmt: skip
        yield c


def _window() -> Window:
    return Window.around(datetime.now(UTC), 7, 30)


def _in_window(client: AutotaskClient, entity: str) -> list[dict[str, object]]:
    w = _window()
    return list(client.query(entity, overlapping("startDateTime", "endDateTime", w.start, w.end)))


def test_the_first_poll_reads_every_item_of_the_window_and_who_it_belongs_to(
    client: AutotaskClient, org_store: OrgStore
) -> None:
    result = CentralPoll(client, org_store).run(_window(), KINDS)
    appointments = _in_window(client, "Appointments")
    assert result.changed[PsaKind.APPOINTMENT] == {a["id"] for a in appointments}
    assert len(result.changed[PsaKind.SERVICE_CALL]) == 3
    assert {a["resourceID"] for a in appointments} <= result.resources
    for kind, entity in zip(KINDS, ("Appointments", "CompanyToDos", "ServiceCalls"), strict=True):
        assert org_store.cached_count(kind, _window()) == len(_in_window(client, entity))
        assert org_store.watermark(kind) is not None
    calls = org_store.cached(PsaKind.SERVICE_CALL, result.changed[PsaKind.SERVICE_CALL])
    assert all(rows and UNASSIGNED not in {r.resource_id for r in rows} for rows in calls.values())


def test_a_quiet_cycle_costs_one_query_and_one_count_per_kind(
    client: AutotaskClient, org_store: OrgStore
) -> None:
    poll = CentralPoll(client, org_store)
    poll.run(_window(), KINDS)
    quiet = poll.run(_window(), KINDS)
    assert (quiet.changed, quiet.gone, quiet.resources) == ({}, {}, set())
    assert quiet.requests == 2 * len(KINDS)


def test_an_edit_and_a_reassignment_concern_exactly_the_old_and_new_owners(
    client: AutotaskClient, org_store: OrgStore
) -> None:
    poll = CentralPoll(client, org_store)
    poll.run(_window(), KINDS)
    first, second = _in_window(client, "Appointments")[:2]
    other = next(
        a["resourceID"] for a in _in_window(client, "Appointments") if a["resourceID"] != first["resourceID"]
    )
    client.update("Appointments", {"id": first["id"], "title": "Moved to the afternoon"})
    client.update("Appointments", {"id": second["id"], "resourceID": other})
    result = poll.run(_window(), KINDS)
    assert result.changed == {PsaKind.APPOINTMENT: {first["id"], second["id"]}}
    assert result.resources == {first["resourceID"], second["resourceID"], other}
    assert result.gone == {}


def test_a_deleted_item_is_found_by_counting_and_its_owner_told(
    client: AutotaskClient, org_store: OrgStore
) -> None:
    poll = CentralPoll(client, org_store)
    poll.run(_window(), KINDS)
    victim = _in_window(client, "Appointments")[0]
    client.delete("Appointments", victim["id"])
    result = poll.run(_window(), KINDS)
    assert result.gone == {PsaKind.APPOINTMENT: {victim["id"]}}
    assert result.resources == {victim["resourceID"]}
    assert result.requests == 2 * len(KINDS) + 1  # one listing of the (small) window's ids
    assert org_store.cached(PsaKind.APPOINTMENT, [victim["id"]]) == {victim["id"]: []}


def test_deletions_in_a_large_window_are_bisected_with_counts_not_listed(
    pg_psa: PsaServer, client: AutotaskClient, org_store: OrgStore
) -> None:
    resource = next(iter(client.query("Resources", ALL, ["id"])))["id"]
    bulk_appointments(pg_psa.state.engine, 64, resource, datetime.now(UTC) + timedelta(days=2))
    poll = CentralPoll(client, org_store, leaf=4)
    poll.run(_window(), [PsaKind.APPOINTMENT])
    ids = sorted(a["id"] for a in _in_window(client, "Appointments"))
    doomed = {ids[5], ids[40]}
    for psa_id in doomed:
        client.delete("Appointments", psa_id)
    listed_before = client.stats.get("POST Appointments/query", 0)
    result = poll.run(_window(), [PsaKind.APPOINTMENT])
    assert result.gone == {PsaKind.APPOINTMENT: doomed}
    listings = client.stats["POST Appointments/query"] - listed_before - 1  # less the changes query
    counts = result.requests - 1 - listings
    assert listings == 2  # one small range listed per deletion
    assert counts <= 2 * 5 + 1  # about log2(N / leaf) counts per deletion, plus the window's
    assert org_store.cached_count(PsaKind.APPOINTMENT, _window()) == len(ids) - 2


def test_many_deletions_at_once_cost_a_listing_of_the_window_not_a_bisection_each(
    pg_psa: PsaServer, client: AutotaskClient, org_store: OrgStore
) -> None:
    resource = next(iter(client.query("Resources", ALL, ["id"])))["id"]
    bulk_appointments(pg_psa.state.engine, 64, resource, datetime.now(UTC) + timedelta(days=2))
    poll = CentralPoll(client, org_store, leaf=4)
    poll.run(_window(), [PsaKind.APPOINTMENT])
    ids = sorted(a["id"] for a in _in_window(client, "Appointments"))
    doomed = set(ids[::5])  # 13 of 64: bisecting each would cost about 13 x 5 requests
    for psa_id in doomed:
        client.delete("Appointments", psa_id)
    result = poll.run(_window(), [PsaKind.APPOINTMENT])
    assert result.gone == {PsaKind.APPOINTMENT: doomed}
    assert result.requests == 3  # the changes query, the window's count, one listing of its ids
    assert org_store.cached_count(PsaKind.APPOINTMENT, _window()) == len(ids) - len(doomed)


def test_an_item_moved_out_of_the_window_leaves_the_cache_and_its_owner_is_told(
    client: AutotaskClient, org_store: OrgStore
) -> None:
    poll = CentralPoll(client, org_store)
    poll.run(_window(), KINDS)
    item = _in_window(client, "Appointments")[0]
    far = datetime.now(UTC) + timedelta(days=200)
    client.update(
        "Appointments", {"id": item["id"], "startDateTime": far, "endDateTime": far + timedelta(hours=1)}
    )
    result = poll.run(_window(), KINDS)
    assert result.gone == {PsaKind.APPOINTMENT: {item["id"]}}
    assert result.resources == {item["resourceID"]}


def test_the_watermark_is_the_psas_newest_marker_less_nothing_of_this_machines_clock(
    client: AutotaskClient, org_store: OrgStore
) -> None:
    CentralPoll(client, org_store).run(_window(), [PsaKind.APPOINTMENT])
    newest = max(a["updateDateTime"] for a in client.query("Appointments", ALL, ["id", "updateDateTime"]))
    from calferry.psa.query import parse_utc

    assert org_store.watermark(PsaKind.APPOINTMENT) == parse_utc(str(newest))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.lists(st.floats(0, 1, exclude_max=True), max_size=4), min_size=1, max_size=3))
def test_whatever_is_deleted_between_polls_is_exactly_what_the_poll_finds_gone(
    pg_psa: PsaServer, client: AutotaskClient, org_store: OrgStore, picks: list[list[float]]
) -> None:
    """Hostile deletion patterns (none, neighbours, both ends, the same range twice) over several cycles,
    with a leaf small enough that ranges are bisected or listed whole as their differences make cheaper:
    the poll's gone set is exactly the deleted ids."""
    if org_store.watermark(PsaKind.APPOINTMENT) is None:  # the first example of this test's database
        resource = next(iter(client.query("Resources", ALL, ["id"])))["id"]
        bulk_appointments(pg_psa.state.engine, 40, resource, datetime.now(UTC) + timedelta(days=2))
    poll = CentralPoll(client, org_store, leaf=3)
    poll.run(_window(), [PsaKind.APPOINTMENT])
    for cycle in picks:
        ids = sorted(a["id"] for a in _in_window(client, "Appointments"))
        doomed = {ids[int(f * len(ids))] for f in cycle} if ids else set()
        for psa_id in doomed:
            client.delete("Appointments", psa_id)
        result = poll.run(_window(), [PsaKind.APPOINTMENT])
        assert result.gone.get(PsaKind.APPOINTMENT, set()) == doomed
        assert org_store.cached_count(PsaKind.APPOINTMENT, _window()) == len(ids) - len(doomed)
