"""The central PSA poll: what changed for every technician, read once per cycle for all of them.

Per kind (Appointments by ``updateDateTime``, CompanyToDos by ``lastModifiedDate``, ServiceCalls by
``lastModifiedDateTime``; the same markers the one-technician engine uses, ``gateway.MARKER``):

1. **Changes**: one paged query (500 a page) of the items meeting the window whose marker is newer than
   the watermark less ``overlap`` (clock skew between the PSA's servers, and rows committed late). The
   new watermark is the newest marker the PSA itself wrote, never this machine's clock. A re-read item
   whose content hash is unchanged is no change.
2. **The days that entered the window** since the last poll (the window moves with the date) are read
   whole: items there may never have changed.
3. **Deletions and items leaving the window** (Autotask keeps no tombstones): one ``query/count`` of the
   window compared with the cache's count. Equal: done. Different: the id range is bisected at the
   cache's median id, one count per half (the other half's count is the difference), down to ranges of
   at most ``leaf`` items, which are listed (ids only) and compared with the cache. A range whose
   difference is so large that bisecting it would cost more than listing it (``leaf`` ids a page) is
   listed at once: many deletions in one cycle cost at most a listing of the window.

Cost per kind and cycle, for ``N`` items in the window and ``d`` deletions: 1 count + 1 query page per
500 changes when nothing was deleted; with deletions about ``d × (log2(N / leaf) + 1)`` counts and
listings, at most ``⌈N / leaf⌉`` listing pages. A service call also costs 4 batched look-ups of its tickets', tasks' and their resources'
rows per 500 changed calls (the tickets and tasks a call names are kept in its cached row, under
``ref_poll.WORK_KEY``). The method is blind to a deletion and an unchanged item entering the window
in the same id range in the same cycle (equal counts); (2) makes the second case rare, and the next
change in that range heals it.

The poll returns the resources whose items changed, appeared or went (old and new owners of a
reassigned item both); the caller defers a job for each such technician. Last, it reads what the
technicians' runs need beside the items (:mod:`calferry.org.ref_poll`), so that a run reads nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from calferry.model import PsaKind, Window, WorkKind
from calferry.org.ref_poll import WORK_KEY, read_references
from calferry.org.store import CachedItem, OrgStore
from calferry.psa.autotask import AutotaskClient
from calferry.psa.gateway import ENTITY, MARKER
from calferry.psa.query import Filter, and_, gt, gte, in_, lt, overlapping, parse_utc

__all__ = ["DEFAULT_OVERLAP", "CentralPoll", "PollResult"]

DEFAULT_OVERLAP = timedelta(minutes=2)
LEAF = 500
"""Items one listing page holds (Autotask's page): a range this small is listed rather than bisected."""
UNASSIGNED = 0
"""The resource of a service call no ticket or task resource is on: cached so that counts agree."""
_OWNER = {PsaKind.APPOINTMENT: "resourceID", PsaKind.TODO: "assignedToResourceID"}
_WORK = (  # link entity, its work id field, the resources entity, its link id field, the work's kind
    ("ServiceCallTickets", "ticketID", "ServiceCallTicketResources", "serviceCallTicketID", WorkKind.TICKET),
    ("ServiceCallTasks", "taskID", "ServiceCallTaskResources", "serviceCallTaskID", WorkKind.TASK),
)

Row = dict[str, Any]


@dataclass
class PollResult:
    """What one poll found: item ids per kind, the resources they concern, and its Autotask requests."""

    changed: dict[PsaKind, set[int]] = field(default_factory=dict)
    gone: dict[PsaKind, set[int]] = field(default_factory=dict)
    resources: set[int] = field(default_factory=set)
    requests: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "changed": {k.value: sorted(v) for k, v in self.changed.items()},
            "gone": {k.value: sorted(v) for k, v in self.gone.items()},
            "resources": sorted(self.resources - {UNASSIGNED}),
            "requests": self.requests,
        }


class CentralPoll:
    """One poll of the whole tenant into the org store's PSA cache."""

    def __init__(
        self,
        client: AutotaskClient,
        store: OrgStore,
        *,
        overlap: timedelta = DEFAULT_OVERLAP,
        leaf: int = LEAF,
    ) -> None:
        self.client = client
        self.store = store
        self.overlap = overlap
        self.leaf = leaf

    def run(self, window: Window, kinds: Iterable[PsaKind]) -> PollResult:
        before = self.client.stats["total"]
        result = PollResult()
        for kind in kinds:
            _KindPoll(self, kind, window, result).run()
        read_references(self.client, self.store, result.changed)
        result.requests = self.client.stats["total"] - before
        return result


