"""Autotask's usage limits: requests per rolling hour per database, and 3 threads per (code, endpoint).

The hourly limit answers 429 with ``Retry-After`` (autotask-api.md §2.8). The thread limit answers
without ``Retry-After``, and with 429 or another status (``refusal_status``), as production reports of
Autotask show; only its words say what it is. The hourly count is kept per server process (one server
serves one database); ``ThresholdInformation`` reports it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from calferry.psa.server.problems import ApiError

HOUR = 3600.0
THREAD_CODE = "Itgenatr005"


class HourlyCounter:
    """Accepted requests in the last hour; ``admit`` refuses the one over ``limit``."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._times and self._times[0] <= now - HOUR:
            self._times.popleft()

    def admit(self) -> None:
        with self._lock:
            now = self._clock()
            self._expire(now)
            if len(self._times) >= self.limit:
                wait = max(1, math.ceil(self._times[0] + HOUR - now))
                raise ApiError(
                    f"Request Threshold Exceeded: the Autotask API request threshold of {self.limit} "
                    "requests per hour has been exceeded.",
                    status=429,
                    headers={"Retry-After": str(wait)},
                )
            self._times.append(now)

    def current(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._times)

    def reset(self) -> None:
        with self._lock:
            self._times.clear()


class ThreadLimiter:
    """At most ``limit`` requests in flight per (integration code, endpoint); the next is refused."""

    def __init__(self, limit: int = 3, refusal_status: int = 429) -> None:
        self.limit = limit
        self.refusal_status = refusal_status
        self._busy: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def acquire(self, code: str, endpoint: str) -> None:
        key = (code.lower(), endpoint.lower())
        with self._lock:
            if self._busy.get(key, 0) >= self.limit:
                raise ApiError(
                    f"Thread Threshold Exceeded — The Autotask API thread threshold of {self.limit} threads "
                    f"has been exceeded. ({THREAD_CODE})",
                    status=self.refusal_status,
                )
            self._busy[key] = self._busy.get(key, 0) + 1

    def release(self, code: str, endpoint: str) -> None:
        key = (code.lower(), endpoint.lower())
        with self._lock:
            self._busy[key] -= 1
            if not self._busy[key]:
                del self._busy[key]
