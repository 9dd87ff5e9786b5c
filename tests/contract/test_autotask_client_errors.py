"""Every error class provoked from the real ``calferry psa serve``; retries, faults and the thread limit."""

from __future__ import annotations

import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from calferry.errors import (
    CalferryError,
    NotFound,
    PermissionDenied,
    PsaAuthError,
    PsaRateLimited,
    PsaUnavailable,
    PsaValidationError,
)
from calferry.psa.autotask import REFUSED_RETRIES, AutotaskClient, RetryPolicy
from calferry.psa.query import eq, gte
from calferry.psa.server.faults import FaultPlan
from tests.contract.test_autotask_client import make_client, resource_id, seed_appointments


def _appointment(rid: int, title: str = "Check-up", hour: int = 9) -> dict[str, Any]:
    start = datetime(2032, 5, 3, hour, tzinfo=UTC)
    return {
        "title": title,
        "startDateTime": start,
        "endDateTime": start + timedelta(hours=1),
        "resourceID": rid,
    }


def test_r12_bad_secret_is_psa_auth_error_without_the_secret(psa_server: Any) -> None:
    with make_client(psa_server, secret="not-the-secret") as wrong, pytest.raises(PsaAuthError) as caught:
        wrong.verify()
    assert caught.value.status == 401
    assert "not-the-secret" not in str(caught.value)
    assert wrong.stats["total"] == 1  # a refusal of the credentials is not retried


def test_r33_todo_by_resource_without_crm_is_permission_denied(psa_server: Any) -> None:
    with make_client(psa_server) as admin:
        nocrm = resource_id(admin, "tech.nocrm")
        company = next(iter(admin.query("Companies", gte("id", 0))))["id"]
        before = admin.count("CompanyToDos", gte("id", 0))
    start = datetime(2032, 5, 4, 9, tzinfo=UTC)
    todo = {"companyID": company, "actionType": 3, "assignedToResourceID": nocrm, "startDateTime": start,
            "endDateTime": start + timedelta(minutes=30)}  # fmt: skip
    with (
        make_client(psa_server, impersonation_resource_id=nocrm) as acting,
        pytest.raises(PermissionDenied) as caught,
    ):
        acting.create("CompanyToDos", todo)
    assert caught.value.side == "psa"
    assert "adequate permissions" in str(caught.value)
    with make_client(psa_server) as admin:
        assert admin.count("CompanyToDos", gte("id", 0)) == before  # nothing half-made


def test_missing_id_is_not_found(psa_server: Any) -> None:
    with make_client(psa_server) as client, pytest.raises(NotFound) as caught:
        client.get("Appointments", 99_999_999)
    assert caught.value.side == "psa"


def test_over_long_field_is_validation_error_with_the_servers_words(psa_server: Any) -> None:
    with make_client(psa_server) as client:
        rid = resource_id(client, "tech.ny")
        with pytest.raises(PsaValidationError) as caught:
            client.create("Appointments", _appointment(rid, title="x" * 300))
    assert caught.value.messages and any("title" in m.lower() for m in caught.value.messages)


def test_missing_required_field_is_validation_error(psa_server: Any) -> None:
    with make_client(psa_server) as client, pytest.raises(PsaValidationError) as caught:
        client.create("Appointments", {"title": "no times"})
    assert any("startdatetime" in m.lower() or "required" in m.lower() for m in caught.value.messages)


def test_b3_hourly_limit_is_rate_limited_with_retry_after(psa_server_factory: Any) -> None:
    server = psa_server_factory(hourly_limit=3)
    with make_client(server) as client, pytest.raises(PsaRateLimited) as caught:
        for _ in range(5):
            client.count("ActionTypes", gte("id", 0))
    assert caught.value.retry_after is not None and caught.value.retry_after > 60
    assert client.stats["total"] == 4  # the hour's wait is not slept through


