"""The PSA as a technician's run in the org service reads it: from the central poll's cache where it can.

The central poll holds every item of the window, full rows included, for all technicians; reading them
again per technician is what would spend the shared Autotask budget. ``CachedPsa`` is ``AutotaskPsa``
with its reads of the window served from the cache: the change markers of every kind, and appointments
whole. To-dos and service calls still come from Autotask (their companies, contacts, action types,
tickets and tasks are looked up with them), as do writes and look-ups. The cache is at most one cycle
old, the same lag the poll has; the poll's window is a day wider on each side than any technician's, so
nothing a technician's window holds is missing from it (a missing linked item would read as deleted).
"""

from __future__ import annotations

from collections.abc import Iterable

from calferry.contracts import PsaMarker, PsaSnapshot
from calferry.model import PsaItem, PsaKind, PsaRef, Window
from calferry.org.store import CachedItem, OrgStore
from calferry.psa.autotask import AutotaskClient
from calferry.psa.gateway import AutotaskPsa, _appointment, _marker

__all__ = ["CachedPsa"]

WHOLE = (PsaKind.APPOINTMENT,)
"""Kinds served whole from the cache (they refer to nothing further)."""


class CachedPsa(AutotaskPsa):
    """``AutotaskPsa`` reading the window's markers and appointments from the org store's PSA cache."""

    def __init__(self, client: AutotaskClient, resource: int, store: OrgStore) -> None:
        super().__init__(client, resource)
        self.store = store

    def markers(self, window: Window, resource_id: int, kinds: Iterable[PsaKind]) -> list[PsaMarker]:
        return [_marker(c.kind, dict(c.row)) for c in self.store.cached_for(resource_id, kinds, window)]

    def snapshot(self, window: Window, resource_id: int, kinds: Iterable[PsaKind]) -> PsaSnapshot:
        wanted = set(kinds)
        rest = [k for k in wanted if k not in WHOLE]
        fetched = super().snapshot(window, resource_id, rest) if rest else PsaSnapshot(())
        return _plus(fetched, self._whole(self.store.cached_for(resource_id, wanted & set(WHOLE), window)))

    def fetch(self, refs: Iterable[PsaRef]) -> PsaSnapshot:
        wanted = list(refs)
        rest = [r for r in wanted if r.kind not in WHOLE]
        fetched = super().fetch(rest) if rest else PsaSnapshot(())
        ids = [r.id for r in wanted if r.kind in WHOLE]
        cached = self.store.cached(PsaKind.APPOINTMENT, ids) if ids else {}
        return _plus(fetched, self._whole(row for rows in cached.values() for row in rows[:1]))

    @staticmethod
    def _whole(cached: Iterable[CachedItem]) -> tuple[PsaItem, ...]:
        return tuple(_appointment(dict(c.row)) for c in cached)


def _plus(snapshot: PsaSnapshot, items: tuple[PsaItem, ...]) -> PsaSnapshot:
    return PsaSnapshot(snapshot.items + items, snapshot.companies, snapshot.contacts, snapshot.action_types)
