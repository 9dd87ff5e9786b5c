"""The org's Graph application signs in with client credentials (msal) against the Entra stand-in.

A client secret (environment, the admin's command), a certificate (PEM with the certificate: PS256 and
the SHA-256 thumbprint; the key alone with the SHA-1 thumbprint: RS256), the token kept in memory until
it nears its end, a refused credential read again after rotation, and the settings refused with reasons.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from calferry.cli import app as cli
from calferry.errors import ConfigError, CredentialsMissing, InputError
from calferry.org.graph_app import SECRET_ENV, AppTokens, GraphApp, secret_name
from calferry.org.store import OrgSettings, OrgStore
from tests.conftest import MemoryKeyring
from tests.fixtures.entra_standin import EntraStandin
from tests.graph_standin.entra import DaemonApp, app_claims

CLIENT = str(uuid.UUID(int=0xA11))
TENANT = "contoso.onmicrosoft.com"


def _certificate(directory: Path, name: str) -> tuple[x509.Certificate, bytes]:
    """A self-signed certificate as `openssl req -x509 -newkey rsa:2048` makes one, and its key's PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert, pem


def _app(entra_standin: EntraStandin, **settings: str) -> GraphApp:
    org = OrgSettings(graph_tenant=TENANT, graph_client_id=CLIENT, graph_login_url=entra_standin.url)
    for key, value in settings.items():
        org = org.with_value(key, value)
    return GraphApp.of(org)


def test_a_client_secret_from_the_environment_gives_an_app_token_kept_until_it_nears_its_end(
    entra_standin: EntraStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered = entra_standin.entra.apps[CLIENT] = DaemonApp(CLIENT, secret="s3cret~value")
    monkeypatch.setenv(SECRET_ENV, "s3cret~value")
    tokens = AppTokens(_app(entra_standin))
    first = tokens()
    claims = app_claims(first)
    assert claims is not None and claims["roles"] == ["Calendars.ReadWrite"] and claims["appid"] == CLIENT
    assert tokens() == first and entra_standin.entra.grants == ["client_credentials"]  # kept in memory

    registered.expires_in = 240  # within msal's 5 minutes of the end: asked for anew every time
    short = AppTokens(_app(entra_standin))
    assert short() != short()
    assert entra_standin.entra.grants.count("client_credentials") == 3


def test_the_admins_command_gives_the_secret_and_a_rotated_secret_is_taken_without_a_restart(
    entra_standin: EntraStandin, tmp_path: Path
) -> None:
    registered = entra_standin.entra.apps[CLIENT] = DaemonApp(CLIENT, secret="new-secret", expires_in=240)
    secret_file = tmp_path / "graph-secret"
    secret_file.write_text("old-secret\n")
    command = f"{sys.executable} -c \"print(open('{secret_file}').read())\""
    tokens = AppTokens(_app(entra_standin, graph_secret_command=command))
    with pytest.raises(CredentialsMissing) as refused:
        tokens()
    assert "AADSTS7000215" in str(refused.value) and "old-secret" not in str(refused.value)
    secret_file.write_text("new-secret\n")  # the admin puts the right secret where the command reads it
    assert app_claims(tokens()) is not None
    assert len(registered.app_tokens) == 1

    registered.secret = "newer-secret"  # rotated in Entra and where the command reads it
    secret_file.write_text("newer-secret\n")
    assert app_claims(tokens()) is not None  # short-lived tokens: asked anew, refused, read again, taken
    assert len(registered.app_tokens) == 2 and entra_standin.entra.grants.count("client_credentials") == 4


def test_a_certificate_with_its_key_signs_the_assertion_and_an_unregistered_one_is_refused(
    entra_standin: EntraStandin, tmp_path: Path
) -> None:
    cert, key = _certificate(tmp_path, "calferry org")
    both = tmp_path / "graph-app.pem"
    both.write_bytes(key + cert.public_bytes(serialization.Encoding.PEM))
    registered = entra_standin.entra.apps[CLIENT] = DaemonApp(CLIENT)  # no secret at all
    with pytest.raises(CredentialsMissing, match="AADSTS700027"):
        AppTokens(_app(entra_standin, graph_certificate=str(both)))()
    registered.certificates.append(cert)  # uploaded to the app registration
    assert app_claims(AppTokens(_app(entra_standin, graph_certificate=str(both)))()) is not None

    key_only = tmp_path / "graph-key.pem"
    key_only.write_bytes(key)
    with pytest.raises(ConfigError, match="private key only"):
        AppTokens(_app(entra_standin, graph_certificate=str(key_only)))()
    thumbprint = cert.fingerprint(hashes.SHA1()).hex(":")  # as some tools print it
    app = _app(entra_standin, graph_certificate=str(key_only), graph_thumbprint=thumbprint)
    assert app_claims(AppTokens(app)()) is not None
    assert len(registered.app_tokens) == 2


def test_missing_and_unreadable_credentials_say_what_to_do(
    entra_standin: EntraStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    entra_standin.entra.apps[CLIENT] = DaemonApp(CLIENT, secret="x")
    with pytest.raises(CredentialsMissing, match="no credential for the org's Microsoft Graph app"):
        AppTokens(_app(entra_standin))()
    with pytest.raises(ConfigError, match="cannot read the Graph app's certificate file"):
        AppTokens(_app(entra_standin, graph_certificate="/nonexistent/graph.pem"))()
    with pytest.raises(ConfigError, match="not set up"):
        GraphApp.of(OrgSettings())


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("graph_tenant", "contoso/../evil", "not a tenant"),
        ("graph_client_id", "my-app", "not an application"),
        ("graph_certificate", "graph.pem", "full path"),
        ("graph_thumbprint", "12:34", "40 hex digits"),
        ("graph_url", "ftp://graph", "https://"),
        ("caldav_secret_command", "pass show caldav/nora", "{email}"),
        ("caldav_secret_command", "pass show 'caldav/{email}", "cannot be read as a command"),
        ("graph_secret_command", "op read\nrm -rf /", "one line"),
    ],
)
def test_bad_personal_settings_are_refused_with_a_reason(key: str, value: str, why: str) -> None:
    with pytest.raises(InputError, match=why.replace("{", r"\{")):
        OrgSettings().with_value(key, value)


