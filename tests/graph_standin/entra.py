"""A stand-in for Microsoft Entra's sign-in endpoints (v2.0), for tests only: what msal's device code
flow and silent refresh talk to.

Entra cannot run here, so this small server replays its documented wire format
(learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code and v2-oauth2-auth-code-flow):
the tenant's OpenID configuration, ``/oauth2/v2.0/devicecode``, and ``/oauth2/v2.0/token`` for the
device code grant (``authorization_pending`` while the user has not finished) and the refresh token
grant (a new, rotated refresh token each time; ``invalid_grant`` with Entra's AADSTS text when refused).
Tokens carry ``client_info`` and an unsigned id token, as msal needs to name the account. msal only
talks https, so the fixture serves it with a certificate made for the test run.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

USER_CODE = "ABCD1234"
EXPIRED_REFRESH = (
    "AADSTS700082: The refresh token has expired due to inactivity. The token was issued on "
    "2026-01-02T10:00:00Z and was inactive for 90.00:00:00.\r\nTrace ID: 0000\r\n"
)


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
        return _refused("unsupported_grant_type", f"AADSTS70003: grant type {grant} is not supported.")

    routes = [
        Route("/{tenant}/v2.0/.well-known/openid-configuration", configuration),
        Route("/{tenant}/oauth2/v2.0/devicecode", devicecode, methods=["POST"]),
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def _refused(error: str, description: str, codes: list[int] | None = None) -> Response:
    body = {"error": error, "error_description": description, "error_codes": codes or []}
    return JSONResponse(body, status_code=400)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
