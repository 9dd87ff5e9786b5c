"""AutotaskClient against ``calferry psa serve`` answering as the real Autotask does (issue 16, items 13-19)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from calferry import config, secrets
from calferry.cli import app
from calferry.errors import PsaAuthError
from tests.contract.test_autotask_client import make_client

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
