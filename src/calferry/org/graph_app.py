"""The org's Microsoft Graph application: its client credentials (a secret or a certificate) and its tokens.

The org service reaches every Outlook technician's mailbox as one application with the application
permission Calendars.ReadWrite (client-credentials flow, msal's ``ConfidentialClientApplication``),
never as the technician. Which app, in which tenant, comes from the org settings
(:mod:`calferry.org.personal_settings`); the credential from where secrets always come from:

- a certificate (``graph_certificate``: the path of a PEM file with the private key, and the
  certificate itself or ``graph_thumbprint``), the kind Microsoft recommends;
- else a client secret: ``CALFERRY_GRAPH_CLIENT_SECRET``, else the output of ``graph_secret_command``,
  else this worker's OS keyring (entry ``graph-app:{tenant}:{client id}``). Never the org database.

One msal application per worker process and credential keeps its token in memory and asks Microsoft
Entra for a new one only when it is within 5 minutes of expiring (msal's rule), so a cycle of a
thousand mailboxes costs one token request an hour, not one per technician. When Entra refuses the
credential the worker holds, it is read again and tried once more at once, so a rotated secret or
certificate is taken without restarting workers and without a failed run.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msal

from calferry import secrets
from calferry.errors import ConfigError, CredentialsMissing, PersonalUnavailable
from calferry.org.store import OrgSettings
from calferry.personal.graph_auth import DEFAULT_LOGIN_URL

__all__ = [
    "SCOPE", "SECRET_ENV", "AppTokens", "GraphApp", "app_tokens", "keep_secret", "secret_name", "secret_shadowed",
]  # fmt: skip

SCOPE = ("https://graph.microsoft.com/.default",)
"""Client credentials ask for the app's granted application permissions as a whole."""
SECRET_ENV = "CALFERRY_GRAPH_CLIENT_SECRET"
_CERTIFICATE = "-----BEGIN CERTIFICATE-----"
_HINT = "see docs/org-outlook.md: the app registration and what each worker needs"

Credential = str | dict[str, str]


@dataclass(frozen=True)
class GraphApp:
    """Which app registration, in which tenant, with which credential (never the secret itself)."""

    tenant: str
    client_id: str
    secret_command: str = ""
    certificate: str = ""
    thumbprint: str = ""
    login_url: str = ""

    @classmethod
    def of(cls, org: OrgSettings) -> GraphApp:
        if not org.graph_tenant or not org.graph_client_id:
            raise ConfigError(
                "the org's Microsoft Graph app is not set up (its tenant and application id)",
                hint="calferry org settings set graph_tenant <tenant id>; calferry org settings set "
                "graph_client_id <application id>; " + _HINT,
            )
        return cls(
            org.graph_tenant, org.graph_client_id, org.graph_secret_command, org.graph_certificate,
            org.graph_thumbprint, org.graph_login_url,
        )  # fmt: skip

    @property
    def authority(self) -> str:
        return f"{(self.login_url or DEFAULT_LOGIN_URL).rstrip('/')}/{self.tenant}"


def secret_name(app: GraphApp) -> str:
    """The OS keyring entry of the app's client secret on a worker."""
    return f"graph-app:{app.tenant}:{app.client_id}"


def credential(app: GraphApp) -> Credential:
    """The certificate (private key with the certificate or its thumbprint), else the client secret."""
    if app.certificate:
        return _certificate(app)
    found = secrets.resolve(secret_name(app), SECRET_ENV, app.secret_command)
    if found is None:
        raise CredentialsMissing(
            "no credential for the org's Microsoft Graph app on this worker",
            hint=f"set graph_certificate (recommended), graph_secret_command, or {SECRET_ENV}; " + _HINT,
        )
    return found


def _certificate(app: GraphApp) -> dict[str, str]:
    try:
        pem = Path(app.certificate).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read the Graph app's certificate file {app.certificate}: {type(exc).__name__}",
            hint="every worker needs that file, readable by the user it runs as",
        ) from None
    if "PRIVATE KEY-----" not in pem:
        raise ConfigError(f"{app.certificate} holds no private key", hint=_HINT)
    if _CERTIFICATE in pem:  # msal signs with the certificate's SHA-256 thumbprint (PS256)
        return {"private_key": pem, "public_certificate": pem[pem.index(_CERTIFICATE) :]}
    if app.thumbprint:
        return {"private_key": pem, "thumbprint": app.thumbprint}
    raise ConfigError(
        f"{app.certificate} holds the private key only: add the certificate to the file, or set graph_thumbprint",
        hint=_HINT,
    )


def _confidential(app: GraphApp, given: Credential | None = None) -> msal.ConfidentialClientApplication:
    """msal's application with ``given`` or the app's own credential; another sign-in host than
    Microsoft's (a test's) is taken as it is."""
    try:
        return msal.ConfidentialClientApplication(
            app.client_id,
            client_credential=credential(app) if given is None else given,
            authority=app.authority,
            instance_discovery=None if not app.login_url else False,
        )
    except ValueError as exc:
        raise ConfigError(f"Microsoft Entra cannot use the org's app settings: {exc}", hint=_HINT) from exc
    except (ConfigError, CredentialsMissing):
        raise
    except Exception as exc:  # msal lets requests' errors through
        raise PersonalUnavailable(f"cannot reach Microsoft Entra: {type(exc).__name__}") from exc


class AppTokens:
    """A token provider (a callable giving a bearer token) for the org's app; thread-safe."""

    def __init__(self, app: GraphApp, make: Callable[[GraphApp], Any] = _confidential) -> None:
        self._app, self._make = app, make
        self._msal: Any = None
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            fresh = self._msal is None
            result = self._acquire()
            if "access_token" not in result and not fresh:
                self._msal = None  # the credential read again: it may have been rotated since
                result = self._acquire()
            if "access_token" in result:
                return str(result["access_token"])
            self._msal = None
        reason = str(result.get("error_description") or result.get("error") or "no reason given")
        raise CredentialsMissing(
            f"Microsoft Entra refused the org's Graph app ({reason.splitlines()[0]})", hint=_HINT
        )

    def _acquire(self) -> dict[str, Any]:
        """msal's answer: the token it keeps while it is more than 5 minutes from its end, else a new one."""
        if self._msal is None:
            self._msal = self._make(self._app)
        try:
            return dict(self._msal.acquire_token_for_client(scopes=list(SCOPE)))
        except Exception as exc:  # requests' errors
            raise PersonalUnavailable(f"cannot reach Microsoft Entra: {type(exc).__name__}") from exc


def keep_secret(app: GraphApp, secret: str) -> str:
    """``calferry org graph-secret``: the client secret, once Microsoft Entra accepts it, kept in this
    machine's OS keyring (:data:`calferry.secrets.KEYRING`; the file only where its owner chose one)."""
    AppTokens(app, lambda a: _confidential(a, secret))()
    return secrets.store(secret_name(app), secret)


def secret_shadowed(app: GraphApp) -> str:
    """What a worker here takes before the keyring's secret, in words; empty when nothing."""
    if app.certificate:
        return "the certificate graph_certificate names"
    if os.environ.get(SECRET_ENV):
        return f"the secret in {SECRET_ENV}"
    if app.secret_command:
        return "the secret graph_secret_command prints"
    return ""


_TOKENS: dict[GraphApp, AppTokens] = {}
_TOKENS_LOCK = threading.Lock()


def app_tokens(app: GraphApp) -> AppTokens:
    """This worker's token provider for ``app``: one per process, so its token is shared by every job."""
    with _TOKENS_LOCK:
        return _TOKENS.setdefault(app, AppTokens(app))
