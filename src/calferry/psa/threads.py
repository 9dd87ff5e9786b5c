"""The gate that keeps calferry inside Autotask's thread limit.

Autotask admits 3 requests in flight per API tracking identifier (integration code) and object endpoint
across the whole tenant, not per process (ThreadLimiting.htm). Several technicians' calferry runs sharing
one integration code must therefore share one gate. ``ThreadGate`` is what ``AutotaskClient`` asks for a
slot; ``LocalThreadGate`` (the :class:`calferry.http.LocalGate` Graph's mailboxes use too) serves
everything in one process (share one instance between clients), and a tenant-wide implementation (the org service's, in PostgreSQL) can take its place without the client
changing.
"""

from __future__ import annotations

from calferry.http import Gate, LocalGate

__all__ = ["AUTOTASK_THREADS", "LocalThreadGate", "ThreadGate"]

AUTOTASK_THREADS = 3
"""Requests in flight Autotask allows per (integration code, endpoint) for integrations since 2023.1."""


ThreadGate = Gate
"""What ``AutotaskClient`` asks for a slot, keyed by (integration code, endpoint): the one
:class:`calferry.http.Gate` abstraction (Graph's per-mailbox gate is a :class:`~calferry.http.LocalGate`
too)."""


class LocalThreadGate(LocalGate):
    """At most ``limit`` requests in flight per (integration code, endpoint) within this process;
    thread-safe, so one instance can serve every client of the process."""

    def __init__(self, limit: int = AUTOTASK_THREADS) -> None:
        super().__init__(limit)
