"""A stand-in for Microsoft Entra's sign-in endpoints (v2.0), for tests only: what msal's device code
flow and silent refresh talk to.

Entra cannot run here, so this small server replays its documented wire format
(learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code and v2-oauth2-auth-code-flow):
the tenant's OpenID configuration, ``/oauth2/v2.0/devicecode``, and ``/oauth2/v2.0/token`` for the
device code grant (``authorization_pending`` while the user has not finished) and the refresh token
grant (a new, rotated refresh token each time; ``invalid_grant`` with Entra's AADSTS text when refused).
Tokens carry ``client_info`` and an unsigned id token, as msal needs to name the account. msal only
talks https, so the fixture serves it with a certificate made for the test run.

The client credentials grant (v2-oauth2-client-creds-grant-flow, certificate-credentials) for daemon
apps: ``scope=https://graph.microsoft.com/.default`` with a ``client_secret``, or a
``client_assertion`` JWT signed with a registered certificate's key (RS256 with ``x5t``, the SHA-1
thumbprint, or PS256 with ``x5t#S256``, as msal sends), whose ``aud`` is the token endpoint and whose
``iss`` and ``sub`` are the client id. The answer is an app-only access token (no refresh token, no id
token) whose claims carry ``roles`` (the application permissions with admin consent) and
``idtyp: app``, which the Graph stand-in reads as Graph reads a real token's. Refusals are Entra's:
401 ``invalid_client`` AADSTS7000215 (wrong secret) or AADSTS700027 (unknown certificate, bad signature),
400 ``unauthorized_client`` AADSTS700016 (no such application), 400 ``invalid_scope`` AADSTS1002012.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

USER_CODE = "ABCD1234"
GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
BAD_SECRET = (
    "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the "
    "client secret value, not the client secret ID, for a secret added to app '{app}'."
)
UNKNOWN_CERTIFICATE = (
    "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered "
    "on application."
)
BAD_ASSERTION = "AADSTS700027: Client assertion failed signature validation."
EXPIRED_REFRESH = (
    "AADSTS700082: The refresh token has expired due to inactivity. The token was issued on "
    "2026-01-02T10:00:00Z and was inactive for 90.00:00:00.\r\nTrace ID: 0000\r\n"
)


@dataclass
class DaemonApp:
    """An app registration for the client credentials grant: its secret, its certificates, and the
    application permissions an admin consented to (``roles``); ``app_tokens`` issued so far."""

    client_id: str
    secret: str = ""
    certificates: list[x509.Certificate] = field(default_factory=list)
    roles: tuple[str, ...] = ("Calendars.ReadWrite",)
    expires_in: int = 3599
    app_tokens: list[str] = field(default_factory=list)

    def certificate(self, header: dict[str, Any]) -> x509.Certificate | None:
        """The registered certificate the assertion's header names by thumbprint (SHA-1 or SHA-256)."""
        sha1, sha256 = (str(header.get(k, "")).rstrip("=") for k in ("x5t", "x5t#S256"))  # msal pads them
        for cert in self.certificates:
            if sha1 == _b64_raw(cert.fingerprint(hashes.SHA1())):
                return cert
            if sha256 == _b64_raw(cert.fingerprint(hashes.SHA256())):
                return cert
        return None

    def issue(self, tid: str) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "aud": "https://graph.microsoft.com",
            "iss": f"https://sts.windows.net/{tid}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.expires_in,
            "appid": self.client_id,
            "idtyp": "app",
            "roles": list(self.roles),
            "tid": tid,
            "jti": f"app-{len(self.app_tokens) + 1}",
        }
        token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
        self.app_tokens.append(token)
        return {"token_type": "Bearer", "expires_in": self.expires_in, "ext_expires_in": self.expires_in,
                "access_token": token}  # fmt: skip


@dataclass
class Entra:
    """The sign-in service's state: the user who signs in, tokens issued, and switchable refusals.

    - ``pending_polls``: the device code grant answers ``authorization_pending`` that many times first;
    - ``expires_in``: lifetime of the access tokens issued (msal refreshes those within 5 minutes of it);
    - ``refuse_refresh``: refresh token grants are refused as after 90 days without use.
    """

    username: str = "adele.vance@contoso.test"
    oid: str = "00000000-0000-0000-0000-0000000a11ce"
    tid: str = "00000000-0000-0000-0000-00000000c0de"
    pending_polls: int = 0
    expires_in: int = 3600
    refuse_refresh: bool = False
    grants: list[str] = field(default_factory=list)
    apps: dict[str, DaemonApp] = field(default_factory=dict)
    access_tokens: list[str] = field(default_factory=list)
    refresh_tokens: set[str] = field(default_factory=set)
    device_codes: set[str] = field(default_factory=set)

    def issue(self, client_id: str, issuer: str) -> dict[str, Any]:
        """A token answer: access, refresh and id token, and client_info naming the account."""
        n = len(self.access_tokens) + 1
        access, refresh = f"entra-access-{n}", f"entra-refresh-{n}"
        self.access_tokens.append(access)
        self.refresh_tokens = {refresh}  # rotated: the previous one is spent
        now = int(time.time())
        claims = {
            "aud": client_id,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "oid": self.oid,
            "tid": self.tid,
            "sub": "stand-in-subject",
            "preferred_username": self.username,
            "name": "Adele Vance",
        }
        return {
            "token_type": "Bearer",
            "scope": "Calendars.ReadWrite openid profile offline_access",
            "expires_in": self.expires_in,
            "ext_expires_in": self.expires_in,
            "access_token": access,
            "refresh_token": refresh,
            "id_token": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
            "client_info": _b64({"uid": self.oid, "utid": self.tid}),
        }


