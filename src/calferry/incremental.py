"""Incremental Get (B3): what the last Get read of both sides, and how the next one reads only changes.

Pure: no I/O. The service keeps a :class:`GetCache` in the link store's state; on the next Get it asks
the personal calendar for changes since the cached token and the PSA for markers only, and builds the
same snapshots a full read would give from the cache plus what changed, so ``plan_get`` plans exactly
what it would after a full read. The cache is a shortcut and never a source of truth: a cache for
another window, resource or kinds, one that does not decode, a refused token, an adapter that cannot
name the uids it changed, or a problem line in the changes all mean a full read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from calferry.contracts import Changes, PsaMarker, PsaSnapshot
from calferry.identity import psa_version
from calferry.model import Link, PersonalItem, PsaItem, PsaKind, PsaRef, Window, psa_kind_of
from calferry.plan_codec import decode, encode

FORMAT = 1
"""Bumped whenever the cache's shape changes: an older cache is then simply not used."""


@dataclass(frozen=True)
class GetCache:
    """Both sides inside one window as the last Get left them (the personal side after its own writes)."""

    window: Window
    resource_id: int
    kinds: tuple[PsaKind, ...]
    token: str | None
    personal: tuple[PersonalItem, ...]
    psa: tuple[PsaItem, ...]

    def fits(self, window: Window, resource_id: int, kinds: Sequence[PsaKind]) -> bool:
        """Only a cache of the very same window, resource and kinds stands in for a full read."""
        return (self.window, self.resource_id, self.kinds) == (window, resource_id, tuple(kinds))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "window": [self.window.start.isoformat(), self.window.end.isoformat()],
            "resource_id": self.resource_id,
            "kinds": [k.value for k in self.kinds],
            "token": self.token,
            "personal": encode(self.personal),
            "psa": encode(self.psa),
        }

    @classmethod
    def from_json(cls, data: Any) -> GetCache | None:
        """The cache, or None for anything unexpected (a full read follows, so nothing is lost)."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        try:
            start, end = (datetime.fromisoformat(t) for t in data["window"])
            return cls(
                Window(start, end),
                int(data["resource_id"]),
                tuple(PsaKind(k) for k in data["kinds"]),
                data["token"],
                _typed(decode(data["personal"]), PersonalItem),
                _typed(decode(data["psa"]), PsaItem),
            )
        except (KeyError, TypeError, ValueError):
            return None


def _typed(values: Any, kind: Any) -> tuple[Any, ...]:
    if not isinstance(values, tuple) or not all(isinstance(v, kind) for v in values):
        raise TypeError("unexpected cache content")
    return values


def merged_personal(cached: Sequence[PersonalItem], changes: Changes) -> tuple[PersonalItem, ...] | None:
    """The window's items now: cached ones of untouched uids plus what changed; None if uncertain."""
    if changes.full:
        return in_order(changes.changed)
    if changes.changed_uids is None or changes.problems:
        return None  # a moved-out or malformed item would hide in the cache: list the window instead
    touched = {*changes.changed_uids, *changes.deleted_uids, *(i.uid for i in changes.changed)}
    kept = [item for item in cached if item.uid not in touched]
    return in_order([*kept, *changes.changed])


def in_order(items: Iterable[PersonalItem]) -> tuple[PersonalItem, ...]:
    """One order for listed and merged items alike, so both plan their actions in the same order."""
    return tuple(sorted(items, key=lambda i: (_instant(i.start), i.ref)))


def _instant(when: date | datetime) -> datetime:
    if isinstance(when, datetime):
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return datetime.combine(when, time(), UTC)


def reusable(
    markers: Iterable[PsaMarker], cached: Iterable[PsaItem], links: Iterable[Link]
) -> dict[PsaRef, PsaItem]:
    """Cached PSA items that may stand in for a fresh read: the marker did not move, and the item is
    linked at exactly that version, so ``plan_get`` neither renders it nor sees it changed.

    Everything else (new, changed, unlinked, or linked at another version) is fetched afresh, with
    the companies, contacts and action types its rendering needs.
    """
    by_ref = {_ref(item): item for item in cached}
    linked = {link.psa: link.psa_version for link in links}
    found: dict[PsaRef, PsaItem] = {}
    for marker in markers:
        item = by_ref.get(marker.ref)
        if item is None or not _same_marker(marker.version, item):
            continue
        if marker.ref in linked and linked[marker.ref] == psa_version(item):
            found[marker.ref] = item
    return found


def _same_marker(version: str | None, item: PsaItem) -> bool:
    """Markers are compared as instants: adapters write them as text in their own format."""
    if version is None or item.updated is None:
        return False
    try:
        return _instant(datetime.fromisoformat(version)) == _instant(item.updated)
    except ValueError:
        return False


def merged_psa(
    markers: Sequence[PsaMarker], kept: Mapping[PsaRef, PsaItem], fetched: PsaSnapshot
) -> PsaSnapshot:
    """The snapshot a full read would give: the listed items, reused or fetched, with the fetched
    items' references (the only items ``plan_get`` renders)."""
    listed = {m.ref for m in markers}
    fresh = [item for item in fetched.items if _ref(item) in listed and _ref(item) not in kept]
    return PsaSnapshot((*kept.values(), *fresh), fetched.companies, fetched.contacts, fetched.action_types)


def _ref(item: PsaItem) -> PsaRef:
    return PsaRef(psa_kind_of(item), item.id or 0)
