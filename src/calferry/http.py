"""What every adapter that speaks HTTP shares: when to retry, how long to wait, how many in flight.

The Autotask client and Microsoft Graph's HTTP layer both build on it; each keeps only what its
service documents differently (which answers are refusals, which errors mean what).

- :func:`retry_after`: a ``Retry-After`` as seconds to wait, given in seconds (whole, as RFC 9110
  says, or fractional, as Graph sends) or as an HTTP date; nonsense is no wait named at all.
- :class:`RetryPolicy`: how many attempts, exponential backoff with jitter (its random source
  injectable, so a test can seed it), a cap on every wait, and how long a named wait may be before it
  is an error rather than a pause. Which calls may be repeated is the caller's to say (:data:`Mode`):
  reads are, writes only when the failure proves nothing was applied.
- :class:`LocalGate`: at most ``limit`` requests in flight per key (Autotask: integration code and
  endpoint; Graph: the mailbox), shared by every client of the process; a request may weigh more
  than one (a Graph ``$batch`` takes every permit).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol

__all__ = ["Gate", "LocalGate", "Mode", "Permits", "RetryPolicy", "retry_after"]

Mode = Literal["read", "write", "never"]
"""May a call be repeated: ``read`` (yes), ``write`` (only when nothing was applied), ``never``."""


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
    hourly limit says "come back in 40 minutes") is the caller's to raise instead of wait for.
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
