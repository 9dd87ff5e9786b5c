"""Reading an .ics file block by block, so that one bad part costs that part only.

The text is cut into top-level component *blocks* (VTIMEZONE, VEVENT, VTODO, ...), each kept as its
exact text with the line it starts on. Every VTIMEZONE is parsed on its own (a broken or duplicated one
is reported and left out), then the events with the good zones; when that fails, each event is parsed
alone. What cannot be read becomes a ``Problem`` naming the file, the line, the UID and the reason;
stray lines (an ``END:`` without its ``BEGIN:``) and text after ``END:VCALENDAR`` are kept verbatim and
reported. Used by the .ics calendar and by ``calferry import``.

Reading is tolerant where calendars in the wild are sloppy: a UTF-8 byte order mark, blank lines
before ``BEGIN:VCALENDAR``, CR-only line ends, and Latin-1 bytes (read with a note: RFC 5545 text is
UTF-8, and a write stores it so).
"""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass, field
from typing import cast

from icalendar import Calendar, Component, Event, Timezone

from calferry.contracts import Problem
from calferry.errors import MalformedCalendar
from calferry.personal import ical

_TOP_LEVEL = {"VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VTIMEZONE", "VAVAILABILITY"}  # never nested


@dataclass
class Block:
    """One top-level component (or stray line): its exact text, its name, (for VEVENTs) its UID, and
    the 1-based line of its first line in the file (0 for a block not read from the file)."""

    text: str
    name: str
    uid: str | None = None
    line: int = 0


@dataclass
class IcsFile:
    """The file split into head, blocks and tail; ``broken`` maps unusable UIDs to their problem,
    ``problems`` holds what is wrong beside events (zones, stray lines, the encoding)."""

    head: str
    blocks: list[Block]
    tail: str
    newline: str
    where: str = ""
    bom: bool = False
    resources: dict[str, ical.Resource] = field(default_factory=dict)
    broken: dict[str, Problem] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    timezones: list[Timezone] = field(default_factory=list)
    zone_text: str = ""
    parse_head: str = ""

    def uid_text(self, uid: str) -> str:
        return "".join(b.text for b in self.blocks if b.uid == uid)

    def version(self, uid: str) -> str:
        return hashlib.sha256(self.uid_text(uid).encode()).hexdigest()[:20]

    def versions(self) -> dict[str, str]:
        """Every readable UID's version, in one pass over the blocks (a UID's blocks may be apart)."""
        texts: dict[str, list[str]] = {}
        for block in self.blocks:
            if block.uid is not None and block.uid in self.resources:
                texts.setdefault(block.uid, []).append(block.text)
        return {uid: hashlib.sha256("".join(parts).encode()).hexdigest()[:20] for uid, parts in texts.items()}

    def all_problems(self) -> list[Problem]:
        return [*self.problems, *self.broken.values()]

    def render(self) -> str:
        return ("\ufeff" if self.bom else "") + self.head + "".join(b.text for b in self.blocks) + self.tail


def read(data: bytes, where: str) -> IcsFile:
    """The file's blocks, events and zones; ``MalformedCalendar`` only when it is no calendar at all."""
    text, bom, note = decode(data, where)
    state = split(text, where)
    state.bom = bom
    if note is not None:
        state.problems.append(note)
    _check_head(state)
    _parse_zones(state)
    _parse_events(state)
    return state


def decode(data: bytes, where: str) -> tuple[str, bool, Problem | None]:
    """The text, whether it had a UTF-8 byte order mark, and a note when it was not UTF-8."""
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8) :] if bom else data
    try:
        return body.decode("utf-8"), bom, None
    except UnicodeDecodeError as exc:
        note = Problem(
            f"the file is not UTF-8 (byte {exc.start + 1}), so it was read as Latin-1; "
            "a change calferry writes stores it as UTF-8",
            where,
            skipped=False,
        )
        return body.decode("latin-1"), bom, note


