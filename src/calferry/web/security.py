"""What keeps the local page safe: CSRF checks, strict headers, the Host check, and a password off loopback.

Every state-changing request (anything but GET, HEAD and OPTIONS) passes two checks before any route
runs, else it is refused with 403:

1. Its ``Origin`` is the page's own (scheme, host and port); without an ``Origin`` header the browser's
   ``Sec-Fetch-Site`` must say ``same-origin``. ``Origin: null`` (sandboxed frames, ``data:`` pages) and
   requests saying neither are refused. Cookies ignore ports, so this is what tells the page apart from
   another page on another loopback port.
2. Its hidden form token is the HMAC of the session cookie under a per-install key (32 random bytes in
   ``CALFERRY_HOME/web-csrf.key``, mode 0600). A cookie chosen (or tossed in) by someone else never comes
   with a valid token, because computing one needs the key.

DNS rebinding gets around that: a hostile name re-pointed at 127.0.0.1 makes the page *same-origin*
with the attacker's script. The Host header still carries the hostile name, so only the names the
page is really reached under are served (:func:`allowed_hosts`); any other Host is refused with 400.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import HTTPException, Request
from starlette.responses import Response

from calferry import paths

CSRF_COOKIE = "calferry_csrf"
CSRF_FIELD = "csrf_token"
KEY_FILE = "web-csrf.key"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CROSS_ORIGIN = (
    "This request did not come from calferry's own page, so it was refused: open the page and try again."
)
WRONG_TOKEN = "Missing or wrong form token: reload the page and retry."

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Not "no-referrer": under it a browser sends ``Origin: null`` even with the page's own forms.
    "Referrer-Policy": "same-origin",
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


def install_key(home: Path | None = None) -> bytes:
    """The per-install key of the form tokens, made on first use: 32 random bytes, readable by the owner only."""
    path = (home or paths.home()) / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        key = path.read_bytes()
        if len(key) >= 32:
            return key
        path.unlink()  # cut short by a crash while it was written: make a new one
        return install_key(home)
    with os.fdopen(fd, "wb") as out:
        key = secrets.token_bytes(32)
        out.write(key)
    return key


def _key(request: Request) -> bytes:
    state = request.app.state
    if getattr(state, "csrf_key", None) is None:
        state.csrf_key = install_key()
    key: bytes = state.csrf_key
    return key


def _session(request: Request) -> str:
    """The session id: from its cookie, or a new one that the middleware will set."""
    session = getattr(request.state, "session", None)
    if session is None:
        session = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        request.state.session = session
    return str(session)


def _sign(key: bytes, session: str) -> str:
    digest = hmac.new(key, b"calferry form token\0" + session.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_token(request: Request) -> str:
    """The form token of this session: the HMAC of its session id under the install's key."""
    return _sign(_key(request), _session(request))


def same_origin(request: Request) -> bool:
    """True when the browser says the request comes from this page's own origin."""
    origin = request.headers.get("origin")
    if origin is None:
        return request.headers.get("sec-fetch-site") == "same-origin"
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    return origin != "null" and hmac.compare_digest(origin.lower().encode(), own.lower().encode())


async def csrf_guard(request: Request) -> None:
    """Refuse (403) a state-changing request from another origin, or without this session's token."""
    if request.method in SAFE_METHODS:
        return
    if not same_origin(request):
        raise HTTPException(status_code=403, detail=CROSS_ORIGIN)
    session = request.cookies.get(CSRF_COOKIE, "")
    sent = (await request.form()).get(CSRF_FIELD, "")
    expected = _sign(_key(request), session)
    if not session or not isinstance(sent, str) or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise HTTPException(status_code=403, detail=WRONG_TOKEN)


async def security_middleware(request: Request, call_next: Handler) -> Response:
    """Add the strict headers to every answer and give a new session its cookie."""
    had_cookie = CSRF_COOKIE in request.cookies
    response = await call_next(request)
    response.headers.update(SECURITY_HEADERS)
    if not had_cookie:
        response.set_cookie(CSRF_COOKIE, _session(request), httponly=True, samesite="strict", path="/")
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
