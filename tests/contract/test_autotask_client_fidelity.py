"""AutotaskClient against ``calferry psa serve`` answering as the real Autotask does (issue 16, items 13-19)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from calferry import config, secrets
from calferry.cli import app
from calferry.errors import PsaAuthError
from calferry.psa.autotask import RetryPolicy
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


def test_r12_login_with_a_wrong_integration_code_says_which_setting_to_fix(
    psa_server: Any, file_keyring: Any
) -> None:
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
