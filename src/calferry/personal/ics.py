"""A personal calendar kept in one .ics file (e.g. an Outlook export).

The file is read as a list of top-level component *blocks* (VTIMEZONE, VEVENT, VTODO, ...), each kept as
its exact text (``icsfile``). A write replaces only the blocks of the one UID it changes and leaves every
other byte alone, so what calferry does not understand is never rewritten: a VEVENT, VTIMEZONE or line
that cannot be read is reported in ``Snapshot.problems``, kept verbatim on every write, and a write to a
broken UID is refused with ``MalformedCalendar``. Writes hold an exclusive ``fcntl`` lock on
``FILE.lock`` for the whole read-modify-write and replace the file atomically (temp file + rename).

Versions are a hash of a UID's blocks; the change token is the compressed map of UID -> version, so
``changes`` needs no state beside the file.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from icalendar import Component

from calferry.contracts import Changes, Problem, Snapshot
from calferry.errors import Conflict, MalformedCalendar, NotFound, PersonalCalendarError, StaleVersion
from calferry.model import Claim, ItemKey, PersonalItem, Stamp, Window
from calferry.personal import ical
from calferry.personal.base import WritesEach
from calferry.personal.icsfile import Block, IcsFile
from calferry.personal.icsfile import read as read_file

_TOKEN_PREFIX = "ics1:"


class IcsCalendar(WritesEach):
    """One .ics file as a personal calendar; a missing file is an empty calendar, created on first write."""

    name = "ics"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    # --- reading -----------------------------------------------------------------------------

    def snapshot(self, window: Window) -> Snapshot:
        with self._locked(fcntl.LOCK_SH):
            state = self._read()
        items, problems = ical.expand(state.resources.values(), window, state.versions())
        return Snapshot(tuple(items), _token(state.versions()), (*state.all_problems(), *problems))

    def get(self, key: ItemKey) -> PersonalItem:
        with self._locked(fcntl.LOCK_SH):
            state = self._read()
        return ical.get_item(self._resource(state, key.uid), key, state.version(key.uid))

    def resources(self, window: Window) -> tuple[list[ical.Resource], list[Problem]]:
        """The whole resources with an occurrence in ``window`` (series with their rules and overrides,
        unknown properties, the file's VTIMEZONEs they use), and problems: what an export writes.
        Not part of the general contract."""
        with self._locked(fcntl.LOCK_SH):
            state = self._read()
        found, problems = ical.in_window(state.resources.values(), window)
        return [ical.with_timezones(r, state.timezones) for r in found], [*state.all_problems(), *problems]

    def changes(self, window: Window, token: str | None) -> Changes:
        with self._locked(fcntl.LOCK_SH):
            state = self._read()
        before = _parse_token(token)
        versions = state.versions()
        problems = tuple(state.all_problems())
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
        added, problems = self.add_resources([resource])
        if problems:
            raise MalformedCalendar(problems[0].reason)
        if added != [resource.uid]:
            raise Conflict(f"an item with uid {resource.uid} already exists in {self.path}")

    def add_resources(self, resources: Iterable[ical.Resource]) -> tuple[list[str], list[Problem]]:
        """Store many whole resources in one read and one write (an import): the UIDs added (those
        already in the file are left out), and the resources that cannot be written, as problems."""
        with self._locked(fcntl.LOCK_EX):
            state = self._read()
            added: list[str] = []
            problems: list[Problem] = []
            for resource in resources:
                if resource.uid in state.resources or resource.uid in state.broken:
                    continue
                try:
                    blocks = _event_blocks(state, resource)
                except MalformedCalendar as exc:
                    problems.append(resource.problem(exc.message))
                    continue
                _frame(state)
                state.blocks += blocks
                state.resources[resource.uid] = resource
                added.append(resource.uid)
            if added:
                self._replace_file(state.render())
            return added, problems

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

    def set_categories(
        self, key: ItemKey, categories: tuple[str, ...], version: str | None = None
    ) -> PersonalItem:
        return self._mark(key, version, lambda resource: ical.categorize_resource(resource, key, categories))

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

    def _read(self) -> IcsFile:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        except OSError as exc:
            raise MalformedCalendar(f"cannot read: {exc.strerror}", where=str(self.path)) from exc
        return read_file(data, str(self.path))

    def _resource(self, state: IcsFile, uid: str) -> ical.Resource:
        if uid in state.broken:
            raise MalformedCalendar(
                f"event {uid} cannot be read, so it is left untouched: {state.broken[uid]}"
            )
        resource = state.resources.get(uid)
        if resource is None:
            raise NotFound(f"no item {uid} in {self.path}", side="personal")
        return resource

    def _checked(self, state: IcsFile, key: ItemKey, version: str | None) -> ical.Resource:
        resource = self._resource(state, key.uid)
        if version is not None and version != state.version(key.uid):
            raise StaleVersion(f"{key.ref} changed since it was read")
        return resource

    def _written(self, state: IcsFile, resource: ical.Resource, key: ItemKey) -> PersonalItem:
        """Write the resource and return the item as stored, without reading the whole file again."""
        self._write_resource(state, resource)
        return ical.get_item(resource, key, state.version(resource.uid))

    def _write_resource(self, state: IcsFile, resource: ical.Resource) -> None:
        self._place(state, resource)
        self._replace_file(state.render())

    def _place(self, state: IcsFile, resource: ical.Resource) -> None:
        """Replace the blocks of one UID (in place of the first one) and add the VTIMEZONEs it needs."""
        new_blocks = _event_blocks(state, resource)
        old = [i for i, b in enumerate(state.blocks) if b.uid == resource.uid]
        at = old[0] if old else len(state.blocks)
        kept = [b for b in state.blocks if b.uid != resource.uid]
        at -= sum(1 for i in old if i < at)
        state.blocks = kept[:at] + new_blocks + kept[at:]
        _frame(state)

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


def _frame(state: IcsFile) -> None:
    """A new file gets the calendar's own lines; a file that lacked END:VCALENDAR gets it back."""
    if not state.head:
        state.head = _lines(state.newline, "BEGIN:VCALENDAR", f"PRODID:{ical.PRODID}", "VERSION:2.0")
    state.tail = state.tail or _lines(state.newline, "END:VCALENDAR")


def _lines(newline: str, *lines: str) -> str:
    return "".join(line + newline for line in lines)


def _event_blocks(state: IcsFile, resource: ical.Resource) -> list[Block]:
    """The resource's events as new blocks, plus VTIMEZONE blocks for zones the file does not have yet."""
    if not resource.events:
        return []
    cal = resource.to_calendar()
    known = {_tzid_from_text(b.text) for b in state.blocks if b.name == "VTIMEZONE"}
    zones = [tz for tz in cal.walk("VTIMEZONE") if str(tz["TZID"]) not in known]
    blocks = [Block(_text(tz, state.newline), "VTIMEZONE") for tz in zones]
    blocks += [Block(_text(e, state.newline), "VEVENT", resource.uid) for e in resource.events]
    return blocks


def _tzid_from_text(text: str) -> str:
    for line in text.splitlines():
        if line.upper().startswith("TZID:"):
            return line[5:].strip()
    return ""


def _text(component: Component, newline: str) -> str:
    return ical.serialized(component).decode("utf-8").replace("\r\n", newline)


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