def test_a_refused_connection_is_retried_only_briefly_with_the_default_policy() -> None:
    """Nothing listening: two quick retries (a restarting server), then the error, not a minute of backoff."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    waits: list[float] = []
    client = AutotaskClient(
        f"http://127.0.0.1:{port}/atservicesrest/v1.0/", username="u", integration_code="c", secret="s",
        sleep=waits.append,
    )  # fmt: skip
    with client, pytest.raises(PsaUnavailable, match="connection refused"):
        client.count("ActionTypes", gte("id", 0))
    assert client.stats["POST ActionTypes/query/count"] == 1 + REFUSED_RETRIES
    assert len(waits) == REFUSED_RETRIES and sum(waits) < 2


def test_server_down_is_unavailable_after_bounded_retries() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = AutotaskClient(
        f"http://127.0.0.1:{port}/atservicesrest/v1.0/",
        username="u",
        integration_code="c",
        secret="s3cr3t",
        retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02),
    )
    with client, pytest.raises(PsaUnavailable) as caught:
        client.count("ActionTypes", gte("id", 0))
    # the first look at the hourly budget is tried once and skipped; the count is tried 3 times
    assert client.stats == {"GET ThresholdInformation": 1, "POST ActionTypes/query/count": 3, "total": 4}
    assert "s3cr3t" not in str(caught.value)
    assert not isinstance(caught.value.__cause__, type(None))


def test_b3_100_queries_under_20_percent_faults_are_complete_and_correct(psa_server_factory: Any) -> None:
    server = psa_server_factory(faults=FaultPlan(rate=0.2, seed=7, retry_after=1, delay=0.05))
    with make_client(server) as client:
        rid = seed_appointments(server, client, 520)
        expected = _ids_in_database(server, rid)
        for _ in range(100):
            got = sorted(r["id"] for r in client.query("Appointments", eq("resourceID", rid), ["id"]))
            assert got == expected
        assert len(expected) > 520  # the bulk rows and the demo ones: 2 pages
        assert client.stats["POST Appointments/query"] > 200  # 2 pages each, plus the retries


def test_b2_create_under_lost_answer_is_not_retried_and_raises(psa_server_factory: Any) -> None:
    server = psa_server_factory(faults=FaultPlan(rate=1.0, kinds=("lost-answer",)))
    with make_client(server) as client:
        rid = _resource_by_get(server, "tech.ny")
        with pytest.raises(PsaUnavailable):
            client.create("Appointments", _appointment(rid, title="Lost answer"))
        assert client.stats["POST Appointments"] == 1
    # The write was applied once: the engine will find it by fingerprint instead of creating a twin.
    search = '{"filter":[{"op":"eq","field":"title","value":"Lost answer"}]}'
    answer = httpx.get(
        server.base_url + "Appointments/query", params={"search": search}, headers=server.headers
    )
    assert len(answer.json()["items"]) == 1


def test_b3_a_create_answered_429_is_retried_after_retry_after_and_made_once(psa_server_factory: Any) -> None:
    faults = FaultPlan(rate=0.0, seed=3, kinds=("429",), retry_after=1)
    server = psa_server_factory(faults=faults)
    rid = _resource_by_get(server, "tech.ny")
    with make_client(server) as client:
        client.verify()  # the zone and the threshold look-up, before the faults start
        faults.rate = 0.5
        made = [client.create("Appointments", _appointment(rid, title=f"Busy server {n}")) for n in range(12)]
        faults.rate = 0.0
        assert client.stats["POST Appointments"] > 12  # some creates were refused with 429 and sent again
    assert len(set(made)) == 12
    for n in range(12):
        search = json.dumps({"filter": [{"op": "eq", "field": "title", "value": f"Busy server {n}"}]})
        answer = httpx.get(
            server.base_url + "Appointments/query", params={"search": search}, headers=server.headers
        )
        assert len(answer.json()["items"]) == 1  # a 429 is refused before handling: never a twin


@pytest.mark.parametrize("kind", ["500", "503", "drop"])
def test_b2_a_create_failing_in_a_way_that_may_hide_a_write_is_not_retried(
    psa_server_factory: Any, kind: str
) -> None:
    faults = FaultPlan(rate=0.0, kinds=(kind,))
    server = psa_server_factory(faults=faults)
    rid = _resource_by_get(server, "tech.ny")
    with make_client(server) as client:
        client.verify()
        faults.rate = 1.0
        with pytest.raises(CalferryError):
            client.create("Appointments", _appointment(rid, title="Not twice"))
        assert client.stats["POST Appointments"] == 1


def test_b3_at_most_3_requests_in_flight_per_endpoint(psa_server_factory: Any) -> None:
    server = psa_server_factory(faults=FaultPlan(rate=1.0, kinds=("slow",), delay=0.2))
    no_retry = RetryPolicy(attempts=1)
    with make_client(server, retry=no_retry) as client:
        peak = _Peak()
        with ThreadPoolExecutor(max_workers=12) as pool:
            results = list(
                pool.map(lambda _: peak.around(lambda: client.count("ActionTypes", gte("id", 0))), range(12))
            )
    assert all(r >= 5 for r in results)  # no 429 came back: it would have raised (no retries)
    assert client.stats["POST ActionTypes/query/count"] == 12
    assert peak.most > 3  # more than 3 callers at once, yet the server never saw a 4th request in flight


def test_b3_threshold_watch_warns_at_75_and_90_percent_and_paces_from_there(psa_server_factory: Any) -> None:
    server = psa_server_factory(hourly_limit=20)
    waits: list[float] = []
    with make_client(server, threshold_every=1, pace_delays=(0.1, 0.5), sleep=waits.append) as client:
        for _ in range(10):  # each count is preceded by a look at ThresholdInformation: 20 of the 20 allowed
            client.count("ActionTypes", gte("id", 0))
    first, second = client.warnings
    assert "75%" in first and "pacing requests a little" in first
    assert "95%" in second and "slowing down" in second
    assert client.stats["GET ThresholdInformation"] == 10
    # looks 1-7 see under 75 %; 8 (15 of 20) and 9 (17) pace a little; 10 (19 of 20) paces more
    assert waits == [0.1, 0.1, 0.5]


class _Peak:
    """How many callers were inside ``around`` at once (on the calling side of the client)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = 0
        self.most = 0

    def around(self, call: Any) -> Any:
        with self._lock:
            self._now += 1
            self.most = max(self.most, self._now)
        try:
            return call()
        finally:
            with self._lock:
                self._now -= 1


def _ids_in_database(server: Any, rid: int) -> list[int]:
    engine = create_engine(server.db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text('SELECT id FROM "Appointments" WHERE "resourceID" = :r'), {"r": rid})
            return sorted(int(row[0]) for row in rows)
    finally:
        engine.dispose()


def _resource_by_get(server: Any, who: str) -> int:
    search = f'{{"filter":[{{"op":"eq","field":"userName","value":"{who}@demo.calferry.local"}}]}}'
    answer = httpx.get(server.base_url + "Resources/query", params={"search": search}, headers=server.headers)
    return int(answer.json()["items"][0]["id"])
