"""iCalendar <-> PersonalItem, shared by the CalDAV and .ics adapters.

A *resource* is everything stored under one UID: the master (or the single event) and its overrides,
as CalDAV stores them in one object (RFC 4791 §4.1). Reading expands series with recurring-ical-events;
writing edits only the properties whose mapped value changed, so unknown properties (Outlook's
``X-MICROSOFT-*``/``X-MS-OLK-*``, alarms, SEQUENCE) and the original spelling of times survive.

calferry's stamp (R16) is a group of X- properties on the VEVENT that carries it: on the single event,
on the master (then every generated occurrence shows it) or on an override (one occurrence, R20).
A claim (B9) is one more, ``X-CALFERRY-CLAIM: <device> <UTC time> <fingerprint>``, on the same VEVENT;
the stamp replaces it.

One module past 500 lines on purpose: reading and writing work on the same resource (master,
overrides, stamp and claim properties) and must agree on every property they touch; the CalDAV and
.ics adapters share all of it, so it has one home.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import recurring_ical_events
from icalendar import Alarm, Calendar, Component, Event, Timezone, vCalAddress, vRecur
from icalendar.timezone import tzp

from calferry.contracts import Problem
from calferry.errors import InputError, MalformedCalendar, NotFound
from calferry.model import (
    Claim,
    ItemKey,
    Origin,
    PersonalItem,
    PsaKind,
    ShowAs,
    Stamp,
    When,
    Window,
    format_recurrence_id,
    parse_recurrence_id,
)
from calferry.personal import bounds

PRODID = "-//calferry//calferry//EN"
STAMP_KIND = "X-CALFERRY-PSA-KIND"
STAMP_ID = "X-CALFERRY-PSA-ID"
STAMP_COMPANY = "X-CALFERRY-COMPANY-ID"
STAMP_ORIGIN = "X-CALFERRY-ORIGIN"
CLAIM = "X-CALFERRY-CLAIM"
_STAMP_PROPS = (STAMP_KIND, STAMP_ID, STAMP_COMPANY, STAMP_ORIGIN, CLAIM)
_CLAIM_TIME = "%Y%m%dT%H%M%SZ"
_ORIGIN_TEXT = {Origin.DOWNLOADED: "psa", Origin.SENT: "personal"}
_BUSY = "X-MICROSOFT-CDO-BUSYSTATUS"
_BUSY_TEXT = {
    ShowAs.FREE: "FREE",
    ShowAs.TENTATIVE: "TENTATIVE",
    ShowAs.BUSY: "BUSY",
    ShowAs.OUT_OF_OFFICE: "OOF",
    ShowAs.WORKING_ELSEWHERE: "WORKINGELSEWHERE",
}
_SHOW_AS = {text: show for show, text in _BUSY_TEXT.items()} | {"OUTOFOFFICE": ShowAs.OUT_OF_OFFICE}
_RECURRENCE_PROPS = ("RRULE", "RDATE", "EXDATE", "EXRULE")
_ONCE = ("UID", "DTSTART", "DTEND", "DURATION", "RECURRENCE-ID")  # RFC 5545 3.6.1: at most once each
_REASON_LENGTH = 200
_ID_DIGITS = 25  # more is never an id, and int() of thousands of digits is slow
_CUT = (
    f"the series has more than {bounds.MAX_PER_SERIES:,} occurrences in the window; "
    f"only the first {bounds.MAX_PER_SERIES:,} are listed"
)


@dataclass
class Resource:
    """One UID's events (master or single first, then overrides) and the VTIMEZONEs they came with;
    ``where`` and ``line`` say where it was read, for problem reports."""

    uid: str
    events: list[Event] = field(default_factory=list)
    timezones: list[Timezone] = field(default_factory=list)
    where: str = ""
    line: int | None = None

    def problem(self, reason: str, *, skipped: bool = True) -> Problem:
        return Problem(reason, self.where, self.line, self.uid, skipped)

    @property
    def master(self) -> Event | None:
        return next((e for e in self.events if "RECURRENCE-ID" not in e), None)

    @property
    def recurring(self) -> bool:
        return any(p in e for e in self.events for p in ("RRULE", "RDATE", "RECURRENCE-ID"))

    def override(self, rid: str) -> Event | None:
        return next((e for e in self.events if _rid_text(e) == rid), None)

    def to_calendar(self) -> Calendar:
        cal = self._own_calendar()
        for tzid in sorted(cal.get_missing_tzids()):
            timezone = _vtimezone(tzid)
            if timezone is not None:
                cal.subcomponents.insert(len(cal.timezones), timezone)
        return cal

    def to_ical(self) -> bytes:
        """``to_calendar().to_ical()``, with the missing VTIMEZONEs spliced in as text serialized once
        per zone: serializing decades of transitions was most of the cost of writing an item."""
        cal = self._own_calendar()
        text = serialized(cal)
        zones = b"".join(_vtimezone_text(tzid) for tzid in sorted(cal.get_missing_tzids()))
        if not zones:
            return text
        at = text.index(b"\r\nBEGIN:", 1) + 2  # after the calendar's own properties
        return text[:at] + zones + text[at:]

    def _own_calendar(self) -> Calendar:
        cal = new_calendar()
        for tz in self.timezones:
            cal.add_component(tz)
        for event in self.events:
            cal.add_component(event)
        return cal

    def used_tzids(self) -> set[str]:
        cal = Calendar()
        for event in self.events:
            cal.add_component(event)
        return set(cal.get_used_tzids())


@functools.lru_cache(maxsize=32)
def _vtimezone(tzid: str) -> Timezone | None:
    """A zone's VTIMEZONE, built once per process and shared read-only: building one walks decades of
    transitions, which made it the largest cost of writing an item."""
    try:
        return Timezone.from_tzid(tzid)
    except ValueError:
        return None  # an unknown zone gets no VTIMEZONE, as icalendar's add_missing_timezones does


@functools.lru_cache(maxsize=32)
def _vtimezone_text(tzid: str) -> bytes:
    timezone = _vtimezone(tzid)
    return b"" if timezone is None else bytes(timezone.to_ical())


def serialized(component: Component) -> bytes:
    """The component as iCalendar text; ``MalformedCalendar`` when a value read from elsewhere cannot
    be written back (icalendar accepts on reading some values it refuses on writing)."""
    try:
        return bytes(component.to_ical())
    except Exception as exc:  # the serializer raises anything on values it parsed leniently
        raise MalformedCalendar(f"cannot be written: {reason(exc)}") from exc


def new_calendar() -> Calendar:
    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    return cal


# --- parsing ---------------------------------------------------------------------------------


_PARSING = threading.Lock()


def parsed(data: bytes | str) -> Calendar:
    """``Calendar.from_ical`` that reads a calendar's times by its own VTIMEZONEs only.

    icalendar keeps the first VTIMEZONE it meets for a TZID no zone database knows (a Windows name such
    as "W. Europe Standard Time") for the rest of the process: one odd or hostile calendar would then
    decide the times, and the cost of expanding them, of every later calendar read by the same process
    (the next technician's, in the web page or an org worker). Each parse starts from an empty cache
    and leaves the cache as it found it.
    """
    cache: dict[str, Any] | None = getattr(tzp, "_TZP__tz_cache", None)
    with _PARSING:
        saved = dict(cache) if cache is not None else {}
        if cache is not None:
            cache.clear()
        try:
            return Calendar.from_ical(data)
        finally:
            if cache is not None:
                cache.clear()
                cache.update(saved)


def resources_in(data: bytes | str, where: str) -> tuple[list[Resource], list[Problem]]:
    """The resources of one stored object (a CalDAV item); one that cannot be parsed is a problem."""
    try:
        cal = parsed(data)
    except Exception as exc:  # hostile text makes the parser raise anything; it costs this object
        return [], [Problem(f"cannot be parsed: {reason(exc)}", where)]
    return resources_of(cal, where)


def reason(exc: BaseException) -> str:
    """A library's words for what went wrong, short enough for one line of a report."""
    if isinstance(exc, OSError):  # a TZID looked up as a zone file: its path says nothing useful
        return f"a time zone name (TZID) cannot be looked up: {exc.strerror or type(exc).__name__}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= _REASON_LENGTH else text[: _REASON_LENGTH - 3] + "..."


def text_of(value: object) -> str:
    """A property's text; empty for a missing one."""
    return "" if value is None else str(value)


def component_problem(event: Component) -> str | None:
    """What is wrong with one VEVENT (unparseable or repeated values, no UID or start), or None."""
    errors = getattr(event, "errors", None)
    if errors:
        return reason(ValueError("; ".join(f"{name}: {text}" for name, text in errors)))
    repeated = [name for name in _ONCE if isinstance(event.get(name), list)]
    if repeated:
        return f"{repeated[0]} appears more than once"
    if "UID" not in event:
        return "no UID"
    if "DTSTART" not in event:
        return "no DTSTART"
    return _times_problem(event)


def _times_problem(event: Component) -> str | None:
    """A start, end or recurrence id that is not a date or a date-time (a bare time, a period)."""
    for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
        if name in event and not isinstance(getattr(event[name], "dt", None), (date, datetime)):
            return f"{name} is not a date or a date-time"
    if "DURATION" in event and not isinstance(getattr(event["DURATION"], "dt", None), timedelta):
        return "DURATION is not a duration"
    return None


def resources_of(cal: Calendar, where: str) -> tuple[list[Resource], list[Problem]]:
    """Group a calendar's VEVENTs by UID, each with the VTIMEZONEs it uses; a UID with a broken event
    is reported and left out whole."""
    timezones = [cast(Timezone, tz) for tz in cal.walk("VTIMEZONE") if tz.get("TZID")]
    grouped: dict[str, Resource] = {}
    broken: dict[str, Problem] = {}
    for event in cal.walk("VEVENT"):
        uid = text_of(event.get("UID"))
        problem = component_problem(event)
        if problem is not None:
            broken[uid] = Problem(problem, where, uid=uid or "(no UID)")
            continue
        grouped.setdefault(uid, Resource(uid, where=where)).events.append(cast(Event, event))
    for resource in grouped.values():
        resource.events.sort(key=lambda e: "RECURRENCE-ID" in e)
    good = [with_timezones(r, timezones) for uid, r in grouped.items() if uid not in broken]
    return good, list(broken.values())


def with_timezones(resource: Resource, timezones: Iterable[Timezone]) -> Resource:
    """The resource carrying those of ``timezones`` its events use: an object stored alone (a CalDAV
    item, an export) keeps the sender's own VTIMEZONE, e.g. Outlook's Windows-named zones."""
    used = resource.used_tzids()
    return replace(resource, timezones=[tz for tz in timezones if str(tz.get("TZID")) in used])


# --- reading ---------------------------------------------------------------------------------


def in_window(resources: Iterable[Resource], window: Window) -> tuple[list[Resource], list[Problem]]:
    """The whole resources (series with every override) that have an occurrence inside ``window``."""
    candidates = list(resources)
    items, problems = expand(candidates, window, {})
    inside = {item.uid for item in items}
    return [r for r in candidates if r.uid in inside], problems


def expand(
    resources: Iterable[Resource], window: Window, versions: dict[str, str]
) -> tuple[list[PersonalItem], list[Problem]]:
    """Every item and occurrence of ``resources`` inside ``window``; a series that fails is a problem,
    and a series with more than ``bounds.MAX_PER_SERIES`` occurrences in the window lists that many."""
    items: list[PersonalItem] = []
    problems: list[Problem] = []
    for resource in resources:
        try:
            found = _expand_one(resource, window.start, window.end, versions.get(resource.uid))
        except Exception as exc:  # one series' failure, whatever raised it, costs that series
            text = exc.message if isinstance(exc, MalformedCalendar) else f"cannot be read: {reason(exc)}"
            problems.append(resource.problem(text))
            continue
        if len(found) > bounds.MAX_PER_SERIES:
            found = found[: bounds.MAX_PER_SERIES]  # the earliest, as found is in order
            problems.append(resource.problem(_CUT))
        items.extend(found)
    items.sort(key=lambda i: (_utc(i.start), i.ref))
    return items, problems


def _expand_one(
    resource: Resource, start: datetime, end: datetime, version: str | None
) -> list[PersonalItem]:
    recurring = resource.recurring
    found = occurrences(resource, start, end, bounds.MAX_PER_SERIES + 1)
    items = [item_from_event(occ, recurring=recurring, version=version) for occ in found]
    # sorted here, by instants: a time that falls before the year 1 or after 9999 in UTC overflows
    # inside this series' boundary instead of in the sort of the whole listing
    return sorted(items, key=lambda i: (_utc(i.start), _utc(i.end)))


def occurrences(
    resource: Resource, start: datetime, end: datetime, limit: int | None = None
) -> list[Component]:
    """Up to ``limit`` of the resource's occurrences between ``start`` and ``end``, inside the
    expansion bounds; ``MalformedCalendar`` (why) when the series cannot be expanded."""
    refused = bounds.refusal(resource.events)
    if refused is not None:
        raise MalformedCalendar(refused)
    try:
        with bounds.budget():
            return list(itertools.islice(_occurrences(resource, start, end), limit))
    except MalformedCalendar:
        raise
    except Exception as exc:  # the libraries raise anything on hostile rules
        raise MalformedCalendar(f"its dates cannot be worked out: {reason(exc)}") from exc


def _occurrences(resource: Resource, start: datetime, end: datetime) -> Iterator[Component]:
    cal = Calendar()
    for event in resource.events:
        cal.add_component(event)
    query = recurring_ical_events.of(cal)
    for series in query.series:
        for occurrence in series.between(start, end):
            yield occurrence.as_component(query.keep_recurrence_attributes)


def item_from_event(event: Component, *, recurring: bool, version: str | None = None) -> PersonalItem:
    """Map one VEVENT (single, master or expanded occurrence) to a PersonalItem."""
    start, end = _start_end(event)
    rid = _dt(event, "RECURRENCE-ID") if "RECURRENCE-ID" in event else None
    return PersonalItem(
        uid=str(event["UID"]),
        start=start,
        end=end,
        subject=str(event.get("SUMMARY", "")),
        description=str(event.get("DESCRIPTION", "")),
        location=str(event.get("LOCATION", "")),
        private=str(event.get("CLASS", "PUBLIC")).upper() in ("PRIVATE", "CONFIDENTIAL"),
        categories=_categories(event),
        reminder_minutes=_reminder(event),
        show_as=_show_as(event),
        attendees=tuple(_address(a) for a in _as_list(event.get("ATTENDEE"))),
        recurring=recurring,
        recurrence_id=_aware(rid) if recurring and rid is not None else None,
        stamp=read_stamp(event),
        version=version,
        claim=read_claim(event),
    )


def _dt(event: Component, name: str) -> Any:
    """The decoded value (``.dt``) of a date, time or duration property."""
    prop: Any = event[name]
    return prop.dt


def _categories(event: Component) -> tuple[str, ...]:
    return tuple(str(c) for prop in _as_list(event.get("CATEGORIES")) for c in getattr(prop, "cats", ()))


def _start_end(event: Component) -> tuple[When, When]:
    start = _aware(_dt(event, "DTSTART"))
    if "DTEND" in event:
        return start, _aware(_dt(event, "DTEND"))
    try:
        if "DURATION" in event:
            return start, start + _dt(event, "DURATION")
        if isinstance(start, datetime):
            return start, start  # RFC 5545 3.6.1: a timed start alone lasts no time
        return start, start + timedelta(days=1)  # and a date start alone lasts that day
    except OverflowError as exc:
        raise MalformedCalendar("it ends after the year 9999") from exc


def _aware(value: When) -> When:
    """Floating times are read as UTC: the model only holds aware datetimes."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _utc(value: When) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _address(value: object) -> str:
    text = str(value)
    return text[7:] if text.lower().startswith("mailto:") else text


def _reminder(event: Component) -> int | None:
    for alarm in event.walk("VALARM"):
        trigger = alarm.get("TRIGGER")
        if trigger is not None and isinstance(trigger.dt, timedelta):
            return max(0, int(-trigger.dt.total_seconds() // 60))
    return None


def _show_as(event: Component) -> ShowAs:
    busy = str(event.get(_BUSY, "")).upper()
    if busy in _SHOW_AS:
        return _SHOW_AS[busy]
    return ShowAs.FREE if str(event.get("TRANSP", "")).upper() == "TRANSPARENT" else ShowAs.BUSY


def read_stamp(event: Component) -> Stamp | None:
    """calferry's stamp on this VEVENT; a damaged stamp reads as none."""
    if STAMP_ID not in event:
        return None
    try:
        origin = Origin.DOWNLOADED if str(event.get(STAMP_ORIGIN, "")) == "psa" else Origin.SENT
        company = event.get(STAMP_COMPANY)
        return Stamp(
            psa_kind=PsaKind(str(event.get(STAMP_KIND, PsaKind.APPOINTMENT.value))),
            psa_id=_stored_id(event[STAMP_ID]),
            origin=origin,
            company_id=None if company is None else _stored_id(company),
        )
    except ValueError:
        return None


def read_claim(event: Component) -> Claim | None:
    """A device's claim on this VEVENT (B9); a damaged claim reads as none."""
    parts = str(event.get(CLAIM, "")).split()
    if len(parts) != 3:
        return None
    try:
        at = datetime.strptime(parts[1], _CLAIM_TIME).replace(tzinfo=UTC)
    except ValueError:
        return None
    return Claim(parts[0], at, parts[2])


def _stored_id(value: object) -> int:
    """A PSA id from a stamp: a positive 64-bit integer, as the PSA and the link store keep them."""
    number = int(str(value)[:_ID_DIGITS])
    if not 0 < number < 2**63:
        raise ValueError(f"PSA id {number} is out of range")
    return number


def _rid_text(event: Component) -> str | None:
    return format_recurrence_id(_aware(_dt(event, "RECURRENCE-ID"))) if "RECURRENCE-ID" in event else None


# --- finding ---------------------------------------------------------------------------------


def occurrence_event(resource: Resource, rid: str) -> Event:
    """The override for ``rid``, or a new override identical to the generated occurrence (not stored)."""
    found = resource.override(rid)
    if found is not None:
        return found
    at = parse_recurrence_id(rid)
    low = _utc(at) - timedelta(seconds=1)
    high = _utc(at) + (timedelta(days=1) if not isinstance(at, datetime) else timedelta(seconds=1))
    matches = [occ for occ in occurrences(resource, low, high) if _rid_text(occ) == rid]
    if matches:
        return _as_override(matches[0], resource.master)
    raise NotFound(f"series {resource.uid} has no occurrence {rid}", side="personal")


def _as_override(occ: Component, master: Event | None) -> Event:
    """The generated occurrence as a VEVENT of its own, with the master's SEQUENCE: recurring-ical-events
    gives occurrences the series' highest, and calferry, not being the organizer, never raises one."""
    event = Event()
    for name, value in occ.property_items(recursive=False):
        if name not in ("BEGIN", "END", "SEQUENCE", *_RECURRENCE_PROPS):
            event.add(name, value, encode=False)
    if master is not None and "SEQUENCE" in master:
        event.add("SEQUENCE", master["SEQUENCE"], encode=False)
    for sub in occ.subcomponents:
        event.add_component(sub)
    return event


def get_item(resource: Resource, key: ItemKey, version: str | None) -> PersonalItem:
    """The single item, the master (``key`` without recurrence id) or one occurrence."""
    recurring = resource.recurring
    if key.recurrence_id is None:
        master = resource.master
        if master is None:
            raise NotFound(f"no item {key.ref}", side="personal")
        item = item_from_event(master, recurring=recurring, version=version)
        return replace(item, recurrence_id=None)
    if not recurring:
        raise NotFound(f"{key.uid} is not recurring: no occurrence {key.ref}", side="personal")
    event = occurrence_event(resource, key.recurrence_id)
    return item_from_event(event, recurring=True, version=version)


# --- writing ---------------------------------------------------------------------------------


def new_resource(item: PersonalItem, now: datetime) -> Resource:
    """A resource for a new single item; attendees are dropped for items from the PSA side."""
    if item.recurring or item.recurrence_id is not None:
        raise InputError("only single items can be created")
    event = Event()
    event.add("UID", item.uid)
    event.add("DTSTAMP", now.astimezone(UTC))
    write_fields(event, None, replace(item, attendees=allowed_attendees(item)))
    return Resource(item.uid, [event])


def allowed_attendees(item: PersonalItem) -> tuple[str, ...]:
    """Items written from the PSA side never carry attendees: no invitation may ever go out."""
    if item.stamp is not None and item.stamp.origin is Origin.DOWNLOADED:
        return ()
    return item.attendees


def target_event(resource: Resource, key: ItemKey) -> Event:
    """The VEVENT a write to ``key`` goes to; an occurrence without override gets one (added)."""
    if key.recurrence_id is None:
        master = resource.master
        if master is None:
            raise NotFound(f"no item {key.ref}", side="personal")
        return master
    if not resource.recurring:
        raise NotFound(f"{key.uid} is not recurring: no occurrence {key.ref}", side="personal")
    event = occurrence_event(resource, key.recurrence_id)
    if resource.override(key.recurrence_id) is None:
        resource.events.append(event)
    return event


def update_resource(resource: Resource, item: PersonalItem) -> None:
    """Rewrite the fields of one item or occurrence (as an override), keeping everything else."""
    event = target_event(resource, item.key)
    before = item_from_event(event, recurring=resource.recurring)
    write_fields(event, before, replace(item, attendees=allowed_attendees(item)))


def stamp_resource(resource: Resource, key: ItemKey, stamp: Stamp | None) -> None:
    write_stamp(target_event(resource, key), stamp)


def claim_resource(resource: Resource, key: ItemKey, claim: Claim | None) -> None:
    event = target_event(resource, key)
    event.pop(CLAIM, None)
    if claim is not None:
        event.add(
            CLAIM, f"{claim.device} {claim.at.astimezone(UTC).strftime(_CLAIM_TIME)} {claim.fingerprint}"
        )


def categorize_resource(resource: Resource, key: ItemKey, categories: tuple[str, ...]) -> None:
    """One CATEGORIES property with ``categories`` on the VEVENT of ``key``; nothing else is touched."""
    event = target_event(resource, key)
    event.pop("CATEGORIES", None)
    if categories:
        event.add("CATEGORIES", list(categories))


def exclude_occurrence(resource: Resource, rid: str) -> None:
    """Delete one occurrence: EXDATE on the master (with the instance's own time) and no override."""
    event = occurrence_event(resource, rid)
    master = resource.master
    if master is None:
        raise NotFound(f"series {resource.uid} has no master to exclude {rid} from", side="personal")
    master.add("EXDATE", _dt(event, "RECURRENCE-ID"))
    resource.events = [e for e in resource.events if _rid_text(e) != rid]


def write_fields(event: Event, before: PersonalItem | None, after: PersonalItem) -> None:
    """Set the properties whose mapped value differs between ``before`` and ``after`` (all if None)."""
    if before is None or (before.start, before.end) != (after.start, after.end):
        _write_times(event, after.start, after.end)
    for name, attr in (("SUMMARY", "subject"), ("DESCRIPTION", "description"), ("LOCATION", "location")):
        if before is None or getattr(before, attr) != getattr(after, attr):
            _set_text(event, name, getattr(after, attr))
    if before is None or before.private != after.private:
        _replace(event, "CLASS", "PRIVATE" if after.private else None)
    if before is None or before.categories != after.categories:
        event.pop("CATEGORIES", None)
        if after.categories:
            event.add("CATEGORIES", list(after.categories))
    if before is None or before.reminder_minutes != after.reminder_minutes:
        _write_reminder(event, after.reminder_minutes)
    if before is None or before.show_as != after.show_as:
        _write_show_as(event, after.show_as)
    if before is None or before.attendees != after.attendees:
        event.pop("ATTENDEE", None)
        for address in after.attendees:
            event.add("ATTENDEE", vCalAddress(f"mailto:{address}"))
    if before is None or before.stamp != after.stamp:
        write_stamp(event, after.stamp)


def write_stamp(event: Component, stamp: Stamp | None) -> None:
    for name in _STAMP_PROPS:
        event.pop(name, None)
    if stamp is None:
        return
    event.add(STAMP_KIND, stamp.psa_kind.value)
    event.add(STAMP_ID, str(stamp.psa_id))
    if stamp.company_id is not None:
        event.add(STAMP_COMPANY, str(stamp.company_id))
    event.add(STAMP_ORIGIN, _ORIGIN_TEXT[stamp.origin])


def _write_times(event: Event, start: When, end: When) -> None:
    if isinstance(start, datetime) != isinstance(end, datetime):
        raise InputError("start and end must both be dates (all-day) or both be times")
    if isinstance(start, datetime) and isinstance(end, datetime) and (_misread(start) or _misread(end)):
        # both in UTC: recurring-ical-events adds the length to the start on its zone's wall clock
        start, end = start.astimezone(UTC), end.astimezone(UTC)
    for name in ("DTSTART", "DTEND", "DURATION"):
        event.pop(name, None)
    event.add("DTSTART", start)
    event.add("DTEND", end)
    if not isinstance(start, datetime):
        event["X-MICROSOFT-CDO-ALLDAYEVENT"] = "TRUE"
    elif "X-MICROSOFT-CDO-ALLDAYEVENT" in event:
        event["X-MICROSOFT-CDO-ALLDAYEVENT"] = "FALSE"


def _misread(value: datetime) -> bool:
    """True for a local time with ``fold=1`` that its zone repeats or skips: as TZID text it would name
    another instant, since RFC 5545 3.3.5 reads a repeated local time as its first pass and a skipped one
    with the offset before the gap. Such times are written in UTC; every other keeps its zone."""
    return bool(value.fold) and value.utcoffset() != value.replace(fold=0).utcoffset()


def _set_text(event: Component, name: str, value: str) -> None:
    _replace(event, name, value or None)


def _replace(event: Component, name: str, value: str | None) -> None:
    event.pop(name, None)
    if value is not None:
        event.add(name, value)


def _write_reminder(event: Event, minutes: int | None) -> None:
    event.subcomponents = [c for c in event.subcomponents if c.name != "VALARM"]
    if minutes is None:
        return
    alarm = Alarm()
    alarm.add("ACTION", "DISPLAY")
    alarm.add("DESCRIPTION", "Reminder")
    alarm.add("TRIGGER", timedelta(minutes=-minutes))
    event.add_component(alarm)


def _write_show_as(event: Event, show_as: ShowAs) -> None:
    _replace(event, "TRANSP", "TRANSPARENT" if show_as is ShowAs.FREE else "OPAQUE")
    _replace(event, _BUSY, _BUSY_TEXT[show_as])


def series_resource(
    master: PersonalItem,
    rrule: str,
    now: datetime,
    exdates: Iterable[When] = (),
    overrides: Iterable[PersonalItem] = (),
) -> Resource:
    """A recurring resource (for seeding and imports): master with RRULE/EXDATEs, then overrides."""
    resource = new_resource(replace(master, recurring=False, recurrence_id=None), now)
    event = resource.events[0]
    event.add("RRULE", vRecur.from_ical(rrule))
    for excluded in exdates:
        event.add("EXDATE", excluded)
    resource.events += [_override_event(master.uid, override, now) for override in overrides]
    return resource


def occurrence_resource(item: PersonalItem, now: datetime) -> Resource:
    """One occurrence alone, as an override without its master (how an expanded export holds it)."""
    return Resource(item.uid, [_override_event(item.uid, item, now)])


def _override_event(uid: str, item: PersonalItem, now: datetime) -> Event:
    if item.recurrence_id is None:
        raise InputError(f"override of {uid} has no recurrence id")
    event = Event()
    event.add("UID", uid)
    event.add("DTSTAMP", now.astimezone(UTC))
    event.add("RECURRENCE-ID", item.recurrence_id)
    write_fields(event, None, replace(item, attendees=allowed_attendees(item)))
    return event


def calendar_text(resources: Iterable[Resource]) -> bytes:
    """One VCALENDAR holding many resources (a bulk load, an export): their own VTIMEZONEs once per
    TZID, then generated ones for zones none of them brought."""
    cal = new_calendar()
    events: list[Event] = []
    zones: dict[str, Timezone] = {}
    for resource in resources:
        events += resource.events
        for timezone in resource.timezones:
            zones.setdefault(str(timezone["TZID"]), timezone)
    for component in [*zones.values(), *events]:
        cal.add_component(component)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())