class _KindPoll:
    """The poll of one kind: changes, the entered days, then the count check."""

    def __init__(self, poll: CentralPoll, kind: PsaKind, window: Window, result: PollResult) -> None:
        self.poll, self.kind, self.window, self.result = poll, kind, window, result
        self.client, self.store = poll.client, poll.store
        self.entity, self.marker = ENTITY[kind], MARKER[kind]
        self.newest: datetime | None = None
        self.work: dict[int, list[tuple[str, int]]] = {}  # service call -> its tickets and tasks

    def run(self) -> None:
        self.store.prune_cache(self.kind, self.window)
        watermark, window_end = self.store.watermark(self.kind), self.store.window_end(self.kind)
        in_window = overlapping("startDateTime", "endDateTime", self.window.start, self.window.end)
        if watermark is None:
            self._take(self.client.query(self.entity, in_window))  # the first poll reads the window whole
        else:
            self._take(
                self.client.query(
                    self.entity, and_(in_window, gt(self.marker, watermark - self.poll.overlap))
                )
            )
            if window_end is not None and window_end < self.window.end:
                entered = overlapping("startDateTime", "endDateTime", window_end, self.window.end)
                self._take(self.client.query(self.entity, and_(in_window, entered)))
            self._reconcile(in_window, 0, None, self.client.count(self.entity, in_window))
        self.store.set_watermark(self.kind, self.newest, self.window.end)

    # --- changes -----------------------------------------------------------------------------

    def _take(self, rows: Iterable[Row]) -> None:
        """Cache these rows; those whose content or owners differ from the cache are changes."""
        batch = list(rows)
        if not batch:
            return
        old = self.store.cached(self.kind, (row["id"] for row in batch))
        # A re-read row the cache already holds unchanged keeps its owners: no look-ups for it.
        known = {
            row["id"]: {c.resource_id for c in old[row["id"]]} for row in batch if _same(row, old[row["id"]])
        }
        owners = {**known, **self._owners([row for row in batch if row["id"] not in known])}
        fresh: dict[int, list[CachedItem]] = {}
        for row in batch:
            items = [self._cached(row, resource) for resource in sorted(owners[row["id"]])]
            marker = items[0].updated
            if marker is not None and (self.newest is None or marker > self.newest):
                self.newest = marker
            before = old.get(row["id"], [])
            if {(c.resource_id, c.hash) for c in before} != {(c.resource_id, c.hash) for c in items}:
                fresh[row["id"]] = items
                self.result.changed.setdefault(self.kind, set()).add(row["id"])
                self.result.resources.update(c.resource_id for c in [*before, *items])
        if fresh:
            self.store.replace_cached(self.kind, fresh)

    def _cached(self, row: Row, resource: int) -> CachedItem:
        marker = row.get(self.marker)
        kept = {**row, WORK_KEY: self.work.get(row["id"], [])} if self.kind is PsaKind.SERVICE_CALL else row
        return CachedItem(
            self.kind,
            int(row["id"]),
            resource,
            parse_utc(marker) if marker else None,
            parse_utc(row["startDateTime"]),
            parse_utc(row["endDateTime"]),
            _hash(row),
            kept,
        )

    def _owners(self, rows: list[Row]) -> dict[int, set[int]]:
        """Each item's resources: the owner field, or for a service call its tickets' and tasks' resources."""
        if not rows:
            return {}
        if self.kind in _OWNER:
            return {row["id"]: {int(row[_OWNER[self.kind]])} for row in rows}
        owners: dict[int, set[int]] = {row["id"]: set() for row in rows}
        self.work.update((call, []) for call in owners)
        for link_entity, work_key, resource_entity, link_key, work_kind in _WORK:
            links = self._rows_in(
                link_entity, "serviceCallID", list(owners), ["id", "serviceCallID", work_key]
            )
            call_of = {link["id"]: link["serviceCallID"] for link in links}
            for link in links:
                self.work[link["serviceCallID"]].append((work_kind.value, int(link[work_key])))
            for assigned in self._rows_in(
                resource_entity, link_key, list(call_of), ["id", link_key, "resourceID"]
            ):
                owners[call_of[assigned[link_key]]].add(int(assigned["resourceID"]))
        return {call: found or {UNASSIGNED} for call, found in owners.items()}

    def _rows_in(self, entity: str, key: str, ids: list[int], fields: list[str]) -> list[Row]:
        return list(self.client.query(entity, in_(key, ids), fields)) if ids else []

    # --- deletions -----------------------------------------------------------------------------

    def _reconcile(self, in_window: Filter, low: int, high: int | None, psa_count: int) -> None:
        """Make the cache's ids in ``[low, high)`` the PSA's, spending counts only where they differ."""
        cached = self.store.cached_ids(self.kind, self.window, low, high)
        if psa_count == len(cached):
            return
        if (
            psa_count <= self.poll.leaf
            or len(cached) < 2
            or _listing_is_cheaper(cached, psa_count, self.poll.leaf)
        ):
            self._compare(in_window, low, high, cached)
            return
        middle = sorted(cached)[len(cached) // 2]
        left = self.client.count(self.entity, and_(in_window, *_id_range(low, middle)))
        self._reconcile(in_window, low, middle, left)
        self._reconcile(in_window, middle, high, psa_count - left)

    def _compare(self, in_window: Filter, low: int, high: int | None, cached: Mapping[int, set[int]]) -> None:
        listed = {
            row["id"]
            for row in self.client.query(self.entity, and_(in_window, *_id_range(low, high)), ["id"])
        }
        gone = set(cached) - listed
        if gone:
            self.store.replace_cached(self.kind, {psa_id: [] for psa_id in gone})
            self.result.gone.setdefault(self.kind, set()).update(gone)
            self.result.resources.update(r for psa_id in gone for r in cached[psa_id])
        appeared = sorted(listed - set(cached))
        if appeared:
            self._take(self.client.query(self.entity, in_("id", appeared)))


def _listing_is_cheaper(cached: Mapping[int, set[int]], psa_count: int, leaf: int) -> bool:
    """Bisecting costs about a count and a listing per level for each item the counts differ by;
    listing the range costs a page per ``leaf`` items: the cheaper is taken."""
    items = max(len(cached), psa_count)
    bisecting = abs(len(cached) - psa_count) * (math.log2(items / leaf) + 1)
    return math.ceil(items / leaf) <= bisecting


def _id_range(low: int, high: int | None) -> tuple[Filter, ...]:
    return (gte("id", low),) if high is None else (gte("id", low), lt("id", high))


def _hash(row: Mapping[str, Any]) -> str:
    """The item's content as the PSA sent it (its owners are compared beside it)."""
    text = json.dumps(row, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _same(row: Row, cached: list[CachedItem]) -> bool:
    return bool(cached) and all(c.hash == _hash(row) for c in cached)
