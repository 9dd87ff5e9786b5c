"""What every adapter that speaks HTTP shares: when to retry, how long to wait, how many in flight.

The Autotask client, Microsoft Graph's HTTP layer and the CalDAV adapter all send through
:meth:`RetryPolicy.run`, the one retry loop; each keeps only what its service documents differently
(which answers are refusals, which errors mean what) in the ``judge`` it hands the loop, and turns
what the loop finally raises or returns into calferry's errors at its own edge.

- :func:`retry_after`: a ``Retry-After`` as seconds to wait, given in seconds (whole, as RFC 9110
  says, or fractional, as Graph sends) or as an HTTP date; nonsense is no wait named at all.
- :class:`RetryPolicy`: how many attempts, exponential backoff with jitter (its random source
  injectable, so a test can seed it), a cap on every wait, and how long a named wait may be before it
  is an error rather than a pause. Which calls may be repeated is the caller's to say (:data:`Mode`):
  reads are, writes only when the failure proves nothing was applied (a :class:`Retry` says which).
- :class:`LocalGate`: at most ``limit`` requests in flight per key (Autotask: integration code and
  endpoint; Graph: the mailbox), shared by every client of the process; a request may weigh more
  than one (a Graph ``$batch`` takes every permit).
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Generic, Literal, NamedTuple, Protocol, TypeVar

__all__ = [
    "REFUSED_RETRIES",
    "Gate",
    "LocalGate",
    "Mode",
    "Permits",
    "Ran",
    "Retry",
    "RetryPolicy",
    "retry_after",
]

log = logging.getLogger("calferry.http")

T = TypeVar("T")

Mode = Literal["read", "write", "never"]
"""May a call be repeated: ``read`` (yes: it is idempotent, or the caller reconciles a repeat that
meets its own effect), ``write`` (only when nothing was applied), ``never``."""

REFUSED_RETRIES = 2
"""Retries of a refused connection: enough for a server restarting, not a wait on one that is down."""


@dataclass(frozen=True)
class Retry:
    """A judge's word that an attempt may be worth repeating.

    ``applied``: the request may have been carried out (a 5xx, a timeout, a lost answer), so only an
    idempotent call (:data:`Mode` ``read``) is repeated; False when the answer proves nothing was
    (a 429, a connection never made). ``wait``: the wait the answer named (``Retry-After``), else
    backoff. ``tries``: at most this many repeats for this cause (a refused connection).
    """

    applied: bool
    wait: float | None = None
    tries: int | None = None


class Ran(NamedTuple, Generic[T]):
    """What :meth:`RetryPolicy.run` returns: the last answer, and whether an earlier attempt may have
    been carried out although its answer was lost (so the answer may meet the request's own effect)."""

    value: T
    lost: bool


def retry_after(headers: Mapping[str, Any], now: Callable[[], float] = time.time) -> float | None:
    """The wait a ``Retry-After`` header names, in seconds from ``now``; None if there is none or it
    cannot be read. A date in the past is no wait; a wait that is not a finite number is none."""
    value = next((str(v).strip() for k, v in headers.items() if str(k).lower() == "retry-after"), "")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return _until(value, now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _until(http_date: str, now: Callable[[], float]) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now())


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for safe retries: ``base_delay * 2**n``, scaled by a random factor in
    ``[1 - jitter, 1]`` (so clients refused together do not return together), each wait at most
    ``max_delay``.

    A ``Retry-After`` is honoured up to ``max_delay``; one longer than ``give_up_after`` (Autotask's
    hourly limit says "come back in 40 minutes") ends :meth:`run`: the refusal is raised (or returned)
    rather than waited for.
    """

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    give_up_after: float = 120.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, attempt: int) -> float:
        wait = min(self.max_delay, self.base_delay * 2.0**attempt)
        return float(wait * self.rng.uniform(1.0 - self.jitter, 1.0)) if self.jitter else float(wait)

    def named_wait(self, seconds: float) -> float | None:
        """The wait for a refusal that named one: capped at ``max_delay``; None past ``give_up_after``."""
        return None if seconds > self.give_up_after else min(seconds, self.max_delay)

    def run(
        self,
        send: Callable[[], T],
        judge: Callable[[T | Exception], Retry | None],
        *,
        mode: Mode,
        sleep: Callable[[float], None] = time.sleep,
        slot: Callable[[], AbstractContextManager[object]] = nullcontext,
        before: Callable[[], None] | None = None,
        label: str = "",
    ) -> Ran[T]:
        """The one retry loop: ``send`` until ``judge`` calls its outcome (the answer, or the exception
        ``send`` raised) final, the call's ``mode``
        forbids a repeat, the attempts are spent or a named wait is past ``give_up_after``; then the
        last answer is returned or the last exception raised, untranslated (each adapter translates
        at its edge).

        Each attempt holds ``slot()`` (the endpoint's concurrency gate) only while it is in flight,
        never while waiting; ``before`` runs ahead of every attempt, outside the slot (pacing).
        """
        lost, attempt = False, 0
        while True:
            if before is not None:
                before()
            outcome = _attempt(send, slot)
            verdict = judge(outcome)
            delay = self._delay(verdict, attempt, mode)
            if delay is None or verdict is None:
                if isinstance(outcome, BaseException):
                    raise outcome
                return Ran(outcome, lost)
            lost = lost or verdict.applied
            log.debug("retrying %s in %.2fs after %s", label or "a request", delay, _named(outcome))
            sleep(delay)
            attempt += 1

    def _delay(self, verdict: Retry | None, attempt: int, mode: Mode) -> float | None:
        """How long to wait before repeating, or None to stop here."""
        if verdict is None or mode == "never" or attempt + 1 >= self.attempts:
            return None
        if (verdict.applied and mode != "read") or (verdict.tries is not None and attempt >= verdict.tries):
            return None
        return self.backoff(attempt) if verdict.wait is None else self.named_wait(verdict.wait)


def _attempt(send: Callable[[], T], slot: Callable[[], AbstractContextManager[object]]) -> T | Exception:
    try:
        with slot():
            return send()
    except Exception as exc:  # the judge decides; what it does not retry is raised as it came
        return exc


def _named(outcome: object) -> str:
    status = getattr(outcome, "status_code", None) or getattr(outcome, "status", None)
    return type(outcome).__name__ if status is None else f"{type(outcome).__name__} {status}"


class Gate(Protocol):
    """Admits one request for ``key`` while the context is open (``weight`` permits' worth)."""

    def slot(self, *key: str, weight: int = 1) -> AbstractContextManager[None]: ...


class Permits:
    """``limit`` requests in flight. A request weighing more takes its permits one heavy request at a
    time, so two of them never each hold some and wait for the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._free = threading.BoundedSemaphore(limit)
        self._heavy = threading.Lock()

    @contextmanager
    def take(self, weight: int = 1) -> Iterator[None]:
        weight = max(1, min(weight, self.limit))
        with self._heavy if weight > 1 else nullcontext():
            for _ in range(weight):
                self._free.acquire()
        try:
            yield
        finally:
            for _ in range(weight):
                self._free.release()


class LocalGate:
    """At most ``limit`` requests in flight per key within this process; thread-safe, so one instance
    serves every client of the process. Keys are compared case-insensitively."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._permits: dict[tuple[str, ...], Permits] = {}
        self._lock = threading.Lock()

    def permits(self, *key: str) -> Permits:
        """The permits of ``key`` (one object per key for the life of the gate)."""
        with self._lock:
            return self._permits.setdefault(tuple(k.lower() for k in key), Permits(self.limit))

    def slot(self, *key: str, weight: int = 1) -> AbstractContextManager[None]:
        return self.permits(*key).take(weight)