def split(text: str, where: str) -> IcsFile:
    """Cut the text into head (up to the first component), top-level blocks and tail."""
    newline = _newline(text)
    lines = text.splitlines(keepends=True)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return IcsFile("", [], "", newline, where)
    if lines[first].strip().upper() != "BEGIN:VCALENDAR":
        raise MalformedCalendar("not an iCalendar file (no BEGIN:VCALENDAR)", where=where)
    state = IcsFile("", [], "", newline, where)
    head: list[str] = []
    current: list[str] = []
    depth, name, start = 0, "", 0
    for index in range(first + 1, len(lines)):
        line = lines[index]
        upper = line.strip().upper()
        if depth > 0 and (
            (upper[6:] in _TOP_LEVEL and upper.startswith("BEGIN:")) or upper == "END:VCALENDAR"
        ):
            _stray_block(state, current, name, start)  # a component that never ended: it costs itself
            depth = 0
        if depth > 0:
            current.append(line)
            depth += upper.startswith("BEGIN:") - upper.startswith("END:")
            if depth == 0:
                state.blocks.append(Block("".join(current), name, line=start))
        elif upper.startswith("BEGIN:"):
            current, depth, name, start = [line], 1, upper[6:], index + 1
        elif upper == "END:VCALENDAR":
            state.head, state.tail = "".join(lines[: first + 1] + head), "".join(lines[index:])
            _check_tail(state, lines, index)
            return state
        elif state.blocks or upper.startswith("END:"):
            _stray(state, line, index + 1)
        else:
            head.append(line)  # the calendar's own properties
    return _unfinished(state, lines[: first + 1] + head, current if depth else [], start, name)


def _stray_block(state: IcsFile, current: list[str], name: str, start: int) -> None:
    state.blocks.append(Block("".join(current), "", line=start))
    state.problems.append(
        Problem(f"a {name or 'component'} started here never ends; ignored", state.where, start)
    )


def _newline(text: str) -> str:
    if "\r\n" in text or not text:
        return "\r\n"
    return "\r" if "\r" in text and "\n" not in text else "\n"


def _stray(state: IcsFile, line: str, number: int) -> None:
    """A line between components: kept verbatim; an ``END:`` without its ``BEGIN:`` is reported."""
    state.blocks.append(Block(line, "", line=number))
    if line.strip().upper().startswith("END:"):
        state.problems.append(
            Problem(f"a stray {line.strip()[:40]!r} line without its BEGIN; ignored", state.where, number)
        )


def _check_tail(state: IcsFile, lines: list[str], index: int) -> None:
    extra = next((i for i in range(index + 1, len(lines)) if lines[i].strip()), None)
    if extra is not None:
        state.problems.append(
            Problem("text after END:VCALENDAR is not read (a second calendar?)", state.where, extra + 1)
        )


def _unfinished(state: IcsFile, head: list[str], current: list[str], start: int, name: str) -> IcsFile:
    """The file ends without END:VCALENDAR: an unfinished last component is kept verbatim and reported."""
    state.head = "".join(head)
    if current:
        _stray_block(state, current, name, start)
    state.problems.append(Problem("the file has no END:VCALENDAR line", state.where, skipped=False))
    return state


# --- parsing ---------------------------------------------------------------------------------


def _check_head(state: IcsFile) -> None:
    """The calendar's own lines are parsed with every part: when they cannot be read, plain ones are
    used instead, so that one bad line there does not spoil every event."""
    parsed = _parse_alone(state, "")
    if isinstance(parsed, str) and state.head:
        state.problems.append(
            Problem(f"the calendar's own lines cannot be read ({parsed}); ignored", state.where, 1)
        )
        state.parse_head = "BEGIN:VCALENDAR\r\n"


