"""The contract every personal-calendar adapter keeps (memory, CalDAV, .ics, Microsoft Graph).

One shared contract test suite (``tests/contract/test_personal_contract.py``) runs against every
adapter. Adapters do I/O and translation only; they raise ``calferry.errors`` and nothing else.

Rules every adapter keeps:
- ``list`` expands recurring series into occurrences inside the window; each occurrence carries the
  series uid (``uid``), ``recurring=True`` and its ``recurrence_id``; a non-recurring item has
  ``recurring=False`` and ``recurrence_id=None``.
- ``version`` changes whenever the stored item changes; ``update``/``delete``/``set_stamp`` given a
  stale version raise ``StaleVersion`` and change nothing. ``None`` means "don't check".
- Stamps (R16, R20) are kept per occurrence for recurring items, and survive unrelated edits.
- A claim (B9) is kept like a stamp; writing a stamp removes the claim. Neither moves the content hash.
- Items written from the PSA side (``create`` with a stamp of origin DOWNLOADED) never carry
  attendees: no invitation is ever sent.
- A malformed stored item is reported in ``Snapshot.problems`` (a ``Problem``: where, line, uid and
  why) and left untouched; the rest works. One bad item costs that item only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from calferry.model import Claim, ItemKey, PersonalItem, Stamp, Window


@dataclass(frozen=True)
class Problem:
    """Something in the personal calendar that could not be read and was left as it is.

    ``where`` is the file or URL (or the calendar's name), ``line`` the line in that file when known,
    ``uid`` the item when known, ``reason`` why. Every adapter fills what it knows: the person reading
    it has to find the thing to fix. ``skipped`` is False for a note about something read anyway (a
    Latin-1 file): only skipped things make ``calferry items`` exit non-zero.
    """

    reason: str
    where: str = ""
    line: int | None = None
    uid: str | None = None
    skipped: bool = True

    def __str__(self) -> str:
        """One line for a person: control characters from the calendar shown as ``?`` (a file must not
        be able to move the cursor or recolour the terminal it is reported on)."""
        parts = [self.where] if self.where else []
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.uid:
            parts.append(f"event {self.uid}")
        text = ": ".join([*parts, self.reason])
        return "".join(c if c.isprintable() else "?" for c in text)

    def to_json(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "line": self.line,
            "uid": self.uid,
            "reason": self.reason,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class Snapshot:
    """The personal items inside a window at one moment, and a token to ask for changes later."""

    items: tuple[PersonalItem, ...]
    token: str | None = None
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class Changes:
    """What changed since a token: changed or new items (expanded), uids gone, and the new token.

    ``full`` is True when the adapter fell back to a full listing because the token was refused;
    then ``changed`` holds every item in the window and ``deleted_uids`` is empty (the caller diffs).
    ``changed_uids`` names every uid written since the token, also one moved out of the window (so
    it has no item in ``changed``); None when the adapter cannot tell, and the caller lists the window.
    """

    changed: tuple[PersonalItem, ...]
    deleted_uids: tuple[str, ...]
    token: str | None
    full: bool = False
    problems: tuple[Problem, ...] = ()
    changed_uids: tuple[str, ...] | None = None


class PersonalCalendar(Protocol):
    """A person's own calendar, seen as items and occurrences."""

    name: str
    """Short adapter name for messages: ``caldav``, ``ics``, ``graph``, ``memory``."""

    def list(self, window: Window) -> Snapshot:
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

    def update(self, item: PersonalItem) -> PersonalItem:
        """Rewrite an item or one occurrence (as an override) with optimistic concurrency on ``item.version``.

        Unknown properties of the stored item (X- properties, alarms) are kept.
        """
        ...

    def delete(self, key: ItemKey, version: str | None = None) -> None:
        """Delete one occurrence (EXDATE) when ``key.recurrence_id`` is set, else the whole item or series."""
        ...

    def set_stamp(self, key: ItemKey, stamp: Stamp | None, version: str | None = None) -> PersonalItem:
        """Write (or remove, with None) calferry's stamp on one item or occurrence, touching nothing else."""
        ...

    def set_claim(self, key: ItemKey, claim: Claim | None, version: str | None = None) -> PersonalItem:
        """Write (or remove) a device's claim (B9) with the same version check; ``set_stamp`` removes it."""
        ...

    def changes(self, window: Window, token: str | None) -> Changes:
        """Items changed since ``token`` (None: everything), falling back to a full listing if refused."""
        ...

    def close(self) -> None:
        """Release connections and locks."""
        ...
