"""AutotaskClient against ``calferry psa serve`` answering as the real Autotask does (issue 16, items 13-19)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from calferry import config, secrets
from calferry.cli import app
from calferry.errors import PsaAuthError
from calferry.psa.autotask import AutotaskClient, RetryPolicy, _save_zone, cached_zone
from calferry.psa.query import gte
from calferry.psa.server.faults import FaultPlan
from calferry.psa.threads import LocalThreadGate
from tests.contract.test_autotask_client import make_client, resource_id

runner = CliRunner()


@pytest.mark.parametrize(
    ("wrong", "config_key"),
    [("integration_code", "psa.integration_code"), ("username", "psa.username")],
)
def test_r12_a_wrong_code_or_user_name_is_a_credentials_error_at_once(
    psa_server: Any, wrong: str, config_key: str
) -> None:
    with make_client(psa_server, **{wrong: "SOMEONEELSE0000000000000000"}) as client:
        with pytest.raises(PsaAuthError) as caught:
            client.verify()
        assert client.stats["total"] == 1  # Autotask's 500 here is an answer, not a failure to retry
    assert caught.value.status == 500
    assert config_key in (caught.value.hint or "")


def test_r12_a_wrong_secret_is_still_401_and_says_log_in_again(psa_server: Any) -> None:
    with make_client(psa_server, secret="wrong") as client, pytest.raises(PsaAuthError) as caught:
        client.verify()
    assert caught.value.status == 401 and "calferry login" in (caught.value.hint or "")


def test_r12_login_with_a_wrong_integration_code_says_which_setting_to_fix(psa_server: Any) -> None:
    headers = psa_server.headers
    config.write_settings(
        {"psa.base_url": psa_server.base_url, "psa.username": headers["UserName"],
         "psa.integration_code": "SOMEONEELSE0000000000000000"}
    )  # fmt: skip
    result = runner.invoke(app, ["login", "--secret-stdin", "--json"], input=headers["Secret"] + "\n")
    assert result.exit_code == 9
    error = json.loads(result.stdout)["error"]
    assert "integration code" in error["message"] and "nothing was stored" in error["message"]
    assert "psa.integration_code" in error["message"]
    assert secrets.load(secrets.psa_key(headers["UserName"])) is None


def test_b3_clients_sharing_one_gate_stay_within_the_3_threads_of_their_integration_code(
    psa_server_factory: Any,
) -> None:
    server = psa_server_factory(
        faults=FaultPlan(rate=1.0, kinds=("slow",), delay=0.1), thread_refusal_status=500
    )
    gate = LocalThreadGate()
    one, two = (make_client(server, retry=RetryPolicy(attempts=1), gate=gate) for _ in range(2))
    with one, two, ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(lambda i: (one, two)[i % 2].count("ActionTypes", gte("id", 0)), range(8)))
    assert all(c >= 5 for c in counts)  # no thread refusal came back: it would have raised (no retries)
    assert one.stats["POST ActionTypes/query/count"] + two.stats["POST ActionTypes/query/count"] == 8


def test_b3_a_thread_refusal_without_429_is_waited_out_even_by_a_create(psa_server_factory: Any) -> None:
    server = psa_server_factory(
        faults=FaultPlan(rate=1.0, kinds=("slow",), delay=0.3), thread_refusal_status=500
    )
    patient = RetryPolicy(attempts=12, base_delay=0.05, max_delay=0.2)
    one, two = (make_client(server, retry=patient) for _ in range(2))  # two processes: a gate each
    with one, two:
        rid = resource_id(one, "tech.ny")
        start = datetime(2032, 5, 3, 9, tzinfo=UTC)

        def create(i: int) -> int:
            row = {"title": f"Visit {i}", "resourceID": rid, "startDateTime": start,
                   "endDateTime": start + timedelta(hours=1)}  # fmt: skip
            return (one, two)[i % 2].create("Appointments", row)

        with ThreadPoolExecutor(max_workers=6) as pool:
            made = list(pool.map(create, range(6)))
        titles = [one.get("Appointments", item_id)["title"] for item_id in made]
        sent = one.stats["POST Appointments"] + two.stats["POST Appointments"]
    assert sorted(titles) == [f"Visit {i}" for i in range(6)]  # each made exactly once
    assert sent > 6  # some were refused by the thread limit (a 500 without Retry-After) and sent again


def _zone_root(server: Any) -> str:
    return server.base_url.rstrip("/").rsplit("/", 1)[0] + "/v1.0/"


def _credentials(server: Any) -> dict[str, str]:
    headers = server.headers
    return {"username": headers["UserName"], "integration_code": headers["ApiIntegrationCode"],
            "secret": headers["Secret"]}  # fmt: skip


HOUR = 3600.0


@pytest.mark.parametrize(("age_hours", "expect_cached"), [(11.5, True), (12.5, False)])
def test_the_zone_cache_expires_after_12_hours(
    psa_server: Any, age_hours: float, expect_cached: bool
) -> None:
    user, root = psa_server.headers["UserName"], _zone_root(psa_server)
    stale = "http://127.0.0.1:9/atservicesrest/V1.0/"
    _save_zone(user, root, stale, 1_000_000.0)
    later = 1_000_000.0 + age_hours * HOUR
    with AutotaskClient.from_zone(
        user, zone_url=root, clock=lambda: later, **_credentials(psa_server)
    ) as client:
        assert (client.base_url == stale) is expect_cached
        if not expect_cached:
            assert client.count("ActionTypes", gte("id", 0)) >= 5
    assert cached_zone(user, root, later) == client.base_url


def test_a_zone_answering_404_is_looked_up_again_and_followed(psa_server: Any) -> None:
    user, root = psa_server.headers["UserName"], _zone_root(psa_server)
    moved_away = psa_server.base_url.replace("/atservicesrest/", "/old-zone/atservicesrest/")
    _save_zone(user, root, moved_away, time.time())
    with AutotaskClient.from_zone(user, zone_url=root, **_credentials(psa_server)) as client:
        assert client.base_url == moved_away
        assert client.count("ActionTypes", gte("id", 0)) >= 5
        assert client.base_url.lower() == psa_server.base_url.lower()
    assert cached_zone(user, root, time.time()) == client.base_url


def test_a_zone_refusing_the_credentials_is_looked_up_again_once(
    psa_server: Any, psa_server_factory: Any
) -> None:
    old_zone = psa_server_factory(
        seed=None, secret="another-tenants-secret"
    )  # knows the user, not the secret
    user, root = psa_server.headers["UserName"], _zone_root(psa_server)
    _save_zone(user, root, old_zone.base_url, time.time())
    with AutotaskClient.from_zone(user, zone_url=root, **_credentials(psa_server)) as client:
        assert client.count("ActionTypes", gte("id", 0)) >= 5  # refused at the old zone, then followed
        assert client.base_url.lower() == psa_server.base_url.lower()
    _save_zone(user, root, old_zone.base_url, time.time())
    with make_client(psa_server, secret="wrong") as wrong, pytest.raises(PsaAuthError):
        wrong.verify()  # a wrong secret in the right zone stays a credentials error
    zoned = AutotaskClient.from_zone(user, zone_url=root, **(_credentials(psa_server) | {"secret": "wrong"}))
    with zoned, pytest.raises(PsaAuthError):
        zoned.verify()  # looked up again once (the zone moved), then refused there too: no loop
    assert zoned.base_url.lower() == psa_server.base_url.lower()
