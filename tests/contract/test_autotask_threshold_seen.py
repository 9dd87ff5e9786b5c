"""B3 in the org service: a client that starts from a threshold look made elsewhere makes none of its own.

The org service looks at ThresholdInformation once a cycle and hands what it found to every technician
run's client (``threshold_seen``): no look per run, yet the pacing and warnings of B3 still hold.
"""

from __future__ import annotations

from typing import Any

from calferry.psa.query import gte
from tests.contract.test_autotask_client import make_client


def test_a_client_given_what_a_look_found_makes_no_look_of_its_own(psa_server_factory: Any) -> None:
    server = psa_server_factory(hourly_limit=20)
    waits: list[float] = []
    with make_client(server, threshold_seen=(0, 20), sleep=waits.append) as client:
        client.count("ActionTypes", gte("id", 0))
        client.count("ActionTypes", gte("id", 0))
    assert "GET ThresholdInformation" not in client.stats and client.stats["total"] == 2
    assert waits == [] and client.warnings == []


def test_what_the_look_found_paces_and_warns_as_the_clients_own_look_would(psa_server_factory: Any) -> None:
    server = psa_server_factory(hourly_limit=20)
    waits: list[float] = []
    with make_client(server, threshold_seen=(16, 20), pace_delays=(0.1, 0.5), sleep=waits.append) as client:
        client.count("ActionTypes", gte("id", 0))
    assert client.stats["total"] == 1  # the count only
    assert waits == [0.1]  # above 75 %: paced a little
    (warning,) = client.warnings
    assert "80%" in warning and "16 of 20" in warning
