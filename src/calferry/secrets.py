"""Secrets live where the person said, and nowhere else (R12).

A secret (the PSA API secret, the CalDAV password, the Outlook sign-in) is looked up in this order:

1. an environment variable (``CALFERRY_PSA_SECRET``, ``CALFERRY_CALDAV_PASSWORD``): it wins when set;
2. a command whose output is the secret (``psa.secret_command``, ``personal.password_command``), as
   vdirsyncer's ``password.fetch`` does: ``pass show autotask``, ``op read op://...``;
3. a real OS keyring (Secret Service, macOS Keychain, Windows Credential Locker);
4. ``secrets.json`` in ``CALFERRY_HOME`` (0600, unencrypted), only if the person asked for it with
   ``calferry login --store-file``.

Keyring backends that keep secrets in plain files (keyrings.alt's ``PlaintextKeyring``, a base64 file
shared by every home) or that only pretend (``fail``, ``null``, anything below priority 1) are never
used: :func:`os_keyring` sees past them. Values never reach logs, messages or reprs.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.errors import KeyringError, PasswordDeleteError

from calferry import paths
from calferry.errors import CredentialsMissing

SERVICE = "calferry"
PSA_SECRET_ENV = "CALFERRY_PSA_SECRET"
CALDAV_PASSWORD_ENV = "CALFERRY_CALDAV_PASSWORD"
SECRETS_FILE = "secrets.json"
COMMAND_TIMEOUT = 60.0

KEYRING, FILE, ENVIRONMENT, COMMAND = "keyring", "file", "environment", "command"
"""Where a secret came from (``login --json`` ``stored``, the web page's options)."""


# --- the OS keyring, only a real one -----------------------------------------------------------


def os_keyring() -> KeyringBackend | None:
    """The OS keyring backend to use, or None where only plaintext or no-op backends exist.

    keyring's chainer may mix a real backend with keyrings.alt's files: the best real one is taken.
    """
    chosen = keyring.get_keyring()
    candidates = chosen.backends if isinstance(chosen, chainer.ChainerBackend) else [chosen]
    return next((backend for backend in candidates if is_real_keyring(backend)), None)


def is_real_keyring(backend: KeyringBackend) -> bool:
    """A backend that keeps secrets encrypted by the OS: priority >= 1 and not keyrings.alt's files."""
    if isinstance(backend, chainer.ChainerBackend | fail.Keyring | null.Keyring):
        return False
    if type(backend).__module__.split(".")[0] == "keyrings":  # keyrings.alt: files, plain or weak
        return False
    try:
        return float(backend.priority) >= 1
    except Exception:  # a backend that cannot run here says so by raising from priority
        return False


# --- the file the person asked for -------------------------------------------------------------


def secrets_file() -> Path:
    return paths.home() / SECRETS_FILE


def _read_file() -> dict[str, str]:
    try:
        data = json.loads(secrets_file().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CredentialsMissing(f"cannot read {secrets_file()}: {type(exc).__name__}") from None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_file(entries: dict[str, str]) -> None:
    paths.write_private(secrets_file(), json.dumps(entries, indent=1, sort_keys=True))


# --- store, load, delete -----------------------------------------------------------------------


NO_KEYRING_HINT = (
    f"set {PSA_SECRET_ENV} (or {CALDAV_PASSWORD_ENV}), set psa.secret_command (or "
    "personal.password_command) to a command that prints it, or run `calferry login --store-file` "
    "to keep it unencrypted in a file only you can read"
)


def store(name: str, value: str, *, to_file: bool = False) -> str:
    """Keep ``value`` under ``name``; returns where (:data:`KEYRING` or :data:`FILE`).

    ``to_file`` writes the home's unencrypted file (``login --store-file``). Otherwise the OS keyring;
    without one, the file if the person chose it for this home before (a refreshed Outlook sign-in, the
    calendar's password), and else nothing: refused with the ways out.
    """
    backend = None if to_file else os_keyring()
    if backend is not None:
        try:
            backend.set_password(SERVICE, name, value)
        except KeyringError as exc:
            raise CredentialsMissing(
                f"the OS keyring refused to keep the secret: {type(exc).__name__}"
            ) from exc
        return KEYRING
    if not to_file and not secrets_file().exists():
        raise CredentialsMissing("there is no OS keyring here to keep this secret in", hint=NO_KEYRING_HINT)
    _write_file({**_read_file(), name: value})
    return FILE


def choose_file() -> None:
    """The person chose the home's file for secrets this machine has no keyring for (``--store-file``)."""
    if not secrets_file().exists():
        _write_file({})


def load(name: str) -> str | None:
    """The value stored under ``name`` in the OS keyring or the home's file, or None."""
    found = _stored(name)
    return found[0] if found else None


def stored_in(name: str) -> str | None:
    """Where ``name`` is stored (:data:`KEYRING`, :data:`FILE`), or None; never the value."""
    found = _stored(name)
    return found[1] if found else None


def _stored(name: str) -> tuple[str, str] | None:
    backend = os_keyring()
    if backend is not None:
        try:
            value = backend.get_password(SERVICE, name)
        except KeyringError:
            value = None
        if value is not None:
            return value, KEYRING
    value = _read_file().get(name)
    return (value, FILE) if value is not None else None


def delete(name: str) -> bool:
    """Remove ``name`` from the OS keyring and the home's file; False if nothing was stored."""
    removed = False
    backend = os_keyring()
    if backend is not None:
        try:
            backend.delete_password(SERVICE, name)
            removed = True
        except (PasswordDeleteError, KeyringError):
            pass
    entries = _read_file()
    if name in entries:
        del entries[name]
        _write_file(entries)
        removed = True
    return removed


# --- one secret, in the documented order -------------------------------------------------------


def source_of(name: str, env: str, command: str) -> str | None:
    """Where the secret ``name`` would come from, in the documented order; nothing is read or run."""
    if os.environ.get(env):
        return ENVIRONMENT
    if command.strip():
        return COMMAND
    return stored_in(name) if name else None


def resolve(name: str, env: str, command: str) -> str | None:
    """The secret from the environment, the command, the keyring or the file; None if none has it."""
    source = source_of(name, env, command)
    if source == ENVIRONMENT:
        return os.environ[env]
    if source == COMMAND:
        return run_command(command)
    return load(name) if source else None


def run_command(command: str, fill: Mapping[str, str] | None = None) -> str:
    """The first line a secret command prints; a failure names the command, never its output.

    ``fill`` replaces placeholders such as ``{email}`` inside each word after the command is split, and
    no shell runs it, so a filled-in value is always one argument, whatever characters it holds.
    """
    try:
        argv = command_words(command, fill)
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL
        )
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        raise CredentialsMissing(
            f"the secret command {command!r} did not run: {type(exc).__name__}"
        ) from None
    secret = done.stdout.splitlines()[0].strip() if done.stdout.strip() else ""
    if done.returncode != 0 or not secret:
        why = f"it exited with code {done.returncode}" if done.returncode else "it printed nothing"
        raise CredentialsMissing(f"the secret command {command!r} gave no secret: {why}")
    return secret


def command_words(command: str, fill: Mapping[str, str] | None = None) -> list[str]:
    """The words of a secret command, each placeholder of ``fill`` replaced inside its word (``ValueError``
    for unbalanced quotes)."""
    words = shlex.split(command)
    for placeholder, value in (fill or {}).items():
        words = [word.replace(placeholder, value) for word in words]
    return words


def psa_key(username: str) -> str:
    """The keyring entry name of the PSA API user's secret."""
    return f"psa:{username}"


def caldav_key(username: str) -> str:
    """The keyring entry name of a CalDAV password."""
    return f"caldav:{username}"


def psa_secret_source(username: str, command: str = "") -> str | None:
    """Where the PSA secret comes from (for the options page); never the secret."""
    return source_of(psa_key(username) if username else "", PSA_SECRET_ENV, command)


def psa_secret(username: str, command: str = "") -> str:
    """The PSA API secret in the documented order, else a clear error."""
    found = resolve(psa_key(username) if username else "", PSA_SECRET_ENV, command)
    if found is not None:
        return found
    raise CredentialsMissing(
        f"no PSA secret for API user {username or '(psa.username not set)'}",
        hint=f"run `calferry login`, set psa.secret_command, or set {PSA_SECRET_ENV}",
    )


def caldav_password(username: str, command: str = "") -> str:
    """The CalDAV password in the documented order; empty when there is none (a server without auth)."""
    return resolve(caldav_key(username), CALDAV_PASSWORD_ENV, command) or ""
