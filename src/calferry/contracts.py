"""The data the adapters hand the core: what a calendar or the PSA holds at one moment, and what changed.

Pure, like the rest of the core (it imports :mod:`calferry.model` only). The Protocols that produce
these values stay with their adapters (:mod:`calferry.personal.base`, :mod:`calferry.psa.base`); the
values live here so the planner and the incremental reads never import an adapter package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from calferry.model import ActionType, Company, Contact, PersonalItem, PsaItem, PsaRef


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


@dataclass(frozen=True)
class PsaSnapshot:
    """The PSA items of one resource inside a window, with what their rendering needs (R28).

    ``companies``, ``contacts`` and ``action_types`` hold the records the items refer to, fetched in
    batches (never one request per item).
    """

    items: tuple[PsaItem, ...]
    companies: dict[int, Company] = field(default_factory=dict)
    contacts: dict[int, Contact] = field(default_factory=dict)
    action_types: dict[int, ActionType] = field(default_factory=dict)


@dataclass(frozen=True)
class PsaMarker:
    """An item's id and change marker only (``updateDateTime`` & co): enough to see nothing changed."""

    ref: PsaRef
    version: str | None
