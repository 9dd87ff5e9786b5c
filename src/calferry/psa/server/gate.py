"""The ASGI layer in front of the routes: case-insensitive paths, body limit, auth, limits, then faults.

Order matters and mirrors Autotask: a body over the limit is refused (413) before anything else, as a
web server in front of the API would; a request with bad credentials is refused before it counts (an
unknown user name or integration code with 500 and Autotask's words, a wrong secret with 401);
an accepted one counts toward the hour, takes one of the 3 threads of its (code, endpoint), and only
then may get a fault. ``zoneInformation`` and ``versionInformation`` need no credentials and are exempt.

The gate is also the last line of defence: an error no route expected is logged on one line and
answered as Autotask's 500 ``{"errors": [...]}``, never as a traceback.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from calferry.psa.server import faults
from calferry.psa.server.entities import ENTITIES
from calferry.psa.server.limits import HourlyCounter, ThreadLimiter
from calferry.psa.server.problems import INVALID_CODE, UNKNOWN_USER, ApiError

ROOT = "/atservicesrest"
PREFIX = f"{ROOT}/v1.0"
EXEMPT = {"zoneinformation", "versioninformation"}
_WORDS = {
    "atservicesrest",
    "v1.0",
    "query",
    "count",
    "next",
    "entityInformation",
    "fields",
    "userDefinedFields",
}
_WORDS |= {"zoneInformation", "versionInformation", "ThresholdInformation"}
_WORDS |= {e.name for e in ENTITIES} | {e.parent.child for e in ENTITIES if e.parent}
CANONICAL = {w.lower(): w for w in _WORDS}
BODY_LIMIT = 10 * 1024 * 1024
"""Bytes of a request body: ten times what the largest write of any entity here can carry."""
INTERNAL_ERROR = "Internal error: the server could not process this request."
LOG = logging.getLogger("calferry.psa.server")

Receive = Callable[[], Awaitable[dict[str, Any]]]


def canonical_path(path: str) -> str:
    """``/ATServicesRest/V1.0/appointments/Query`` -> ``/atservicesrest/v1.0/Appointments/query``."""
    return "/".join(CANONICAL.get(part.lower(), part) for part in path.split("/"))


@dataclass(frozen=True)
class Credentials:
    integration_code: str
    username: str
    secret: str

    def check(self, headers: dict[str, bytes]) -> None:
        """All three headers must match (the user name case-insensitively, as e-mail addresses are).

        Refused as Autotask does: an unknown user name or a wrong integration code with 500 and its
        words, a wrong secret (for a known user and code) with 401. Compared as UTF-8 bytes: a header with
        bytes outside ASCII is simply a wrong credential.
        """
        user = headers.get("username", b"").decode("utf-8", "replace")
        if user.lower() != self.username.lower():
            raise ApiError(UNKNOWN_USER)
        if not hmac.compare_digest(headers.get("apiintegrationcode", b""), self.integration_code.encode()):
            raise ApiError(INVALID_CODE)
        if not hmac.compare_digest(headers.get("secret", b""), self.secret.encode()):
            raise ApiError("Authentication failed: the Secret does not match the UserName.", status=401)


class Gate:
    """ASGI middleware: canonical path, then for API calls auth -> hourly -> threads -> faults -> app."""

    def __init__(
        self,
        app: Any,
        credentials: Credentials,
        hourly: HourlyCounter,
        threads: ThreadLimiter,
        plan: faults.FaultPlan,
        body_limit: int = BODY_LIMIT,
    ) -> None:
        self.app = app
        self.credentials = credentials
        self.hourly = hourly
        self.threads = threads
        self.plan = plan
        self.body_limit = body_limit

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = canonical_path(scope["path"])
        scope = scope | {"path": path, "raw_path": path.encode()}
        started = False

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._handle(scope, receive, tracked)
        except Exception as exc:  # the last line of defence: one log line, Autotask's answer shape
            LOG.error("%s %s failed: %s: %s", scope["method"], path, type(exc).__name__, exc)
            if not started:
                await faults.send_json(send, 500, {"errors": [INTERNAL_ERROR]})

    async def _handle(self, scope: dict[str, Any], receive: Receive, send: Any) -> None:
        headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        replay = await _bounded_body(receive, headers.get("content-length", b""), self.body_limit)
        if replay is None:
            limit = f"{self.body_limit // (1024 * 1024)} MB"
            await faults.send_json(send, 413, {"errors": [f"The request body is larger than {limit}."]})
            return
        endpoint = _endpoint(scope["path"])
        if endpoint is None:
            await self.app(scope, replay, send)
            return
        code = headers.get("apiintegrationcode", b"").decode("latin-1")
        try:
            self._admit(headers, code, endpoint)
        except ApiError as error:
            await faults.send_json(send, error.status, {"errors": error.messages}, error.headers)
            return
        try:
            kind = self.plan.decide(scope["method"], scope["path"])
            await faults.apply(kind, self.plan, self.app, scope, replay, send)
        finally:
            self.threads.release(code, endpoint)

    def _admit(self, headers: dict[str, bytes], code: str, endpoint: str) -> None:
        self.credentials.check(headers)
        self.hourly.admit()
        self.threads.acquire(code, endpoint)


async def _bounded_body(receive: Receive, declared: bytes, limit: int) -> Receive | None:
    """Read the body up front (at most ``limit`` bytes) and replay it; None when it is larger."""
    if len(declared) > 20 or (declared.isdigit() and int(declared) > limit):
        return None
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: pass that on
            return _replay([message], receive)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return _replay([{"type": "http.request", "body": b"".join(chunks), "more_body": False}], receive)


def _replay(messages: list[dict[str, Any]], receive: Receive) -> Receive:
    """A receive that answers ``messages`` first, then whatever the connection sends next."""
    pending = list(messages)

    async def replayed() -> dict[str, Any]:
        return pending.pop(0) if pending else await receive()

    return replayed


def _endpoint(path: str) -> str | None:
    """The object endpoint a gated API path belongs to; None for exempt and non-API paths."""
    if not path.startswith(PREFIX + "/"):
        return None
    first = path[len(PREFIX) + 1 :].split("/", 1)[0]
    return None if first.lower() in EXEMPT or not first else first
