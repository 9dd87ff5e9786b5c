"""R12: ``calferry login`` / ``logout`` keep the PSA secret in the keyring; later commands reuse it."""

from __future__ import annotations

import json
import sys
import types
from typing import Any

import pytest
from typer.testing import CliRunner

from calferry import config, secrets
from calferry.cli import app
from calferry.errors import CredentialsMissing
from calferry.wiring import open_psa

runner = CliRunner()


@pytest.fixture
def configured(psa_server: Any) -> Any:
    headers = psa_server.headers
    config.write_settings(
        {"psa.base_url": psa_server.base_url, "psa.username": headers["UserName"],
         "psa.integration_code": headers["ApiIntegrationCode"], "psa.resource": "tech.ny@demo.calferry.local"}
    )  # fmt: skip
    return psa_server


def test_r12_login_checks_stores_and_later_commands_reuse_the_secret(configured: Any) -> None:
    secret = configured.headers["Secret"]
    result = runner.invoke(app, ["login", "--secret-stdin", "--json"], input=secret + "\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"signed_in": "psa", "username": configured.headers["UserName"],
                                         "stored": "keyring"}  # fmt: skip
    assert secret not in result.output
    assert secrets.load(secrets.psa_key(configured.headers["UserName"])) == secret
    psa = open_psa(config.load_settings())  # no prompt, no environment variable
    try:
        assert psa.me().email == "tech.ny@demo.calferry.local"
    finally:
        psa.close()


def test_r12_login_asks_with_a_hidden_prompt(configured: Any) -> None:
    secret = configured.headers["Secret"]
    result = runner.invoke(app, ["login"], input=secret + "\n")
    assert result.exit_code == 0, result.output
    assert "PSA API secret" in result.output and secret not in result.output
    assert secrets.load(secrets.psa_key(configured.headers["UserName"])) == secret


def test_r12_wrong_secret_is_a_clear_error_and_nothing_is_stored(configured: Any) -> None:
    result = runner.invoke(app, ["login", "--secret-stdin", "--json"], input="wrong-secret\n")
    assert result.exit_code == 9
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "PsaAuthError" and "nothing was stored" in error["message"]
    assert "wrong-secret" not in result.output
    assert secrets.load(secrets.psa_key(configured.headers["UserName"])) is None


def test_r12_logout_forgets_the_secret(configured: Any) -> None:
    runner.invoke(app, ["login", "--secret-stdin"], input=configured.headers["Secret"] + "\n")
    result = runner.invoke(app, ["logout", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["removed"] is True
    with pytest.raises(CredentialsMissing, match="calferry login"):
        open_psa(config.load_settings())
    again = runner.invoke(app, ["logout"])
    assert again.exit_code == 0 and "No PSA secret was stored" in again.output


def test_r12_without_a_keyring_login_names_the_environment_fallback(
    configured: Any, no_keyring: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runner.invoke(app, ["login", "--secret-stdin"], input=configured.headers["Secret"] + "\n")
    assert result.exit_code == 4 and "CALFERRY_PSA_SECRET" in result.output
    said = " ".join(result.output.split())
    assert "--store-file" in said and "nothing was stored" in said
    assert not secrets.secrets_file().exists()
    monkeypatch.setenv("CALFERRY_PSA_SECRET", configured.headers["Secret"])
    psa = open_psa(config.load_settings())
    try:
        assert psa.me().time_zone == "America/New_York"
    finally:
        psa.close()


def test_login_outlook_calls_the_graph_sign_in(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def sign_in(settings: Any, show: Any) -> str:
        show("Go to https://microsoft.com/devicelogin and enter ABCD-1234")
        calls.append("in")
        return "me@example.com"

    def sign_out(settings: Any) -> bool:
        calls.append("out")
        return True

    fake = types.ModuleType("calferry.personal.graph")
    fake.sign_in = sign_in  # type: ignore[attr-defined]
    fake.sign_out = sign_out  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "calferry.personal.graph", fake)
    result = runner.invoke(app, ["login", "--outlook", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"signed_in": "outlook", "account": "me@example.com"}
    assert "ABCD-1234" in result.stderr
    assert runner.invoke(app, ["logout", "--outlook"]).exit_code == 0
    assert calls == ["in", "out"]


def test_login_without_psa_username_says_what_to_set() -> None:
    result = runner.invoke(app, ["login", "--secret-stdin", "--json"], input="x\n")
    assert result.exit_code == 3
    assert "psa.username" in json.loads(result.stdout)["error"]["message"]
