"""The shared Autotask budget: one hourly allowance and one thread limit for every worker, in PostgreSQL.

Autotask's 10,000 requests an hour are per PSA database and shared by every integration the MSP runs,
and its 3 requests in flight are per integration code and endpoint across the tenant (autotask-api.md,
org-service-and-addin.md §4.1). Workers on several machines therefore meet in the org database:

- **Hourly share**: a token bucket row (``budget``) holding at most ``share × threshold`` tokens and
  refilled at that many per hour, taken one per request under ``SELECT ... FOR UPDATE``; the database's
  clock is the only clock, so machines with skewed clocks agree. An empty bucket raises ``BudgetShort``
  with the wait until the next token: the job waits (a procrastinate retry), it never fails.
- **Threads**: 3 session advisory locks per (integration code, endpoint); a request holds one on a
  pooled connection while in flight. A worker that dies drops its connection, and PostgreSQL frees its
  locks with it.
- **ThresholdInformation**: :meth:`PgBudget.adapt` takes the threshold the PSA reports and, when the
  tenant as a whole (other integrations included) is near it, empties the bucket so calferry backs off.

``PgThreadGate`` is the ``ThreadGate`` ``AutotaskClient`` already asks for each request, so the client
runs unchanged. Each request also adds one to ``budget_hours`` (the admin page's requests-per-hour chart).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from calferry.errors import CalferryError
from calferry.psa.threads import AUTOTASK_THREADS

__all__ = ["DEFAULT_THRESHOLD", "BudgetShort", "PgBudget", "PgThreadGate"]

DEFAULT_THRESHOLD = 10_000
"""Autotask's requests per hour per database, until ``ThresholdInformation`` says otherwise."""
TENANT_BACKOFF = 0.9
"""The tenant's own usage (every integration) at which calferry stops taking from its share."""
HOUR = 3600.0


class BudgetShort(CalferryError):
    """The shared hourly share is spent for now; ``retry_in`` seconds until the next request may go."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(
            f"the Autotask request budget is spent for now; the next request in {retry_in:.0f} s"
        )
        self.retry_in = retry_in


@dataclass(frozen=True)
class BudgetState:
    tokens: float
    threshold: int
    capacity: float
    requests_this_hour: int


class PgBudget:
    """The token bucket ``name`` (one per Autotask database) with ``share`` of the hourly threshold."""

    def __init__(self, engine: Engine, *, share: float = 0.25, name: str = "autotask") -> None:
        self.engine = engine
        self.share = share
        self.name = name

    def take(self) -> None:
        """One request's token, or ``BudgetShort``; counted in this hour's total when taken."""
        with self.engine.begin() as conn:
            tokens, threshold = self._refilled(conn)
            if tokens < 1.0:
                rate = self.share * threshold / HOUR
                raise BudgetShort((1.0 - tokens) / rate)
            conn.execute(
                text("UPDATE budget SET tokens = :t, refilled_at = clock_timestamp() WHERE name = :n"),
                {"t": tokens - 1.0, "n": self.name},
            )
            conn.execute(
                text(
                    "INSERT INTO budget_hours (name, hour, requests) "
                    "VALUES (:n, date_trunc('hour', clock_timestamp()), 1) "
                    "ON CONFLICT (name, hour) DO UPDATE SET requests = budget_hours.requests + 1"
                ),
                {"n": self.name},
            )

    def adapt(self, used: int, threshold: int) -> None:
        """What ``ThresholdInformation`` reported: the tenant's threshold and its use by everyone."""
        if threshold <= 0:
            return
        with self.engine.begin() as conn:
            tokens, _ = self._refilled(conn)
            capacity = self.share * threshold
            tokens = min(tokens, capacity)
            if used >= TENANT_BACKOFF * threshold:
                tokens = min(tokens, 0.0)
            conn.execute(
                text(
                    "UPDATE budget SET tokens = :t, threshold = :th, reported_used = :u, "
                    "reported_at = clock_timestamp(), refilled_at = clock_timestamp() WHERE name = :n"
                ),
                {"t": tokens, "th": threshold, "u": used, "n": self.name},
            )

    def reported(self) -> tuple[int, int]:
        """The tenant's requests this hour as ``ThresholdInformation`` last said (0 before any look), and
        the threshold: what every client of the cycle starts from instead of a look of its own."""
        with self.engine.connect() as conn:
            row = conn.execute(
                text("SELECT reported_used, threshold FROM budget WHERE name = :n"), {"n": self.name}
            ).one_or_none()
        if row is None:
            return 0, DEFAULT_THRESHOLD
        return int(row[0] or 0), int(row[1])

    def state(self) -> BudgetState:
        with self.engine.begin() as conn:
            tokens, threshold = self._refilled(conn)
            this_hour = conn.execute(
                text(
                    "SELECT coalesce(sum(requests), 0) FROM budget_hours "
                    "WHERE name = :n AND hour = date_trunc('hour', clock_timestamp())"
                ),
                {"n": self.name},
            ).scalar_one()
        return BudgetState(tokens, threshold, self.share * threshold, int(this_hour))

    def _refilled(self, conn: Connection) -> tuple[float, int]:
        """Lock the row (made full on first use) and add what the time since the last take refilled."""
        capacity = self.share * DEFAULT_THRESHOLD
        conn.execute(
            text(
                "INSERT INTO budget (name, tokens, threshold) VALUES (:n, :c, :th) ON CONFLICT (name) DO NOTHING"
            ),
            {"n": self.name, "c": capacity, "th": DEFAULT_THRESHOLD},
        )
        tokens, threshold, elapsed = conn.execute(
            text(
                "SELECT tokens, threshold, extract(epoch FROM clock_timestamp() - refilled_at) "
                "FROM budget WHERE name = :n FOR UPDATE"
            ),
            {"n": self.name},
        ).one()
        capacity = self.share * threshold
        return min(capacity, float(tokens) + max(0.0, float(elapsed)) * capacity / HOUR), int(threshold)


class PgThreadGate:
    """``ThreadGate`` for every worker of the org: a budget token, then one of ``limit`` advisory-lock slots
    of (integration code, endpoint), held on its own connection while the request is in flight."""

    def __init__(self, budget: PgBudget, limit: int = AUTOTASK_THREADS) -> None:
        self.budget = budget
        self.limit = limit

    @contextmanager
    def slot(self, integration_code: str, endpoint: str) -> Iterator[None]:
        self.budget.take()
        key = _lock_key(integration_code, endpoint)
        with self.budget.engine.connect() as conn:
            held = self._acquire(conn, key)
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k, :s)"), {"k": key, "s": held})
                conn.commit()

    def _acquire(self, conn: Connection, key: int) -> int:
        """A free slot if there is one, else wait on the slot this connection's turn points at."""
        for slot in range(self.limit):
            if conn.execute(text("SELECT pg_try_advisory_lock(:k, :s)"), {"k": key, "s": slot}).scalar_one():
                return slot
        slot = zlib.crc32(str(id(conn)).encode()) % self.limit
        conn.execute(text("SELECT pg_advisory_lock(:k, :s)"), {"k": key, "s": slot})
        return slot


def _lock_key(integration_code: str, endpoint: str) -> int:
    """A stable signed 32-bit key for (code, endpoint), the same in every process and on every machine."""
    value = zlib.crc32(f"{integration_code.lower()}|{endpoint.lower()}".encode())
    return value - (1 << 32) if value >= 1 << 31 else value
