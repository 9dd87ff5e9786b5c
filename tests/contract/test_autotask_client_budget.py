"""B3: the client's hourly budget (first look, pacing, warnings through the gateway) and Retry-After.

Every wait goes through the client's ``sleep``; these tests record the waits instead of sleeping.
"""

from __future__ import annotations

from typing import Any

import pytest

from calferry.errors import PsaRateLimited
from calferry.psa.autotask import AutotaskClient, RetryPolicy
from calferry.psa.gateway import AutotaskPsa
from calferry.psa.query import gte
from calferry.psa.server.faults import FaultPlan
from tests.contract.test_autotask_client import make_client

NY = "tech.ny@demo.calferry.local"


def _burn(server: Any, n: int) -> None:
    """Spend ``n`` requests of the server's hourly budget from another connection."""
    with server.client() as raw:
        for _ in range(n):
            assert raw.get("ThresholdInformation").status_code == 200


def test_b3_a_fresh_client_looks_at_the_budget_at_its_first_request(psa_server_factory: Any) -> None:
    server = psa_server_factory(hourly_limit=20)
    _burn(server, 15)
    waits: list[float] = []
    with make_client(server, pace_delays=(0.1, 0.5), sleep=waits.append) as client:  # every 100 / 60 s
        client.count("ActionTypes", gte("id", 0))
        client.count("ActionTypes", gte("id", 0))
    assert client.stats["GET ThresholdInformation"] == 1  # once, not per request
    (warning,) = client.warnings
    assert "80%" in warning and "16 of 20" in warning
    assert waits == [0.1, 0.1]  # above 75 %: every request paced a little


def test_b3_below_75_percent_nothing_is_paced_or_warned(psa_server_factory: Any) -> None:
    server = psa_server_factory(hourly_limit=100)
    waits: list[float] = []
    with make_client(server, threshold_every=1, sleep=waits.append) as client:
        for _ in range(5):
            client.count("ActionTypes", gte("id", 0))
    assert waits == [] and client.warnings == []


def test_b3_above_90_percent_every_request_is_paced_more(psa_server_factory: Any) -> None:
    server = psa_server_factory(hourly_limit=20)
    _burn(server, 18)
    waits: list[float] = []
    with make_client(server, pace_delays=(0.1, 0.5), sleep=waits.append) as client:
        client.count("ActionTypes", gte("id", 0))
    assert waits == [0.5]
    assert "95%" in client.warnings[0] and "slowing down" in client.warnings[0]


def test_b3_budget_warnings_reach_the_gateway(psa_server_factory: Any) -> None:
    server = psa_server_factory(hourly_limit=20)
    _burn(server, 15)
    client = make_client(server, sleep=lambda _: None)
    psa = AutotaskPsa(client, resource=NY)
    try:
        assert psa.warnings() == []  # nothing asked yet
        psa.me()
        assert psa.warnings() == client.warnings and "80%" in psa.warnings()[0]
        psa.warnings().clear()  # a copy: the caller cannot empty the client's list
        assert psa.warnings() == client.warnings != []
    finally:
        psa.close()


def _patch(client: AutotaskClient) -> None:
    client.update("Appointments", {"id": 1, "title": "Never applied"})


def _count(client: AutotaskClient) -> None:
    client.count("ActionTypes", gte("id", 0))


@pytest.mark.parametrize("call", [_count, _patch], ids=["read", "patch"])
@pytest.mark.parametrize(
    ("retry_after", "policy", "expected"),
    [
        (7, RetryPolicy(attempts=3), [7.0, 7.0]),  # waited exactly as the server said
        (60, RetryPolicy(attempts=3, max_delay=30.0), [30.0, 30.0]),  # capped at max_delay
        (300, RetryPolicy(attempts=3), []),  # past give_up_after: raised at once, no wait
    ],
    ids=["honoured", "capped", "given-up"],
)
def test_b3_retry_after_of_a_429_is_the_wait(
    psa_server_factory: Any, call: Any, retry_after: int, policy: RetryPolicy, expected: list[float]
) -> None:
    server = psa_server_factory(faults=FaultPlan(rate=1.0, kinds=("429",), retry_after=retry_after))
    waits: list[float] = []
    with (
        make_client(server, retry=policy, sleep=waits.append) as client,
        pytest.raises(PsaRateLimited) as caught,
    ):
        call(client)
    assert caught.value.retry_after == retry_after
    assert waits == expected
