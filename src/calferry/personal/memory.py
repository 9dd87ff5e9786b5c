"""An in-memory personal calendar that keeps the whole contract; the engine's tests run on it.

Seeding:

- single items: ``MemoryCalendar([item, ...])`` or :meth:`MemoryCalendar.create`;
- a recurring series: :meth:`MemoryCalendar.add_series` with the master item (its start/end are the first
  occurrence), an RRULE text such as ``"FREQ=WEEKLY;COUNT=10"`` (UNTIL in UTC when the start is timed),
  excluded occurrences and overrides (occurrences that differ, e.g. moved; each with ``recurrence_id`` set
  to the original start).

It behaves like one CalDAV resource per uid: a series and its overrides share one ``version`` (an edit of
one occurrence moves the version of all of them), stamps live on the single item or on an override (a
stamp on a plain occurrence creates an override identical to it), and ``changes`` reports every uid
written or deleted since a token. Tokens are the text of a write counter; anything else is refused and
answered with a full listing (``Changes.full``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from dateutil.rrule import rruleset, rrulestr

from calferry.contracts import Changes, Problem, Snapshot
from calferry.errors import Conflict, InputError, NotFound, StaleVersion
from calferry.model import (
    Claim,
    ItemKey,
    Origin,
    PersonalItem,
    Stamp,
    When,
    Window,
    format_recurrence_id,
    parse_recurrence_id,
)
from calferry.personal.base import WritesEach


@dataclass
class _Series:
    """A recurring item: the master, its rule, excluded occurrences and overrides (by recurrence id text)."""

    master: PersonalItem
    rule: str
    exdates: set[str] = field(default_factory=set)
    overrides: dict[str, PersonalItem] = field(default_factory=dict)


_Entry = PersonalItem | _Series


class MemoryCalendar(WritesEach):
    """A personal calendar held in a dict; see the module docstring for seeding and semantics."""

    name = "memory"

    def __init__(self, items: Iterable[PersonalItem] = (), problems: Iterable[Problem] = ()) -> None:
        self.problems = tuple(problems)
        """What this calendar reports as unreadable in every listing (a stand-in for a damaged store)."""
        self._entries: dict[str, _Entry] = {}
        self._versions: dict[str, str] = {}
        self._changed_at: dict[str, int] = {}
        self._deleted_at: dict[str, int] = {}
        self._clock = 0
        for item in items:
            self.create(item)

    # --- seeding -----------------------------------------------------------------------------

    def add_series(
        self,
        master: PersonalItem,
        rrule_text: str,
        exdates: Iterable[When] = (),
        overrides: Iterable[PersonalItem] = (),
    ) -> PersonalItem:
        """Add a recurring series; returns its master (``recurring=True``) with its version."""
        if master.uid in self._entries:
            raise Conflict(f"an item with uid {master.uid} already exists")
        _rule(rrule_text, master.start)  # reject a bad rule before storing anything
        series = _Series(replace(master, recurring=True, recurrence_id=None, version=None), rrule_text)
        series.exdates = {format_recurrence_id(d) for d in exdates}
        for override in overrides:
            if override.recurrence_id is None:
                raise InputError(f"override of {master.uid} has no recurrence id")
            key = format_recurrence_id(override.recurrence_id)
            series.overrides[key] = replace(override, uid=master.uid, recurring=True, version=None)
        self._entries[master.uid] = series
        self._touch(master.uid)
        return self._versioned(series.master)

    # --- reading -----------------------------------------------------------------------------

    def snapshot(self, window: Window) -> Snapshot:
        items = [occ for uid in self._entries for occ in self._in_window(uid, window)]
        return Snapshot(tuple(sorted(items, key=_sort_key)), str(self._clock), self.problems)

    def get(self, key: ItemKey) -> PersonalItem:
        entry = self._entries.get(key.uid)
        if entry is None:
            raise NotFound(f"no item {key.ref}", side="personal")
        if isinstance(entry, PersonalItem):
            if key.recurrence_id is not None:
                raise NotFound(f"{key.uid} is not recurring: no occurrence {key.ref}", side="personal")
            return self._versioned(entry)
        if key.recurrence_id is None:
            return self._versioned(entry.master)
        return self._versioned(self._occurrence(entry, key))

    def changes(self, window: Window, token: str | None) -> Changes:
        since = _parse_token(token, self._clock)
        if since is None:
            return Changes(
                self.snapshot(window).items, (), str(self._clock), full=True, problems=self.problems
            )
        changed_uids = sorted(uid for uid, at in self._changed_at.items() if at > since)
        changed = [occ for uid in changed_uids for occ in self._in_window(uid, window)]
        deleted = sorted(uid for uid, at in self._deleted_at.items() if at > since)
        return Changes(
            tuple(changed),
            tuple(deleted),
            str(self._clock),
            problems=self.problems,
            changed_uids=tuple(changed_uids),
        )

    # --- writing -----------------------------------------------------------------------------

    def create(self, item: PersonalItem) -> PersonalItem:
        if item.recurring or item.recurrence_id is not None:
            raise InputError("create makes single items; seed a series with add_series")
        if item.uid in self._entries:
            raise Conflict(f"an item with uid {item.uid} already exists")
        stored = replace(item, version=None, attendees=_allowed_attendees(item))
        self._entries[item.uid] = stored
        self._touch(item.uid)
        return self._versioned(stored)

    def update(self, item: PersonalItem) -> PersonalItem:
        entry = self._checked(item.key, item.version)
        if isinstance(entry, PersonalItem):
            if item.recurrence_id is not None:
                raise NotFound(f"{item.uid} is not recurring", side="personal")
            stored: PersonalItem = replace(item, version=None, recurring=False)
            self._entries[item.uid] = stored
        elif item.recurrence_id is None:
            stored = replace(item, version=None, recurring=True)
            entry.master = stored
        else:
            self._occurrence(entry, item.key)  # NotFound for an occurrence the series does not have
            stored = replace(item, version=None, recurring=True)
            entry.overrides[item.key.recurrence_id or ""] = stored
        self._touch(item.uid)
        return self._versioned(stored)

    def delete(self, key: ItemKey, version: str | None = None) -> None:
        entry = self._checked(key, version)
        if key.recurrence_id is None:
            del self._entries[key.uid]
            self._deleted_at[key.uid] = self._tick()
            self._changed_at.pop(key.uid, None)
            return
        if isinstance(entry, PersonalItem):
            raise NotFound(f"{key.uid} is not recurring", side="personal")
        self._occurrence(entry, key)
        entry.overrides.pop(key.recurrence_id, None)
        entry.exdates.add(key.recurrence_id)
        self._touch(key.uid)

    def set_stamp(self, key: ItemKey, stamp: Stamp | None, version: str | None = None) -> PersonalItem:
        return self._mark(key, version, stamp=stamp, claim=None)  # the stamp replaces a claim

    def set_claim(self, key: ItemKey, claim: Claim | None, version: str | None = None) -> PersonalItem:
        return self._mark(key, version, claim=claim)

    def set_categories(
        self, key: ItemKey, categories: tuple[str, ...], version: str | None = None
    ) -> PersonalItem:
        return self._mark(key, version, categories=tuple(categories))

    def _mark(self, key: ItemKey, version: str | None, **marks: Any) -> PersonalItem:
        entry = self._checked(key, version)
        if isinstance(entry, PersonalItem):
            if key.recurrence_id is not None:
                raise NotFound(f"{key.uid} is not recurring", side="personal")
            stored = replace(entry, **marks)
            self._entries[key.uid] = stored
        elif key.recurrence_id is None:
            stored = replace(entry.master, **marks)
            entry.master = stored
        else:
            stored = replace(self._occurrence(entry, key), **marks, version=None)
            entry.overrides[key.recurrence_id] = stored
        self._touch(key.uid)
        return self._versioned(stored)

    def close(self) -> None:
        """Nothing to release."""

    # --- internals ---------------------------------------------------------------------------

    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    def _touch(self, uid: str) -> None:
        at = self._tick()
        self._changed_at[uid] = at
        self._deleted_at.pop(uid, None)
        self._versions[uid] = f"m{at}"

    def _versioned(self, item: PersonalItem) -> PersonalItem:
        return replace(item, version=self._versions[item.uid])

    def _checked(self, key: ItemKey, version: str | None) -> _Entry:
        """The stored entry for ``key``; NotFound if absent, StaleVersion if ``version`` is old."""
        entry = self._entries.get(key.uid)
        if entry is None:
            raise NotFound(f"no item {key.ref}", side="personal")
        if version is not None and version != self._versions[key.uid]:
            raise StaleVersion(f"{key.ref} changed since it was read (version {version})")
        return entry

    def _in_window(self, uid: str, window: Window) -> list[PersonalItem]:
        entry = self._entries[uid]
        if isinstance(entry, PersonalItem):
            found = [entry] if _overlaps(window, entry) else []
        else:
            found = [occ for occ in _occurrences_near(entry, window) if _overlaps(window, occ)]
        return [self._versioned(occ) for occ in sorted(found, key=_sort_key)]

    def _occurrence(self, series: _Series, key: ItemKey) -> PersonalItem:
        """The override or generated occurrence ``key`` of ``series``; NotFound if the rule has none."""
        rid = key.recurrence_id or ""
        if rid in series.overrides:
            return series.overrides[rid]
        original = None if rid in series.exdates else _generated_at(series, rid)
        if original is None:
            raise NotFound(f"series {key.uid} has no occurrence {rid}", side="personal")
        return _instance(series, original)


def _allowed_attendees(item: PersonalItem) -> tuple[str, ...]:
    """Items written from the PSA side never carry attendees: no invitation may ever go out."""
    if item.stamp is not None and item.stamp.origin is Origin.DOWNLOADED:
        return ()
    return item.attendees


def _parse_token(token: str | None, clock: int) -> int | None:
    """The write count a token stands for, or None when it is absent or not one of ours."""
    if token is None or not token.isdigit() or int(token) > clock:
        return None
    return int(token)


def _utc_bounds(item: PersonalItem) -> tuple[datetime, datetime]:
    return _as_utc(item.start), _as_utc(item.end)


def _as_utc(value: When) -> datetime:
    """All-day dates count as UTC days when compared with a window."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.combine(value, time(), UTC)


