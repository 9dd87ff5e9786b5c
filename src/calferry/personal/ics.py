"""A personal calendar kept in one .ics file (e.g. an Outlook export).

The file is read as a list of top-level component *blocks* (VTIMEZONE, VEVENT, VTODO, ...), each kept as
its exact text. A write replaces only the blocks of the one UID it changes and leaves every other byte
alone, so what calferry does not understand is never rewritten: a VEVENT that cannot be parsed is
reported in ``Snapshot.problems``, kept verbatim on every write, and a write to its UID is refused with
``MalformedCalendar``. Writes hold an exclusive ``fcntl`` lock on ``FILE.lock`` for the whole
read-modify-write and replace the file atomically (temp file + rename).

Versions are a hash of a UID's blocks; the change token is the compressed map of UID -> version, so
``changes`` needs no state beside the file.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from icalendar import Calendar, Component, Event, Timezone

from calferry.errors import Conflict, MalformedCalendar, NotFound, PersonalCalendarError, StaleVersion
from calferry.model import Claim, ItemKey, PersonalItem, Stamp, Window
from calferry.personal import ical
from calferry.personal.base import Changes, Snapshot

_TOKEN_PREFIX = "ics1:"


@dataclass
class _Block:
    """One top-level component: its exact text, its name, (for VEVENTs) its UID, and where it was read
    (the 1-based line of its BEGIN in the file; 0 for a block not read from the file)."""

    text: str
    name: str
    uid: str | None = None
    line: int = 0


@dataclass
class _File:
    """The file split into head, blocks and tail; ``broken`` maps unusable UIDs to their problem."""

    head: str
    blocks: list[_Block]
    tail: str
    newline: str
    resources: dict[str, ical.Resource] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)

    def uid_text(self, uid: str) -> str:
        return "".join(b.text for b in self.blocks if b.uid == uid)

    def version(self, uid: str) -> str:
        return hashlib.sha256(self.uid_text(uid).encode()).hexdigest()[:20]

    def versions(self) -> dict[str, str]:
        return {uid: self.version(uid) for uid in self.resources}

    def render(self) -> str:
        return self.head + "".join(b.text for b in self.blocks) + self.tail


class IcsCalendar:
    """One .ics file as a personal calendar; a missing file is an empty calendar, created on first write."""

    name = "ics"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    # --- reading -----------------------------------------------------------------------------

    def list(self, window: Window) -> Snapshot:
        with self._locked(fcntl.LOCK_SH):
            state = self._read()
        items, problems = ical.expand(state.resources.values(), window, state.versions())
        return Snapshot(
            tuple(items), _token(state.versions()), tuple(state.broken.values()) + tuple(problems)
        )

    def get(self, key: ItemKey) -> PersonalItem:
        with self._locked(fcntl.LOCK_SH):
            state = self._read()
        return ical.get_item(self._resource(state, key.uid), key, state.version(key.uid))

    def resources(self, window: Window) -> tuple[builtins.list[ical.Resource], builtins.list[str]]:
        """The whole resources with an occurrence in ``window`` (series with their rules and overrides,
        unknown properties, the file's VTIMEZONEs they use), and problems: what an export writes.
        Not part of the general contract."""
        with self._locked(fcntl.LOCK_SH):
            state = self._read()
        timezones = _timezones(state, str(self.path))
        found, problems = ical.in_window(state.resources.values(), window)
        return [ical.with_timezones(r, timezones) for r in found], [*state.broken.values(), *problems]

    def changes(self, window: Window, token: str | None) -> Changes:
        with self._locked(fcntl.LOCK_SH):
            state = self._read()
        before = _parse_token(token)
        versions = state.versions()
        problems = tuple(state.broken.values())
        if before is None:
            items, expand_problems = ical.expand(state.resources.values(), window, versions)
            return Changes(
                tuple(items), (), _token(versions), full=True, problems=problems + tuple(expand_problems)
            )
        changed = [state.resources[u] for u, v in versions.items() if before.get(u) != v]
        deleted = sorted(u for u in before if u not in versions and u not in state.broken)
        items, expand_problems = ical.expand(changed, window, versions)
        return Changes(
            tuple(items), tuple(deleted), _token(versions), problems=problems + tuple(expand_problems)
        )

    # --- writing -----------------------------------------------------------------------------

    def create(self, item: PersonalItem) -> PersonalItem:
        with self._locked(fcntl.LOCK_EX):
            state = self._read()
            if item.uid in state.resources or item.uid in state.broken:
                raise Conflict(f"an item with uid {item.uid} already exists in {self.path}")
            resource = ical.new_resource(item, datetime.now(UTC))
            return self._written(state, resource, item.key)

    def add_resource(self, resource: ical.Resource) -> None:
        """Store a whole resource (a series with its overrides) under a new UID, as an import does."""
        with self._locked(fcntl.LOCK_EX):
            state = self._read()
            if resource.uid in state.resources or resource.uid in state.broken:
                raise Conflict(f"an item with uid {resource.uid} already exists in {self.path}")
            self._write_resource(state, resource)

    def update(self, item: PersonalItem) -> PersonalItem:
        with self._locked(fcntl.LOCK_EX):
            state = self._read()
            resource = self._checked(state, item.key, item.version)
            ical.update_resource(resource, item)
            return self._written(state, resource, item.key)

    def delete(self, key: ItemKey, version: str | None = None) -> None:
        with self._locked(fcntl.LOCK_EX):
            state = self._read()
            resource = self._checked(state, key, version)
            if key.recurrence_id is None:
                resource.events = []
            else:
                if not resource.recurring:
                    raise NotFound(f"{key.uid} is not recurring: no occurrence {key.ref}", side="personal")
                ical.exclude_occurrence(resource, key.recurrence_id)
            self._write_resource(state, resource)

    def set_stamp(self, key: ItemKey, stamp: Stamp | None, version: str | None = None) -> PersonalItem:
        return self._mark(key, version, lambda resource: ical.stamp_resource(resource, key, stamp))

    def set_claim(self, key: ItemKey, claim: Claim | None, version: str | None = None) -> PersonalItem:
        return self._mark(key, version, lambda resource: ical.claim_resource(resource, key, claim))

    def _mark(
        self, key: ItemKey, version: str | None, write: Callable[[ical.Resource], None]
    ) -> PersonalItem:
        """Version check and write under the file lock: of two devices, the second gets StaleVersion."""
        with self._locked(fcntl.LOCK_EX):
            state = self._read()
            resource = self._checked(state, key, version)
            write(resource)
            return self._written(state, resource, key)

    def close(self) -> None:
        """Nothing is held between calls."""

    # --- internals ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        try:
            handle = self._lock_path.open("a")
        except OSError as exc:
            raise PersonalCalendarError(f"cannot open lock file {self._lock_path}: {exc}") from exc
        with handle:
            fcntl.flock(handle, mode)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read(self) -> _File:
        try:
            with self.path.open(encoding="utf-8", newline="") as handle:  # keep CRLF: blocks stay verbatim
                text = handle.read()
        except FileNotFoundError:
            text = ""
        except (OSError, UnicodeDecodeError) as exc:
            raise MalformedCalendar(f"cannot read: {exc}", where=str(self.path)) from exc
        state = _split(text, str(self.path))
        _parse_blocks(state, str(self.path))
        return state

    def _resource(self, state: _File, uid: str) -> ical.Resource:
        if uid in state.broken:
            raise MalformedCalendar(
                f"event {uid} cannot be read, so it is left untouched: {state.broken[uid]}"
            )
        resource = state.resources.get(uid)
        if resource is None:
            raise NotFound(f"no item {uid} in {self.path}", side="personal")
        return resource

    def _checked(self, state: _File, key: ItemKey, version: str | None) -> ical.Resource:
        resource = self._resource(state, key.uid)
        if version is not None and version != state.version(key.uid):
            raise StaleVersion(f"{key.ref} changed since it was read")
        return resource

    def _written(self, state: _File, resource: ical.Resource, key: ItemKey) -> PersonalItem:
        """Write the resource and return the item as stored, without reading the whole file again."""
        self._write_resource(state, resource)
        return ical.get_item(resource, key, state.version(resource.uid))

    def _write_resource(self, state: _File, resource: ical.Resource) -> None:
        """Replace the blocks of one UID (in place of the first one) and add the VTIMEZONEs it needs."""
        new_blocks = _event_blocks(state, resource)
        old = [i for i, b in enumerate(state.blocks) if b.uid == resource.uid]
        at = old[0] if old else len(state.blocks)
        kept = [b for b in state.blocks if b.uid != resource.uid]
        at -= sum(1 for i in old if i < at)
        state.blocks = kept[:at] + new_blocks + kept[at:]
        if not state.head:
            state.head = _lines(state.newline, "BEGIN:VCALENDAR", f"PRODID:{ical.PRODID}", "VERSION:2.0")
            state.tail = _lines(state.newline, "END:VCALENDAR")
        self._replace_file(state.render())

    def _replace_file(self, text: str) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise PersonalCalendarError(f"cannot write {self.path}: {exc}") from exc


def _lines(newline: str, *lines: str) -> str:
    return "".join(line + newline for line in lines)


def _split(text: str, where: str) -> _File:
    """Cut the text into head (up to the first component), top-level blocks and tail."""
    newline = "\r\n" if "\r\n" in text or not text else "\n"
    lines = text.splitlines(keepends=True)
    if text and not (lines and lines[0].strip().upper() == "BEGIN:VCALENDAR"):
        raise MalformedCalendar("not an iCalendar file (no BEGIN:VCALENDAR)", where=where)
    head: list[str] = []
    blocks: list[_Block] = []
    current: list[str] = []
    depth = 0
    for index, line in enumerate(lines):
        upper = line.strip().upper()
        if depth == 0 and upper.startswith("BEGIN:") and index > 0:
            current, depth = [line], 1
            name, first_line = upper[6:], index + 1
        elif depth > 0:
            current.append(line)
            depth += upper.startswith("BEGIN:") - upper.startswith("END:")
            if depth == 0:
                blocks.append(_Block("".join(current), name, line=first_line))
        elif upper == "END:VCALENDAR":
            return _File("".join(head), blocks, "".join(lines[index:]), newline)
        else:
            head.append(line)
    if text:
        raise MalformedCalendar("the file ends inside a component (no END:VCALENDAR)", where=where)
    return _File("", [], "", newline)


def _parse_blocks(state: _File, where: str) -> None:
    """Parse the events, with the file's VTIMEZONEs, block by block: one bad event spoils nothing else."""
    zones = _zone_text(state)
    whole = state.head + zones + "".join(b.text for b in state.blocks if b.name == "VEVENT") + state.tail
    try:
        cal = ical.parse_calendar(whole, where)
    except MalformedCalendar:
        cal = None
    count = sum(1 for b in state.blocks if b.name == "VEVENT")
    events = iter(cal.walk("VEVENT")) if cal is not None and _top_level_count(cal) == count else None
    for block in state.blocks:
        if block.name != "VEVENT":
            continue
        parsed = next(events) if events is not None else _parse_one(state.head, zones, block, state.tail)
        _add_event(state, block, parsed, where)


def _zone_text(state: _File) -> str:
    return "".join(b.text for b in state.blocks if b.name == "VTIMEZONE")


def _timezones(state: _File, where: str) -> builtins.list[Timezone]:
    """The file's VTIMEZONEs, parsed; none when they cannot be (an export then generates its own)."""
    zones = _zone_text(state)
    try:
        cal = ical.parse_calendar(state.head + zones + state.tail, where)
    except MalformedCalendar:
        return []
    return [cast(Timezone, tz) for tz in cal.walk("VTIMEZONE")]


def _top_level_count(cal: Calendar) -> int:
    return sum(1 for c in cal.subcomponents if c.name == "VEVENT")


def _parse_one(head: str, zones: str, block: _Block, tail: str) -> Component | str:
    """The block's VEVENT, or why icalendar cannot parse it (its own words, for the problem line)."""
    try:
        cal = Calendar.from_ical(head + zones + block.text + tail)
    except (ValueError, IndexError, KeyError) as exc:
        return str(exc) or type(exc).__name__
    found = cal.walk("VEVENT")
    return found[0] if found else "no VEVENT in the block"


def _add_event(state: _File, block: _Block, event: Component | str, where: str) -> None:
    if isinstance(event, str):
        block.uid = _uid_from_text(block.text)
        state.broken[block.uid] = (
            f"{where}: line {block.line}: an event ({block.uid}) cannot be parsed: {event}"
        )
        return
    block.uid = str(event.get("UID", "")) or _uid_from_text(block.text)
    problem = ical.component_problem(event)
    if problem is not None or block.uid in state.broken:
        state.broken[block.uid] = (
            f"{where}: event {block.uid}: {problem or 'a sibling event cannot be parsed'}"
        )
        state.resources.pop(block.uid, None)
        return
    resource = state.resources.setdefault(block.uid, ical.Resource(block.uid))
    resource.events.append(cast(Event, event))
    resource.events.sort(key=lambda e: "RECURRENCE-ID" in e)


def _uid_from_text(text: str) -> str:
    for line in text.splitlines():
        if line.upper().startswith("UID:"):
            return line[4:].strip()
    return f"(unnamed block {hashlib.sha256(text.encode()).hexdigest()[:8]})"


def _event_blocks(state: _File, resource: ical.Resource) -> builtins.list[_Block]:
    """The resource's events as new blocks, plus VTIMEZONE blocks for zones the file does not have yet."""
    if not resource.events:
        return []
    cal = resource.to_calendar()
    known = {_tzid_from_text(b.text) for b in state.blocks if b.name == "VTIMEZONE"}
    zones = [tz for tz in cal.walk("VTIMEZONE") if str(tz["TZID"]) not in known]
    blocks = [_Block(_text(tz, state.newline), "VTIMEZONE") for tz in zones]
    blocks += [_Block(_text(e, state.newline), "VEVENT", resource.uid) for e in resource.events]
    return blocks


def _tzid_from_text(text: str) -> str:
    for line in text.splitlines():
        if line.upper().startswith("TZID:"):
            return line[5:].strip()
    return ""


def _text(component: Component, newline: str) -> str:
    text = str(component.to_ical().decode("utf-8"))
    return text if newline == "\r\n" else text.replace("\r\n", "\n")


def _token(versions: dict[str, str]) -> str:
    raw = json.dumps(versions, separators=(",", ":"), sort_keys=True).encode()
    return _TOKEN_PREFIX + base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode()


def _parse_token(token: str | None) -> dict[str, str] | None:
    """The UID -> version map a token holds; None when absent or not one of ours (full listing)."""
    if token is None or not token.startswith(_TOKEN_PREFIX):
        return None
    try:
        data = json.loads(zlib.decompress(base64.urlsafe_b64decode(token[len(_TOKEN_PREFIX) :])))
    except (ValueError, zlib.error):
        return None
    return data if isinstance(data, dict) else None
