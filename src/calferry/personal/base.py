"""The contract every personal-calendar adapter keeps (memory, CalDAV, .ics, Microsoft Graph).

One shared contract test suite (``tests/contract/test_personal_contract.py``) runs against every
adapter. Adapters do I/O and translation only; they raise ``calferry.errors`` and nothing else.

Rules every adapter keeps:
- ``snapshot`` expands recurring series into occurrences inside the window; each occurrence carries the
  series uid (``uid``), ``recurring=True`` and its ``recurrence_id``; a non-recurring item has
  ``recurring=False`` and ``recurrence_id=None``.
- ``version`` changes whenever the stored item changes; ``update``/``delete``/``set_stamp`` given a
  stale version raise ``StaleVersion`` and change nothing. ``None`` means "don't check".
- Stamps (R16, R20) are kept per occurrence for recurring items, and survive unrelated edits.
- A claim (B9) is kept like a stamp; writing a stamp removes the claim. Neither moves the content hash.
- ``set_categories`` rewrites the categories of the one item or occurrence named, nothing else; the
  categories are not part of the content hash either (the org service's category send writes them).
- Items written from the PSA side (``create`` with a stamp of origin DOWNLOADED) never carry
  attendees: no invitation is ever sent.
- A malformed stored item is reported in ``Snapshot.problems`` (a ``Problem``: where, line, uid and
  why) and left untouched; the rest works. One bad item costs that item only.

The data the contract hands over (``Snapshot``, ``Changes``, ``Problem``) lives in the core, in
:mod:`calferry.contracts`: the planner reads it without importing an adapter package.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from calferry.contracts import Changes, Snapshot
from calferry.errors import CalferryError
from calferry.model import Claim, ItemKey, PersonalItem, Stamp, Window


class PersonalCalendar(Protocol):
    """A person's own calendar, seen as items and occurrences."""

    name: str
    """Short adapter name for messages: ``caldav``, ``ics``, ``graph``, ``memory``."""

    def snapshot(self, window: Window) -> Snapshot:
        """Every item and occurrence that overlaps ``window``."""
        ...

    def get(self, key: ItemKey) -> PersonalItem:
        """One item or occurrence; ``NotFound`` if absent."""
        ...

    def create(self, item: PersonalItem) -> PersonalItem:
        """Create a single (non-recurring) item; returns it with its ``version``.

        ``item.uid`` is kept when given; attendees are dropped when the stamp's origin is DOWNLOADED.
        """
        ...

    def create_many(self, items: Sequence[PersonalItem]) -> list[PersonalItem | CalferryError]:
        """Create several items as :meth:`create` does, in as few requests as the calendar allows.

        One result per item, in order: the created item, or the error that item alone met (the others
        are created all the same).
        """
        ...

    def update(self, item: PersonalItem) -> PersonalItem:
        """Rewrite an item or one occurrence (as an override) with optimistic concurrency on ``item.version``.

        Unknown properties of the stored item (X- properties, alarms) are kept.
        """
        ...

    def update_many(self, items: Sequence[PersonalItem]) -> list[PersonalItem | CalferryError]:
        """Update several items as :meth:`update` does (each with its own version check), in as few
        requests as the calendar allows; one result per item, in order, as :meth:`create_many`."""
        ...

    def delete(self, key: ItemKey, version: str | None = None) -> None:
        """Delete one occurrence (EXDATE) when ``key.recurrence_id`` is set, else the whole item or series."""
        ...

    def delete_many(self, keys: Sequence[tuple[ItemKey, str | None]]) -> list[CalferryError | None]:
        """Delete several items as :meth:`delete` does, each ``(key, version)``; one result per item, in
        order: None once it is deleted, or the error it alone met (the others are deleted all the same)."""
        ...

    def set_stamp(self, key: ItemKey, stamp: Stamp | None, version: str | None = None) -> PersonalItem:
        """Write (or remove, with None) calferry's stamp on one item or occurrence, touching nothing else."""
        ...

    def set_claim(self, key: ItemKey, claim: Claim | None, version: str | None = None) -> PersonalItem:
        """Write (or remove) a device's claim (B9) with the same version check; ``set_stamp`` removes it."""
        ...

    def set_categories(
        self, key: ItemKey, categories: tuple[str, ...], version: str | None = None
    ) -> PersonalItem:
        """Write the categories of one item, a series' master (``key`` without recurrence id) or one
        occurrence (as an override), with the same version check, touching nothing else."""
        ...

    def changes(self, window: Window, token: str | None) -> Changes:
        """Items changed since ``token`` (None: everything), falling back to a full listing if refused."""
        ...

    def close(self) -> None:
        """Release connections and locks."""
        ...


_In = TypeVar("_In")
_Out = TypeVar("_Out")


def _each(write: Callable[[_In], _Out], inputs: Sequence[_In]) -> list[_Out | CalferryError]:
    """``write`` per input, each one's error kept as its result, so one bad item costs only itself."""
    results: list[_Out | CalferryError] = []
    for one in inputs:
        try:
            results.append(write(one))
        except CalferryError as exc:
            results.append(exc)
    return results


class WritesEach:
    """``create_many``, ``update_many`` and ``delete_many`` for a calendar with no cheaper way than one
    request per item (memory, .ics, CalDAV)."""

    def create_many(
        self: PersonalCalendar, items: Sequence[PersonalItem]
    ) -> list[PersonalItem | CalferryError]:
        return _each(self.create, items)

    def update_many(
        self: PersonalCalendar, items: Sequence[PersonalItem]
    ) -> list[PersonalItem | CalferryError]:
        return _each(self.update, items)

    def delete_many(
        self: PersonalCalendar, keys: Sequence[tuple[ItemKey, str | None]]
    ) -> list[CalferryError | None]:
        return _each(lambda one: self.delete(*one), keys)
