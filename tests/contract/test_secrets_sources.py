"""Secrets are where we say they are: environment, then command, then a real OS keyring, then the file
the person asked for with ``login --store-file``; plaintext keyring backends are never used."""

from __future__ import annotations

import json
import shlex
import stat
import sys
import types
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backends import chainer
from keyrings.alt.file import PlaintextKeyring
from typer.testing import CliRunner

from calferry import config, paths, secrets
from calferry.cli import app
from calferry.errors import CredentialsMissing
from calferry.wiring import open_psa
from tests.conftest import MemoryKeyring

runner = CliRunner()
NORA = "tech.ny@demo.calferry.local"


@pytest.fixture
def configured(psa_server: Any) -> Any:
    headers = psa_server.headers
    config.write_settings(
        {"psa.base_url": psa_server.base_url, "psa.username": headers["UserName"],
         "psa.integration_code": headers["ApiIntegrationCode"], "psa.resource": NORA}
    )  # fmt: skip
    return psa_server


@pytest.fixture
def plaintext_keyring(tmp_path: Path) -> PlaintextKeyring:
    """What keyrings.alt makes the "OS keyring" on a machine without a desktop: a base64 file."""
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "python_keyring" / "keyring_pass.cfg")
    keyring.set_keyring(backend)
    return backend


def _login(*args: str, secret: str) -> Any:
    return runner.invoke(app, ["login", "--secret-stdin", *args], input=secret + "\n")


def _me(settings: config.Settings) -> str:
    psa = open_psa(settings)
    try:
        return psa.me().email
    finally:
        psa.close()


def test_a_plaintext_keyring_is_not_an_os_keyring(
    configured: Any, plaintext_keyring: PlaintextKeyring
) -> None:
    assert secrets.os_keyring() is None
    result = _login(secret=configured.headers["Secret"])
    assert result.exit_code == 4
    said = " ".join(result.output.split())
    assert "no OS keyring" in said and "--store-file" in said
    assert not Path(plaintext_keyring.file_path).exists()
    with pytest.raises(CredentialsMissing):
        secrets.store("psa:someone", "s3cret")
    assert not Path(plaintext_keyring.file_path).exists()


def test_store_file_keeps_the_secret_in_a_0600_file_and_says_it_is_unencrypted(
    configured: Any, plaintext_keyring: PlaintextKeyring
) -> None:
    secret = configured.headers["Secret"]
    result = _login("--store-file", "--json", secret=secret)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["stored"] == "file" and data["file"] == str(secrets.secrets_file())
    assert stat.S_IMODE(secrets.secrets_file().stat().st_mode) == 0o600
    assert secrets.secrets_file().parent == paths.home()
    human = _login("--store-file", secret=secret)
    assert "UNENCRYPTED" in " ".join(human.output.split()) and secret not in human.output
    assert not Path(plaintext_keyring.file_path).exists()
    assert _me(config.load_settings()) == NORA  # reused without asking


def test_a_real_keyring_is_taken_from_a_chain_that_also_holds_plaintext_files(
    plaintext_keyring: PlaintextKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = MemoryKeyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [plaintext_keyring, real])
    keyring.set_keyring(chainer.ChainerBackend())
    assert secrets.os_keyring() is real
    assert secrets.store("psa:x", "kept") == "keyring"
    assert real.entries == {("calferry", "psa:x"): "kept"}
    assert not Path(plaintext_keyring.file_path).exists()


def test_the_environment_wins_over_the_command_and_the_keyring(
    configured: Any, os_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    user = configured.headers["UserName"]
    secrets.store(secrets.psa_key(user), "stale-keyring-secret")
    script = _printing_script(tmp_path, "stale-command-secret")
    config.set_value("psa.secret_command", script)
    monkeypatch.setenv(secrets.PSA_SECRET_ENV, configured.headers["Secret"])
    assert secrets.psa_secret(user, script) == configured.headers["Secret"]
    assert _me(config.load_settings()) == NORA


def test_the_secret_command_wins_over_the_keyring_and_needs_no_login(
    configured: Any, os_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    user = configured.headers["UserName"]
    secrets.store(secrets.psa_key(user), "stale-keyring-secret")
    config.set_value("psa.secret_command", _printing_script(tmp_path, configured.headers["Secret"]))
    assert _me(config.load_settings()) == NORA
    assert secrets.psa_secret_source(user, config.load_settings().psa.secret_command) == "command"


def test_a_failing_secret_command_says_which_command_and_never_its_output(
    configured: Any, tmp_path: Path
) -> None:
    script = tmp_path / "locked-vault.py"
    script.write_text("print('leaked-text')\nraise SystemExit(3)\n", encoding="utf-8")
    config.set_value("psa.secret_command", f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}")
    with pytest.raises(CredentialsMissing) as caught:
        open_psa(config.load_settings())
    assert "locked-vault.py" in str(caught.value) and "exited with code 3" in str(caught.value)
    assert "leaked-text" not in str(caught.value)


def test_the_caldav_password_follows_the_same_order(
    os_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config.set_value("personal.username", "me")
    stored = runner.invoke(app, ["login", "--caldav", "--secret-stdin", "--json"], input="from-login\n")
    assert json.loads(stored.stdout)["stored"] == "keyring"
    assert secrets.caldav_password("me") == "from-login"
    assert secrets.caldav_password("me", _printing_script(tmp_path, "from-command")) == "from-command"
    monkeypatch.setenv(secrets.CALDAV_PASSWORD_ENV, "from-env")
    assert secrets.caldav_password("me", _printing_script(tmp_path, "from-command")) == "from-env"
    monkeypatch.delenv(secrets.CALDAV_PASSWORD_ENV)
    assert json.loads(runner.invoke(app, ["logout", "--caldav", "--json"]).stdout)["removed"] is True
    assert secrets.caldav_password("me") == ""


def _printing_script(folder: Path, secret: str) -> str:
    """A secret command as ``pass show x`` is one: prints the secret and a newline."""
    script = folder / f"print-{abs(hash(secret))}.py"
    script.write_text(f"print({secret!r})\n", encoding="utf-8")
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"


def test_without_a_keyring_outlook_sign_in_stops_before_asking_unless_a_file_was_chosen(
    no_keyring: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def sign_in(settings: Any, show: Any) -> str:
        asked.append("device code")
        secrets.store("graph-token-cache:t:c", '{"RefreshToken": {}}')  # as the Graph adapter keeps it
        return "me@example.com"

    fake = types.ModuleType("calferry.personal.graph")
    fake.sign_in = sign_in  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "calferry.personal.graph", fake)
    refused = runner.invoke(app, ["login", "--outlook"])
    assert refused.exit_code == 4 and asked == []
    chosen = runner.invoke(app, ["login", "--outlook", "--store-file", "--json"])
    assert chosen.exit_code == 0, chosen.output
    assert json.loads(secrets.secrets_file().read_text()) == {"graph-token-cache:t:c": '{"RefreshToken": {}}'}
    assert stat.S_IMODE(secrets.secrets_file().stat().st_mode) == 0o600


def test_login_says_when_the_environment_will_win_over_what_it_stored(
    configured: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(secrets.PSA_SECRET_ENV, configured.headers["Secret"])
    result = _login(secret=configured.headers["Secret"])
    assert result.exit_code == 0, result.output
    assert "CALFERRY_PSA_SECRET is set here, and wins" in " ".join(result.output.split())
