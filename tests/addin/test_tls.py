"""HTTPS on localhost: calferry's own CA and localhost certificate, 0600 keys, renewal by the clock,
and ``calferry web --https`` serving the manifest and the pane over it."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from calferry.tls import (
    CA_DAYS,
    LEAF_DAYS,
    RENEW_BEFORE,
    TlsFiles,
    ensure_local_tls,
    keep_renewed,
    trust_instructions,
)
from tests.addin.schema import schema_errors

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CALFERRY = [sys.executable, "-c", "from calferry.cli import main; main()"]


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _verify(directory: Path, name: x509.GeneralName, at: datetime) -> None:
    """Path validation as a browser does it: the leaf, for ``name``, chains to the CA at ``at``."""
    store = Store([_cert(directory / "ca.pem")])
    verifier = PolicyBuilder().store(store).time(at).build_server_verifier(name)  # type: ignore[arg-type]
    verifier.verify(_cert(directory / "localhost.pem"), [])


def test_makes_a_ca_and_a_localhost_certificate_with_private_keys(tmp_path: Path) -> None:
    files = ensure_local_tls(tmp_path / "tls", NOW)
    assert files.ca_created and files.renewed
    for key in (files.keyfile, tmp_path / "tls" / "ca-key.pem"):
        assert key.stat().st_mode & 0o777 == 0o600
    import ipaddress

    _verify(tmp_path / "tls", x509.DNSName("localhost"), NOW)
    _verify(tmp_path / "tls", x509.IPAddress(ipaddress.ip_address("127.0.0.1")), NOW)
    with pytest.raises(VerificationError):
        _verify(tmp_path / "tls", x509.DNSName("outlook.office.com"), NOW)
    leaf = _cert(files.certfile)
    assert leaf.not_valid_after_utc == NOW + timedelta(days=LEAF_DAYS)


def test_the_ca_can_vouch_for_local_names_only(tmp_path: Path) -> None:
    files = ensure_local_tls(tmp_path, NOW)
    constraints = _cert(files.ca_file).extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    permitted = constraints.value.permitted_subtrees or []
    assert x509.DNSName("localhost") in permitted and len(permitted) == 3


def test_a_second_start_keeps_the_certificate(tmp_path: Path) -> None:
    first = ensure_local_tls(tmp_path, NOW)
    pem = first.certfile.read_bytes()
    again = ensure_local_tls(tmp_path, NOW + timedelta(days=LEAF_DAYS) - RENEW_BEFORE - timedelta(hours=1))
    assert not again.renewed and not again.ca_created
    assert again.certfile.read_bytes() == pem


def test_the_certificate_is_renewed_before_it_expires_and_the_ca_kept(tmp_path: Path) -> None:
    ensure_local_tls(tmp_path, NOW)
    ca_pem = (tmp_path / "ca.pem").read_bytes()
    later = NOW + timedelta(days=LEAF_DAYS) - RENEW_BEFORE + timedelta(hours=1)
    renewed = ensure_local_tls(tmp_path, later)
    assert renewed.renewed and not renewed.ca_created
    assert (tmp_path / "ca.pem").read_bytes() == ca_pem
    assert _cert(renewed.certfile).not_valid_after_utc == later + timedelta(days=LEAF_DAYS)
    _verify(tmp_path, x509.DNSName("localhost"), later + timedelta(days=LEAF_DAYS - 1))


def test_an_ageing_ca_is_replaced_and_asks_to_be_trusted_again(tmp_path: Path) -> None:
    first = ensure_local_tls(tmp_path, NOW)
    old_subject = _cert(first.ca_file).subject
    replaced = ensure_local_tls(tmp_path, NOW + timedelta(days=CA_DAYS - 30))
    assert replaced.ca_created and replaced.renewed
    assert _cert(replaced.ca_file).subject != old_subject
    assert _cert(replaced.certfile).issuer == _cert(replaced.ca_file).subject


@pytest.mark.parametrize("damage", ["garbage", "another key"])
def test_a_damaged_or_mismatched_key_file_is_replaced(tmp_path: Path, damage: str) -> None:
    files = ensure_local_tls(tmp_path, NOW)
    other = ensure_local_tls(tmp_path / "other", NOW).keyfile.read_text()
    files.keyfile.write_text("not a key" if damage == "garbage" else other)
    assert ensure_local_tls(tmp_path, NOW).renewed
    _verify(tmp_path, x509.DNSName("localhost"), NOW)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.certfile, files.keyfile)  # the pair a server loads belongs together


def test_trust_instructions_cover_windows_macos_and_linux(tmp_path: Path) -> None:
    text = trust_instructions(tmp_path / "ca.pem")
    for system in ("Windows:", "macOS:", "Linux:"):
        assert system in text
    assert text.count(str(tmp_path / "ca.pem")) >= 4


def test_web_https_serves_the_manifest_and_the_pane_over_tls(calferry_home: Path) -> None:
    process = subprocess.Popen(
        [*CALFERRY, "web", "--https", "--port", "0", "--json"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        started = json.loads("".join(iter(process.stdout.readline, "}\n")) + "}")
        url = started["url"]
        assert url.startswith("https://localhost:")
        assert started["ca"] == str(calferry_home / "tls" / "ca.pem") and started["ca_created"] is True
        trusted = ssl.create_default_context(cafile=started["ca"])
        with httpx.Client(verify=trusted, timeout=30) as client:
            manifest = client.get(started["manifest"])
            pane = client.get(f"{url}/addin/pane")
        assert manifest.status_code == 200 and schema_errors(manifest.text) == []
        assert f'DefaultValue="{url}/addin/pane"' in manifest.text
        assert pane.status_code == 200 and 'data-view="send"' in pane.text
        assert "frame-ancestors 'self' https://outlook.office.com" in pane.headers["content-security-policy"]
        assert "x-frame-options" not in pane.headers
        with pytest.raises(httpx.ConnectError):
            httpx.get(started["manifest"], timeout=30)  # the system's CAs do not know calferry's
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_running_server_gets_the_renewed_certificate_without_a_restart(tmp_path: Path) -> None:
    ensure_local_tls(tmp_path, NOW)
    later = NOW + timedelta(days=LEAF_DAYS) - RENEW_BEFORE + timedelta(days=1)
    handed: list[TlsFiles] = []
    got_one, stop = threading.Event(), threading.Event()

    def reload(files: TlsFiles) -> None:
        handed.append(files)
        got_one.set()

    thread = keep_renewed(tmp_path, reload, lambda: later, stop, every=timedelta(milliseconds=5))
    try:
        assert got_one.wait(30)
    finally:
        stop.set()
        thread.join(30)
    assert handed[0].renewed
    assert _cert(handed[0].certfile).not_valid_after_utc == later + timedelta(days=LEAF_DAYS)
    assert len(handed) == 1  # renewed once; the next checks find it current


def test_without_https_the_manifest_explains_why_not(calferry_home: Path) -> None:
    from tests.browser.conftest import start_server

    def no_service() -> Any:
        raise AssertionError("serving the manifest opens no service")

    live = start_server(no_service)
    try:
        answer = httpx.get(f"{live.base_url}/addin/manifest.xml", timeout=30)
    finally:
        live.stop()
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("Outlook loads add-ins over HTTPS only")
