"""The ASGI layer in front of the routes: case-insensitive paths, auth, limits, then faults.

Order matters and mirrors Autotask: a request with bad credentials is refused before it counts (an unknown
user name or integration code with 500 and Autotask's words, a wrong secret with 401);
an accepted one counts toward the hour, takes one of the 3 threads of its (code, endpoint), and only
then may get a fault. ``zoneInformation`` and ``versionInformation`` need no credentials and are exempt.
"""

from __future__ import annotations

import hmac
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


def canonical_path(path: str) -> str:
    """``/ATServicesRest/V1.0/appointments/Query`` -> ``/atservicesrest/v1.0/Appointments/query``."""
    return "/".join(CANONICAL.get(part.lower(), part) for part in path.split("/"))


@dataclass(frozen=True)
class Credentials:
    integration_code: str
    username: str
    secret: str

    def check(self, headers: dict[str, str]) -> None:
        """All three headers must match (the user name case-insensitively, as e-mail addresses are).

        Refused as Autotask does: an unknown user name or a wrong integration code with 500 and its
        words, a wrong secret (for a known user and code) with 401.
        """
        if headers.get("username", "").lower() != self.username.lower():
            raise ApiError(UNKNOWN_USER)
        if not hmac.compare_digest(headers.get("apiintegrationcode", ""), self.integration_code):
            raise ApiError(INVALID_CODE)
        if not hmac.compare_digest(headers.get("secret", ""), self.secret):
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
    ) -> None:
        self.app = app
        self.credentials = credentials
        self.hourly = hourly
        self.threads = threads
        self.plan = plan

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = canonical_path(scope["path"])
        scope = scope | {"path": path, "raw_path": path.encode()}
        endpoint = _endpoint(path)
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        code = headers.get("apiintegrationcode", "")
        try:
            self._admit(headers, code, endpoint)
        except ApiError as error:
            await faults.send_json(send, error.status, {"errors": error.messages}, error.headers)
            return
        try:
            kind = self.plan.decide(scope["method"], path)
            await faults.apply(kind, self.plan, self.app, scope, receive, send)
        finally:
            self.threads.release(code, endpoint)

    def _admit(self, headers: dict[str, str], code: str, endpoint: str) -> None:
        self.credentials.check(headers)
        self.hourly.admit()
        self.threads.acquire(code, endpoint)


def _endpoint(path: str) -> str | None:
    """The object endpoint a gated API path belongs to; None for exempt and non-API paths."""
    if not path.startswith(PREFIX + "/"):
        return None
    first = path[len(PREFIX) + 1 :].split("/", 1)[0]
    return None if first.lower() in EXEMPT or not first else first
