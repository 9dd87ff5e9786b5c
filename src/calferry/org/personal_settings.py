"""The org settings that reach technicians' own calendars: the Graph app registration and the secret commands.

Pure checks, no I/O: what an admin types with ``calferry org settings set`` is refused here with a
clear reason, before it is stored. No secret is ever a setting: the Graph client secret comes from an
environment variable, a command the admin names (``graph_secret_command``) or the worker's OS keyring;
a certificate's private key stays in its file (``graph_certificate`` is its path); CalDAV passwords come
from ``caldav_secret_command``, run with the technician's e-mail address filled in for ``{email}``.
"""

from __future__ import annotations

import re
import shlex
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from calferry.errors import InputError

__all__ = ["EMAIL_FIELD", "GRAPH_URL", "PERSONAL_CHECKS"]

GRAPH_URL = "https://graph.microsoft.com/v1.0"
EMAIL_FIELD = "{email}"
"""Where ``caldav_secret_command`` takes the technician's e-mail address."""


_TENANT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?")


def _text(raw: Any, what: str) -> str:
    if not isinstance(raw, str):
        raise InputError(f"{what} must be text, not {raw!r}")
    if any(ord(c) < 32 for c in raw):
        raise InputError(f"{what} must be one line without control characters")
    return raw.strip()


def _tenant(raw: Any) -> str:
    value = _text(raw, "the Microsoft Entra tenant")
    if value and not _TENANT.fullmatch(value):
        raise InputError(
            f"{value!r} is not a tenant: give the directory (tenant) id or a domain such as contoso.onmicrosoft.com"
        )
    return value


def _client_id(raw: Any) -> str:
    value = _text(raw, "the application (client) id")
    if not value:
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InputError(
            f"{value!r} is not an application (client) id: it looks like 00000000-0000-0000-0000-000000000000"
        ) from None


def _command(what: str, *, with_email: bool = False) -> Callable[[Any], str]:
    def check(raw: Any) -> str:
        value = _text(raw, what)
        try:
            shlex.split(value)
        except ValueError as exc:
            raise InputError(f"{what} cannot be read as a command: {exc}") from None
        if with_email and value and EMAIL_FIELD not in value:
            raise InputError(
                f"{what} must contain {EMAIL_FIELD}, where each technician's e-mail address goes",
                hint="for example: pass show caldav/{email}",
            )
        return value

    return check


def _path(raw: Any) -> str:
    value = _text(raw, "the certificate's file")
    if value and not value.startswith("/"):
        raise InputError("the certificate's file must be a full path (every worker reads it from there)")
    return value


def _thumbprint(raw: Any) -> str:
    value = re.sub(r"[\s:]", "", _text(raw, "the certificate's thumbprint")).upper()
    if value and not re.fullmatch(r"[0-9A-F]{40}", value):
        raise InputError("the thumbprint is the 40 hex digits Microsoft Entra shows beside the certificate")
    return value


def _url(what: str) -> Callable[[Any], str]:
    def check(raw: Any) -> str:
        value = _text(raw, what).rstrip("/")
        parts = urlsplit(value)
        if value and (parts.scheme not in ("https", "http") or not parts.netloc):
            raise InputError(f"{what} must be an https:// address, not {value!r}")
        return value

    return check


PERSONAL_CHECKS: dict[str, Callable[[Any], str]] = {
    "graph_tenant": _tenant,
    "graph_client_id": _client_id,
    "graph_secret_command": _command("the Graph client secret's command"),
    "graph_certificate": _path,
    "graph_thumbprint": _thumbprint,
    "graph_url": _url("the Microsoft Graph address"),
    "graph_login_url": _url("the sign-in address"),
    "caldav_secret_command": _command("the CalDAV password's command", with_email=True),
}
