"""Usage limits (hourly, 3 threads) and fault injection of the PSA server, both sides of the contract."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from calferry.psa.server.faults import FaultPlan
from calferry.psa.server.models import TABLES

ALL = {"filter": [{"op": "gte", "field": "id", "value": 0}]}
APPOINTMENT = {
    "title": "Fault probe",
    "startDateTime": "2030-05-01T09:00:00Z",
    "endDateTime": "2030-05-01T10:00:00Z",
}


def _rows(server, entity: str) -> int:
    """Counted in the database itself, so no request (and no fault) is involved."""
    with server.state.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(TABLES[entity])).scalar_one())


def _tech(server) -> int:
    table = TABLES["Resources"]
    with server.state.engine.connect() as conn:
        return int(conn.execute(select(table.c.id).where(table.c.email.like("tech.ny@%"))).scalar_one())


def test_hourly_limit_answers_429_with_retry_after(psa_server_factory):
    server = psa_server_factory(hourly_limit=3)
    with server.client() as client:
        statuses = [client.post("Appointments/query", json=ALL).status_code for _ in range(3)]
        over = client.get("ThresholdInformation")
    assert statuses == [200, 200, 200]
    assert over.status_code == 429
    assert int(over.headers["Retry-After"]) >= 1
    assert "request threshold of 3 requests per hour" in over.json()["errors"][0]


def test_threshold_information_reports_the_hourly_limit(psa_server_factory):
    server = psa_server_factory(hourly_limit=50)
    with server.client() as client:
        for _ in range(4):
            client.post("Appointments/query/count", json=ALL)
        info = client.get("ThresholdInformation").json()
    assert info == {
        "externalRequestThreshold": 50,
        "requestThresholdTimeframe": 60,
        "currentTimeframeRequestCount": 5,
    }


def test_fourth_concurrent_request_per_endpoint_gets_thread_threshold_429(psa_server_factory):
    server = psa_server_factory(faults=FaultPlan(rate=1.0, kinds=("slow",), delay=1.0))
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: httpx.post(f"{server.base_url}Appointments/query", json=ALL,
                                                      headers=server.headers, timeout=10), range(4)))  # fmt: skip
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 200, 429]
    refused = next(a for a in answers if a.status_code == 429)
    assert "thread threshold of 3 threads" in refused.json()["errors"][0]
    assert refused.headers["Retry-After"]


def _statuses(server, n: int) -> list[str]:
    seen = []
    with server.client() as client:
        for _ in range(n):
            try:
                answer = client.post("Appointments/query/count", json=ALL)
                seen.append(answer.headers.get("x-calferry-fault", str(answer.status_code)))
            except httpx.TransportError:
                seen.append("dropped")
    return seen


def test_faults_are_reproducible_from_the_seed_and_near_the_rate(psa_server_factory):
    kinds = ("429", "500", "503", "drop")
    first = _statuses(psa_server_factory(faults=FaultPlan(rate=0.2, seed=7, kinds=kinds)), 120)
    second = _statuses(psa_server_factory(faults=FaultPlan(rate=0.2, seed=7, kinds=kinds)), 120)
    other = _statuses(psa_server_factory(faults=FaultPlan(rate=0.2, seed=8, kinds=kinds)), 120)
    assert first == second
    assert first != other
    faulted = sum(s != "200" for s in first)
    assert 10 <= faulted <= 40
    assert {"429", "500", "503", "dropped"} <= set(first)


def test_injected_429_carries_retry_after(psa_server_factory):
    server = psa_server_factory(faults=FaultPlan(rate=1.0, kinds=("429",), retry_after=1))
    with server.client() as client:
        answer = client.post("Appointments/query", json=ALL)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "1"
    assert answer.json()["errors"]


@pytest.mark.parametrize("kind", ["429", "500", "503", "drop"])
def test_faults_decided_before_handling_are_not_applied(psa_server_factory, kind):
    server = psa_server_factory(faults=FaultPlan(rate=1.0, kinds=(kind,)))
    before = _rows(server, "Appointments")
    with server.client() as client:
        try:
            answer = client.post("Appointments", json=APPOINTMENT | {"resourceID": _tech(server)})
            assert answer.status_code == int(kind)
        except httpx.TransportError:
            assert kind == "drop"
    assert _rows(server, "Appointments") == before


def test_lost_answer_applies_the_write_then_drops_the_connection(psa_server_factory):
    server = psa_server_factory(faults=FaultPlan(rate=1.0, kinds=("lost-answer",)))
    before = _rows(server, "Appointments")
    with server.client() as client, pytest.raises(httpx.TransportError):
        client.post("Appointments", json=APPOINTMENT | {"resourceID": _tech(server)})
    assert _rows(server, "Appointments") == before + 1


def test_lost_answer_is_only_drawn_for_writes(psa_server_factory):
    server = psa_server_factory(faults=FaultPlan(rate=1.0, kinds=("lost-answer",)))
    with server.client() as client:
        assert client.post("Appointments/query", json=ALL).status_code == 200


def test_slow_fault_still_applies_the_request(psa_server_factory):
    server = psa_server_factory(faults=FaultPlan(rate=1.0, kinds=("slow",), delay=0.05))
    before = _rows(server, "Appointments")
    with server.client() as client:
        answer = client.post("Appointments", json=APPOINTMENT | {"resourceID": _tech(server)})
    assert answer.status_code == 200
    assert _rows(server, "Appointments") == before + 1


def test_zone_information_is_exempt_from_faults_and_limits(psa_server_factory):
    server = psa_server_factory(hourly_limit=1, faults=FaultPlan(rate=1.0, kinds=("500",)))
    for _ in range(3):
        answer = httpx.get(f"{server.base_url}zoneInformation", params={"user": server.headers["UserName"]})
        assert answer.status_code == 200


def test_unknown_fault_kind_is_refused():
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultPlan(rate=0.1, kinds=("teapot",))