def test_good_personal_settings_are_kept_in_their_usual_form() -> None:
    org = OrgSettings().with_value("graph_client_id", CLIENT.upper())
    org = org.with_value("graph_thumbprint", "aa:11:bb:22:cc:33:dd:44:ee:55:ff:66:aa:77:bb:88:cc:99:dd:00")
    org = org.with_value("caldav_secret_command", "pass show caldav/{email}")
    assert (
        org.graph_client_id == CLIENT and org.graph_thumbprint == "AA11BB22CC33DD44EE55FF66AA77BB88CC99DD00"
    )
    assert org.to_json()["caldav_secret_command"] == "pass show caldav/{email}"


@pytest.mark.postgres
def test_the_admin_keeps_the_secret_in_this_machines_keyring_once_entra_accepts_it(
    entra_standin: EntraStandin, org_db_url: str, os_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    monkeypatch.setenv("CALFERRY_ORG_DB", org_db_url)
    entra_standin.entra.apps[CLIENT] = DaemonApp(CLIENT, secret="the-value")
    store = OrgStore.open(org_db_url)
    for key, value in (
        ("graph_tenant", TENANT),
        ("graph_client_id", CLIENT),
        ("graph_login_url", entra_standin.url),
    ):
        store.set_setting(key, value)
    app = GraphApp.of(store.settings())
    store.close()

    refused = CliRunner().invoke(
        cli, ["org", "graph-secret", "--secret-stdin", "--json"], input="the-secret-id\n"
    )
    assert refused.exit_code != 0 and "AADSTS7000215" in refused.stdout and os_keyring.entries == {}
    kept = CliRunner().invoke(cli, ["org", "graph-secret", "--secret-stdin", "--json"], input="the-value\n")
    assert kept.exit_code == 0 and json.loads(kept.stdout) == {"stored": "keyring", "used_instead": None}
    assert os_keyring.entries == {("calferry", secret_name(app)): "the-value"}
    assert app_claims(AppTokens(app)()) is not None  # a worker here takes it from the keyring


@pytest.mark.postgres
def test_without_an_os_keyring_the_secret_is_not_asked_for(
    entra_standin: EntraStandin, org_db_url: str, no_keyring: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALFERRY_ORG_DB", org_db_url)
    store = OrgStore.open(org_db_url)
    store.set_setting("graph_tenant", TENANT)
    store.set_setting("graph_client_id", CLIENT)
    store.close()
    result = CliRunner().invoke(cli, ["org", "graph-secret", "--secret-stdin", "--json"], input="x\n")
    assert result.exit_code != 0 and "no OS keyring" in result.stdout
    assert entra_standin.entra.grants == []