def _overlaps(window: Window, item: PersonalItem) -> bool:
    return window.overlaps(*_utc_bounds(item))


def _sort_key(item: PersonalItem) -> tuple[datetime, str]:
    return _as_utc(item.start), item.ref


def _rule(text: str, start: When) -> rruleset:
    """The dateutil rule; all-day series run on naive midnights, timed ones in the start's zone."""
    dtstart = start if isinstance(start, datetime) else datetime.combine(start, time())
    try:
        return rrulestr(text, dtstart=dtstart, forceset=True)
    except (ValueError, TypeError) as exc:
        raise InputError(f"bad recurrence rule {text!r}: {exc}") from exc


def _rule_time(value: datetime, start: When) -> datetime:
    """A UTC instant as the rule compares it (naive for all-day series)."""
    return value if isinstance(start, datetime) else value.replace(tzinfo=None)


def _from_rule(value: datetime, start: When) -> When:
    return value if isinstance(start, datetime) else value.date()


def _duration(item: PersonalItem) -> timedelta:
    if isinstance(item.start, datetime) and isinstance(item.end, datetime):
        return item.end - item.start
    return _day(item.end) - _day(item.start)


def _day(value: When) -> date:
    return value.date() if isinstance(value, datetime) else value


def _instance(series: _Series, original: When) -> PersonalItem:
    """The generated occurrence starting at ``original``: the master's fields at that start."""
    end = original + _duration(series.master)
    return replace(series.master, start=original, end=end, recurrence_id=original, version=None)


def _generated_at(series: _Series, rid: str) -> When | None:
    """The rule's occurrence whose recurrence id text is ``rid``, if there is one."""
    start = series.master.start
    try:
        at = _as_utc(parse_recurrence_id(rid))
    except ValueError:
        return None
    rule = _rule(series.rule, start)
    slack = timedelta(seconds=1)
    for found in rule.between(_rule_time(at - slack, start), _rule_time(at + slack, start), inc=True):
        candidate = _from_rule(found, start)
        if format_recurrence_id(candidate) == rid:
            return candidate
    return None


def _occurrences_near(series: _Series, window: Window) -> Iterator[PersonalItem]:
    """Generated occurrences that may meet ``window`` plus every override (overrides may have moved)."""
    start = series.master.start
    rule = _rule(series.rule, start)
    low = window.start - _duration(series.master) - timedelta(days=1)
    high = window.end + timedelta(days=1)
    for found in rule.between(_rule_time(low, start), _rule_time(high, start), inc=True):
        original = _from_rule(found, start)
        rid = format_recurrence_id(original)
        if rid not in series.exdates and rid not in series.overrides:
            yield _instance(series, original)
    for rid, override in series.overrides.items():
        if rid not in series.exdates:
            yield override