def build_app(entra: Entra, base: str) -> Starlette:
    """The ASGI app; ``base`` is its public https URL (the authority host)."""

    async def configuration(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        root = f"{base}/{tenant}"
        return JSONResponse(
            {
                "issuer": f"{base}/{entra.tid}/v2.0",
                "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                "token_endpoint": f"{root}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            }
        )

    async def devicecode(request: Request) -> Response:
        form = await request.form()
        code = f"device-{len(entra.device_codes) + 1}-{form.get('client_id')}"
        entra.device_codes.add(code)
        return JSONResponse(
            {
                "device_code": code,
                "user_code": USER_CODE,
                "verification_uri": "https://microsoft.com/devicelogin",
                "expires_in": 900,
                "interval": 1,
                "message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin "
                f"and enter the code {USER_CODE} to authenticate.",
            }
        )

    async def token(request: Request) -> Response:
        form = await request.form()
        grant, client_id = str(form.get("grant_type")), str(form.get("client_id"))
        entra.grants.append(grant)
        issuer = f"{base}/{entra.tid}/v2.0"
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            if str(form.get("device_code")) not in entra.device_codes:
                return _refused("invalid_grant", "AADSTS70000: The provided value for the code is not valid.")
            if entra.pending_polls > 0:
                entra.pending_polls -= 1
                return _refused("authorization_pending", "AADSTS70016: The user has not yet finished.")
            return JSONResponse(entra.issue(client_id, issuer))
        if grant == "refresh_token":
            if entra.refuse_refresh or str(form.get("refresh_token")) not in entra.refresh_tokens:
                return _refused("invalid_grant", EXPIRED_REFRESH, codes=[700082])
            return JSONResponse(entra.issue(client_id, issuer))
        if grant == "client_credentials":
            return _client_credentials(entra, dict(form), f"{base}/{request.path_params['tenant']}")
        return _refused("unsupported_grant_type", f"AADSTS70003: grant type {grant} is not supported.")

    routes = [
        Route("/{tenant}/v2.0/.well-known/openid-configuration", configuration),
        Route("/{tenant}/oauth2/v2.0/devicecode", devicecode, methods=["POST"]),
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def _client_credentials(entra: Entra, form: dict[str, Any], authority: str) -> Response:
    """The client credentials grant: the app's secret or its certificate-signed assertion."""
    client_id = str(form.get("client_id", ""))
    app = entra.apps.get(client_id)
    if app is None:
        return _refused("unauthorized_client", f"AADSTS700016: Application with identifier '{client_id}' was "
                        "not found in the directory.", codes=[700016])  # fmt: skip
    if str(form.get("scope", "")) != GRAPH_DEFAULT_SCOPE:
        return _refused("invalid_scope", "AADSTS1002012: The provided value for scope is not valid. Client "
                        "credential flows must have a scope value with /.default suffixed to the resource "
                        "identifier (application ID URI).", codes=[1002012])  # fmt: skip
    if "client_assertion" in form:
        refusal = _assertion_refusal(app, form, f"{authority}/oauth2/v2.0/token")
    elif app.secret and form.get("client_secret") == app.secret:
        refusal = None
    else:
        refusal = BAD_SECRET.format(app=client_id)
    if refusal is not None:
        return _refused(
            "invalid_client", refusal, codes=[int(refusal.split(":")[0].removeprefix("AADSTS"))], status=401
        )
    return JSONResponse(app.issue(entra.tid))


def _assertion_refusal(app: DaemonApp, form: dict[str, Any], endpoint: str) -> str | None:
    """Why the client assertion is refused, or None: a registered certificate signed it for this endpoint."""
    assertion = str(form.get("client_assertion", ""))
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        return BAD_ASSERTION
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        return BAD_ASSERTION
    cert = app.certificate(header)
    if cert is None:
        return UNKNOWN_CERTIFICATE
    try:
        claims = jwt.decode(assertion, cert.public_key(), algorithms=["RS256", "PS256"],  # type: ignore[arg-type]
                            audience=endpoint, options={"require": ["exp", "aud", "iss", "sub"]})  # fmt: skip
    except jwt.PyJWTError:
        return BAD_ASSERTION
    return None if claims["iss"] == claims["sub"] == app.client_id else BAD_ASSERTION


def _refused(error: str, description: str, codes: list[int] | None = None, status: int = 400) -> Response:
    body = {"error": error, "error_description": description, "error_codes": codes or []}
    return JSONResponse(body, status_code=status)


def _b64(data: dict[str, Any]) -> str:
    return _b64_raw(json.dumps(data).encode())


def _b64_raw(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def app_claims(bearer: str) -> dict[str, Any] | None:
    """The claims of an app-only access token this stand-in issued (``idtyp: app``), else None."""
    parts = bearer.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) and claims.get("idtyp") == "app" else None
