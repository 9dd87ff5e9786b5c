"""Reproducible fault injection, so clients can be tested against a misbehaving Autotask.

Contract (docs/psa-server.md):

- ``429``, ``500``, ``503`` and ``drop`` are decided BEFORE handling: the request is NOT applied.
  ``drop`` sends the status line and headers, then closes the connection without a body.
- ``slow`` waits ``delay`` seconds, then handles the request normally (it IS applied).
- ``lost-answer`` (writes only): the write IS applied and committed, then the connection is dropped
  without the answer. A client must not blindly retry such a create; it reconciles instead.

Every faulted answer says so in ``x-calferry-fault: <kind>`` (a dropped one in the headers it sends
before closing), so a client author can tell an injected fault from a real one.

With rate ``r`` about ``r`` of the gated requests get a fault; the kind is drawn from the kinds that fit
the request (``lost-answer`` only for creates, updates and deletes). One seeded generator draws both, so
the same seed and the same request sequence give the same faults.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from dataclasses import dataclass, field
from typing import Any

ALL_KINDS = ("429", "500", "503", "slow", "drop", "lost-answer")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
FAULT_HEADER = "x-calferry-fault"

Scope = dict[str, Any]


@dataclass
class FaultPlan:
    """How often and which faults; ``decide`` is thread-safe and deterministic for a given seed."""

    rate: float = 0.0
    seed: int = 0
    kinds: tuple[str, ...] = ALL_KINDS
    retry_after: int = 1
    delay: float = 0.5
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(ALL_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; choose from {', '.join(ALL_KINDS)}")
        self.reset()

    def reset(self) -> None:
        self._rng = random.Random(self.seed)

    def decide(self, method: str, path: str) -> str | None:
        """The fault for this request, or None; a POST to ``.../query`` is a read, not a write."""
        if self.rate <= 0:
            return None
        is_write = method in WRITES and "/query" not in path
        fitting = [k for k in self.kinds if k != "lost-answer" or is_write]
        with self._lock:
            hit = self._rng.random() < self.rate
            kind = self._rng.choice(fitting) if fitting else None
        return kind if hit else None


async def send_json(send: Any, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    """A complete JSON answer at the ASGI level (used before the app is reached)."""
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


async def _drop(send: Any, kind: str) -> None:
    """Status line and headers promising a body that never comes; the server then closes the socket."""
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"64"),
        (FAULT_HEADER.encode(), kind.encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})


def _marked(send: Any, kind: str) -> Any:
    """``send`` that adds the fault header to the answer's headers (a slowed answer is otherwise normal)."""

    async def marked(message: Any) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (FAULT_HEADER.encode(), kind.encode())]
            message = message | {"headers": headers}
        await send(message)

    return marked


async def apply(kind: str | None, plan: FaultPlan, app: Any, scope: Scope, receive: Any, send: Any) -> None:
    """Run the request under fault ``kind`` (None: normally)."""
    if kind is None:
        await app(scope, receive, send)
    elif kind in {"429", "500", "503"}:
        headers = {FAULT_HEADER: kind} | ({"Retry-After": str(plan.retry_after)} if kind == "429" else {})
        message = "Injected fault: too many requests." if kind == "429" else f"Injected fault: HTTP {kind}."
        await send_json(send, int(kind), {"errors": [message]}, headers)
    elif kind == "slow":
        await asyncio.sleep(plan.delay)
        await app(scope, receive, _marked(send, kind))
    elif kind == "drop":
        await _drop(send, kind)
    else:  # lost-answer: apply the write, swallow its answer, drop the connection
        await app(scope, receive, _swallow)
        await _drop(send, kind)


async def _swallow(message: Any) -> None:
    return None