def _parse_zones(state: IcsFile) -> None:
    """Each VTIMEZONE alone: one that cannot be read, has no TZID or repeats one is left out."""
    seen: set[str] = set()
    for block in state.blocks:
        if block.name != "VTIMEZONE":
            continue
        parsed = _parse_alone(state, block.text)
        zone = next(iter(parsed.walk("VTIMEZONE")), None) if isinstance(parsed, Calendar) else None
        if zone is None:
            state.problems.append(
                Problem(f"a time zone cannot be read: {parsed}; ignored", state.where, block.line)
            )
            continue
        reason = _zone_problem(zone, seen)
        if reason is not None:
            state.problems.append(Problem(reason, state.where, block.line))
            continue
        seen.add(str(zone["TZID"]))
        state.timezones.append(cast(Timezone, zone))
        state.zone_text += block.text


def _zone_problem(zone: Component, seen: set[str]) -> str | None:
    tzid = str(zone.get("TZID", ""))
    if not tzid:
        return "a time zone without TZID; ignored"
    if tzid in seen:
        return f"a second definition of time zone {tzid[:80]}; the first one is used"
    errors = _errors(zone)
    return None if errors is None else f"time zone {tzid[:80]} cannot be read: {errors}; ignored"


def _errors(zone: Component) -> str | None:
    """What icalendar could not read in a zone or its parts, in its own words."""
    errors = [f"{name}: {text}" for part in zone.walk() for name, text in getattr(part, "errors", ())]
    return ical.reason(ValueError("; ".join(errors))) if errors else None


def _parse_events(state: IcsFile) -> None:
    """All events at once with the good zones; when that fails, each event alone."""
    events = [b for b in state.blocks if b.name == "VEVENT"]
    if not events:
        return
    zones = state.zone_text
    whole = _parse_alone(state, zones + "".join(b.text for b in events))
    parsed = [c for c in whole.subcomponents if c.name == "VEVENT"] if isinstance(whole, Calendar) else []
    together = len(parsed) == len(events)
    for index, block in enumerate(events):
        event = parsed[index] if together else _first_event(_parse_alone(state, zones + block.text))
        _add_event(state, block, event)


def _parse_alone(state: IcsFile, body: str) -> Calendar | str:
    """``body`` inside the file's own calendar lines, parsed; or why it cannot be (icalendar's words)."""
    head = state.parse_head or state.head.lstrip() or "BEGIN:VCALENDAR\r\n"
    text = head + body + "END:VCALENDAR\r\n"
    try:
        return ical.parsed(text.replace("\r", "\n") if state.newline == "\r" else text)
    except Exception as exc:  # hostile text makes the parser raise anything; it costs this part
        return ical.reason(exc)


def _first_event(parsed: Calendar | str) -> Component | str:
    if isinstance(parsed, str):
        return parsed
    found = parsed.walk("VEVENT")
    return found[0] if found else "no VEVENT in the block"


def _add_event(state: IcsFile, block: Block, event: Component | str) -> None:
    if isinstance(event, str):
        block.uid = uid_from_text(block.text)
        state.broken[block.uid] = Problem(f"cannot be parsed: {event}", state.where, block.line, block.uid)
        state.resources.pop(block.uid, None)
        return
    block.uid = ical.text_of(event.get("UID")) or uid_from_text(block.text)
    problem = ical.component_problem(event)
    if problem is not None or block.uid in state.broken:
        reason = problem or "another part of the same event cannot be parsed"
        state.broken.setdefault(block.uid, Problem(reason, state.where, block.line, block.uid))
        state.resources.pop(block.uid, None)
        return
    resource = state.resources.setdefault(
        block.uid, ical.Resource(block.uid, where=state.where, line=block.line)
    )
    resource.events.append(cast(Event, event))
    resource.events.sort(key=lambda e: "RECURRENCE-ID" in e)


def uid_from_text(text: str) -> str:
    for line in text.splitlines():
        if line.upper().startswith("UID:"):
            return line[4:].strip()
    return f"(unnamed block {hashlib.sha256(text.encode()).hexdigest()[:8]})"
