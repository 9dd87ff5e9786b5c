"""HTTPS on localhost for ``calferry web --https``: a local certificate authority and a localhost certificate.

Outlook loads add-in pages over HTTPS only, from a certificate the machine trusts. calferry makes its
own small CA once (the person trusts it once, see :func:`trust_instructions`) and from it a
certificate for ``localhost``, ``127.0.0.1`` and ``::1``. The CA is name-constrained to those names,
so trusting it cannot vouch for any other site, and its key never leaves CALFERRY_HOME. Both keys
are written readable by the owner only (0600).

The localhost certificate lives :data:`LEAF_DAYS` days and is renewed when fewer than
:data:`RENEW_BEFORE` remain (on every start, and daily while serving); the CA lives ten years and is
replaced, with a new trust step, in its last :data:`CA_RENEW_BEFORE`. Time comes from the caller.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
LEAF_DAYS = 90
RENEW_BEFORE = timedelta(days=30)
CA_RENEW_BEFORE = timedelta(days=90)
CHECK_EVERY = timedelta(days=1)
LOCAL_NAMES = ("localhost",)
LOCAL_IPS = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class TlsFiles:
    """Where the certificate files are, and what this call had to make."""

    certfile: Path
    keyfile: Path
    ca_file: Path
    ca_created: bool = False
    renewed: bool = False


def ensure_local_tls(directory: Path, now: datetime) -> TlsFiles:
    """The CA and localhost certificate in ``directory``, made or renewed as needed at ``now``."""
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "localhost.pem", directory / "localhost-key.pem", directory / "ca.pem")
    ca_key_file = directory / "ca-key.pem"
    ca = _load(files.ca_file, ca_key_file)
    ca_created = ca is None or _expires_within(ca[0], now, CA_RENEW_BEFORE)
    if ca is None or ca_created:
        ca = _new_ca(now)
        _write(files.ca_file, ca_key_file, *ca)
    leaf = _load(files.certfile, files.keyfile)
    if not ca_created and leaf is not None and _current(leaf[0], ca[0], now):
        return files
    _write(files.certfile, files.keyfile, *_new_leaf(ca, now))
    return TlsFiles(files.certfile, files.keyfile, files.ca_file, ca_created=ca_created, renewed=True)


def trust_instructions(ca_file: Path) -> str:
    """How to trust the CA once, on each system Outlook runs on (the person copies the file over)."""
    return "\n".join(
        [
            f"Outlook only loads calferry's add-in once this computer trusts calferry's certificate authority: {ca_file}",
            "Trust it once (on the computer where Outlook runs; copy the file there first):",
            f'  Windows:  certutil -user -addstore Root "{ca_file}"',
            f'  macOS:    security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db "{ca_file}"',
            f'  Linux:    sudo cp "{ca_file}" /usr/local/share/ca-certificates/calferry-local-ca.crt'
            " && sudo update-ca-certificates",
            f'            (Chrome, Chromium: certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n calferry -i "{ca_file}")',
            "It can only vouch for localhost: trusting it lets no other site pass as someone else.",
        ]
    )


def _current(leaf: x509.Certificate, ca: x509.Certificate, now: datetime) -> bool:
    """Issued by this CA and not yet inside its renewal period."""
    return leaf.issuer == ca.subject and not _expires_within(leaf, now, RENEW_BEFORE)


def _expires_within(cert: x509.Certificate, now: datetime, margin: timedelta) -> bool:
    return cert.not_valid_after_utc - now < margin or cert.not_valid_before_utc > now


def _load(cert_file: Path, key_file: Path) -> tuple[x509.Certificate, Key] | None:
    """A certificate and its key, or None when either is missing, unreadable or not the other's (an
    interrupted write): then both are made anew."""
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or cert.public_key() != key.public_key():
        return None
    return cert, key


def _write(cert_file: Path, key_file: Path, cert: x509.Certificate, key: Key) -> None:
    """The key first, created 0600 (never briefly readable by others), then the certificate."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    partial = key_file.with_suffix(".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.replace(partial, key_file)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _new_ca(now: datetime) -> tuple[x509.Certificate, Key]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"calferry local CA {secrets.token_hex(4)}")])
    permitted: list[x509.GeneralName] = [x509.DNSName(n) for n in LOCAL_NAMES]
    permitted += [x509.IPAddress(ipaddress.ip_network(ip)) for ip in LOCAL_IPS]
    cert = (
        _builder(name, name, key.public_key(), now, timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(
            x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _new_leaf(ca: tuple[x509.Certificate, Key], now: datetime) -> tuple[x509.Certificate, Key]:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in LOCAL_NAMES]
    names += [x509.IPAddress(ip) for ip in LOCAL_IPS]
    cert = (
        _builder(subject, ca_cert.subject, key.public_key(), now, timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime,
    life: timedelta,
) -> x509.CertificateBuilder:
    start = now - timedelta(hours=1)  # a clock slightly behind still accepts a fresh certificate
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + life)
    )


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


def keep_renewed(
    directory: Path,
    reload: Callable[[TlsFiles], None],
    clock: Callable[[], datetime],
    stop: threading.Event,
    every: timedelta = CHECK_EVERY,
) -> threading.Thread:
    """A daemon thread that checks the certificate ``every`` day while serving and hands a renewed one
    to ``reload``; it ends when ``stop`` is set."""

    def run() -> None:
        while not stop.wait(every.total_seconds()):
            files = ensure_local_tls(directory, clock())
            if files.renewed:
                reload(files)

    thread = threading.Thread(target=run, name="calferry-tls-renewal", daemon=True)
    thread.start()
    return thread
