"""Usage limits (hourly, 3 threads) and fault injection of the PSA server, both sides of the contract."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

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
    assert "Retry-After" not in refused.headers  # Autotask's thread refusal names no wait


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


def _probe(server) -> int:
    """An appointment written straight into the database: every request to a faulty server may fail."""
    table = TABLES["Appointments"]
    with server.state.engine.begin() as conn:
        key = conn.execute(
            table.insert().values(
                title="Fault probe",
                description="before",
                startDateTime=datetime(2030, 5, 1, 9),
                endDateTime=datetime(2030, 5, 1, 10),
                resourceID=_tech(server),
            )
        ).inserted_primary_key
    assert key is not None
    return int(key[0])


def _appointments(server) -> dict[int, tuple[str, str | None]]:
    """Every appointment's title and description, read in the database: no request, no fault."""
    table = TABLES["Appointments"]
    with server.state.engine.connect() as conn:
        rows = conn.execute(select(table.c.id, table.c.title, table.c.description))
        return {int(r.id): (r.title, r.description) for r in rows}


def _write(client: httpx.Client, server, verb: str, item_id: int) -> httpx.Response:
    """One write of ``verb``: a create, a PATCH of the title, a PUT without description, a DELETE."""
    full = APPOINTMENT | {"resourceID": _tech(server), "title": "Written"}
    if verb == "POST":
        return client.post("Appointments", json=full)
    if verb == "PATCH":
        return client.patch("Appointments", json={"id": item_id, "title": "Written"})
    if verb == "PUT":
        return client.put("Appointments", json=full | {"id": item_id})
    return client.delete(f"Appointments/{item_id}")


def _applied(verb: str, before: dict[int, tuple[str, str | None]], after: dict, item_id: int) -> bool:
    """Whether ``after`` is ``before`` with exactly the write of ``verb`` applied once."""
    if verb == "POST":
        new = [after[k] for k in after if k not in before]
        return new == [("Written", None)] and {k: after[k] for k in before} == before
    expected = dict(before)
    if verb == "DELETE":
        del expected[item_id]
    else:  # PATCH keeps the description, PUT nulls it (omitted in the body)
        expected[item_id] = ("Written", before[item_id][1] if verb == "PATCH" else None)
    return after == expected


VERBS = ["POST", "PATCH", "PUT", "DELETE"]


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("kind", ["429", "500", "503", "drop"])
def test_faults_decided_before_handling_are_not_applied(psa_server_factory, kind, verb):
    server = psa_server_factory(faults=FaultPlan(rate=1.0, kinds=(kind,)))
    item_id = _probe(server)
    before = _appointments(server)
    with server.client() as client:
        try:
            answer = _write(client, server, verb, item_id)
            assert answer.status_code == int(kind)
            assert answer.headers["x-calferry-fault"] == kind and answer.json()["errors"]
        except httpx.TransportError:
            assert kind == "drop"
    assert _appointments(server) == before


@pytest.mark.parametrize("verb", VERBS)
def test_lost_answer_applies_the_write_then_drops_the_connection(psa_server_factory, verb):
    server = psa_server_factory(faults=FaultPlan(rate=1.0, kinds=("lost-answer",)))
    item_id = _probe(server)
    before = _appointments(server)
    with server.client() as client, pytest.raises(httpx.TransportError):
        _write(client, server, verb, item_id)
    assert _applied(verb, before, _appointments(server), item_id)


def test_lost_answer_is_only_drawn_for_writes(psa_server_factory):
    server = psa_server_factory(faults=FaultPlan(rate=1.0, kinds=("lost-answer",)))
    with server.client() as client:
        assert client.post("Appointments/query", json=ALL).status_code == 200


def test_slow_fault_still_applies_the_request(psa_server_factory):
    server = psa_server_factory(faults=FaultPlan(rate=1.0, kinds=("slow",), delay=0.05))
    before = _rows(server, "Appointments")
    with server.client() as client:
        answer = client.post("Appointments", json=APPOINTMENT | {"resourceID": _tech(server)})
    assert answer.status_code == 200 and answer.headers["x-calferry-fault"] == "slow"
    assert _rows(server, "Appointments") == before + 1


def test_zone_information_is_exempt_from_faults_and_limits(psa_server_factory):
    server = psa_server_factory(hourly_limit=1, faults=FaultPlan(rate=1.0, kinds=("500",)))
    for _ in range(3):
        answer = httpx.get(f"{server.base_url}zoneInformation", params={"user": server.headers["UserName"]})
        assert answer.status_code == 200


def test_unknown_fault_kind_is_refused():
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultPlan(rate=0.1, kinds=("teapot",))
