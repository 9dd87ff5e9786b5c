"""What keeps the local page safe: CSRF tokens, strict headers, the Host check, and a password off loopback.

CSRF uses the double-submit pattern: a random per-session token lives in a ``SameSite=Strict``
cookie and in a hidden field of every form; a POST whose field does not match its cookie (compared
in constant time) is refused with 403 before any route runs. A page on another origin can neither
read the cookie nor set it, so it cannot forge the field.

DNS rebinding gets around that: a hostile name re-pointed at 127.0.0.1 makes the page *same-origin*
with the attacker's script. The Host header still carries the hostile name, so only the names the
page is really reached under are served (:func:`allowed_hosts`); any other Host is refused with 400.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request
from starlette.responses import Response

CSRF_COOKIE = "calferry_csrf"
CSRF_FIELD = "csrf_token"

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

Handler = Callable[[Request], Awaitable[Response]]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: the only hosts served without a password."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def allowed_hosts(bound: str, password: str | None) -> list[str]:
    """The Host names served: loopback and the bound host. On a wildcard address (with its password)
    the machine's names are not known in advance; there any Host is taken, the browser never sends a
    rebinding page the credentials of the real origin."""
    if password and bound in WILDCARD_HOSTS:
        return ["*"]
    named = f"[{bound}]" if ":" in bound else bound
    return list(dict.fromkeys([*LOOPBACK_HOSTS, named.lower()]))


def csrf_token(request: Request) -> str:
    """The session's token: from its cookie, or a new one that the middleware will set."""
    token = getattr(request.state, "csrf_token", None)
    if token is None:
        token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        request.state.csrf_token = token
    return str(token)


async def csrf_guard(request: Request) -> None:
    """Refuse (403) every POST whose hidden token does not equal its cookie's."""
    if request.method != "POST":
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    form = await request.form()
    sent = form.get(CSRF_FIELD, "")
    if not cookie or not isinstance(sent, str) or not hmac.compare_digest(cookie, sent):
        raise HTTPException(status_code=403, detail="Missing or wrong form token: reload the page and retry.")


async def security_middleware(request: Request, call_next: Handler) -> Response:
    """Add the strict headers to every answer and give a new session its CSRF cookie."""
    had_cookie = CSRF_COOKIE in request.cookies
    response = await call_next(request)
    response.headers.update(SECURITY_HEADERS)
    if not had_cookie:
        response.set_cookie(CSRF_COOKIE, csrf_token(request), httponly=True, samesite="strict", path="/")
    return response


def password_middleware(password: str) -> Callable[[Request, Handler], Awaitable[Response]]:
    """HTTP basic auth (any user name, this password), compared in constant time."""
    expected = password.encode()

    async def middleware(request: Request, call_next: Handler) -> Response:
        given = _basic_password(request.headers.get("authorization", ""))
        if given is not None and hmac.compare_digest(given, expected):
            return await call_next(request)
        return Response(
            "Password required.",
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="calferry"', **SECURITY_HEADERS},
        )

    return middleware


def _basic_password(header: str) -> bytes | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    return decoded.partition(b":")[2]
