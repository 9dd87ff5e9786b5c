"""Secrets live in the OS keyring, and nowhere else (R12).

Where no keyring backend exists (CI, servers) the PSA secret may come from the environment
variable ``CALFERRY_PSA_SECRET`` instead. Values never reach logs, messages or reprs.
"""

from __future__ import annotations

import os

import keyring
from keyring.errors import KeyringError, NoKeyringError, PasswordDeleteError

from calferry.errors import CredentialsMissing

SERVICE = "calferry"
PSA_SECRET_ENV = "CALFERRY_PSA_SECRET"

_NO_BACKEND_HINT = (
    f"no OS keyring is available here; set the environment variable {PSA_SECRET_ENV} instead, "
    "or install a keyring backend (e.g. gnome-keyring, or the keyrings.alt package)"
)


def store(name: str, value: str) -> None:
    """Keep ``value`` under ``name`` in the OS keyring."""
    try:
        keyring.set_password(SERVICE, name, value)
    except NoKeyringError as exc:
        raise CredentialsMissing("cannot store credentials", hint=_NO_BACKEND_HINT) from exc
    except KeyringError as exc:
        raise CredentialsMissing(
            f"the OS keyring refused to store credentials: {type(exc).__name__}"
        ) from exc


def load(name: str) -> str | None:
    """The value stored under ``name``, or None (also when no keyring backend exists)."""
    try:
        return keyring.get_password(SERVICE, name)
    except KeyringError:
        return None


def delete(name: str) -> bool:
    """Remove ``name`` from the keyring; False if nothing was stored."""
    try:
        keyring.delete_password(SERVICE, name)
    except (PasswordDeleteError, NoKeyringError):
        return False
    except KeyringError:
        return False
    return True


def psa_key(username: str) -> str:
    """The keyring entry name of the PSA API user's secret."""
    return f"psa:{username}"


def psa_secret(username: str) -> str:
    """The PSA API secret: from the keyring, else the environment, else a clear error."""
    stored = load(psa_key(username)) if username else None
    if stored:
        return stored
    from_env = os.environ.get(PSA_SECRET_ENV)
    if from_env:
        return from_env
    raise CredentialsMissing(
        f"no PSA secret stored for API user {username or '(psa.username not set)'}",
        hint=f"run `calferry login`, or set {PSA_SECRET_ENV}",
    )
