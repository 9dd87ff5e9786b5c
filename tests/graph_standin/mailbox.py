"""The stand-in's state: one user's mailbox with two calendars, events, series, a change log and faults.

Events are kept in Graph's own JSON shape; keys starting with ``_`` are private bookkeeping
(calendar, extended properties, a series' exceptions and cancelled occurrences) and never leave.
Occurrence ids are built from the master id and the original start; clients must treat them as opaque.
"""

from __future__ import annotations

import base64
import copy
import html
import json
import math
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import DAILY, WEEKLY, rrule, weekdays
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

GRAPH_TIME = "%Y-%m-%dT%H:%M:%S.0000000"
DEFAULT_CALENDAR = "AAMkAGI2-calendar"
SHARED_CALENDAR = "AAMkAGI2-shared-dispatch"
SHARED_OWNER = "dispatch@contoso.test"
CALENDARS = {DEFAULT_CALENDAR: "Calendar", "AAMkAGI2-technician": "Technician", SHARED_CALENDAR: "Dispatch"}
"""The user's own two calendars, and one shared with them from another mailbox (``SHARED_OWNER``'s)."""
_DAYS = dict(
    zip(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"], weekdays, strict=True)
)
Event = dict[str, Any]


class GraphError(Exception):
    """An error answer in Graph's shape: ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


@dataclass
class Faults:
    """Switchable misbehaviour.

    - ``throttle_requests`` / ``throttle_batch_members``: the next N requests ($batch members) answered 429;
    - ``throttle_share``: that share of all requests and $batch members answered 429 as well, spread
      evenly (never two in a row while it is below one half);
    - ``lose_answers``: method -> the next N such requests are carried out, then the connection drops
      before their answer arrives;
    - ``time_out_after``: method -> the next N such requests are carried out, then answered 504 (a
      gateway timeout says nothing of what happened behind it);
    - ``hold_seconds``: every request waits that long before it is answered;
    - ``withhold_original_start``: ``originalStart`` is left out even when selected (as docs issue #4353
      reports of some answers), so only ``occurrenceId`` names an occurrence;
    - ``throttle_while``: every request is answered 429 (with ``retry_after``) while it returns True;
    - ``hold_until``: every request waits until it returns True (10 seconds at most) before it is answered.
    """

    throttle_requests: int = 0
    throttle_batch_members: int = 0
    throttle_without_retry_after: bool = False
    throttle_share: float = 0.0
    retry_after: str = "0.01"
    hold_seconds: float = 0.0
    lose_answers: dict[str, int] = field(default_factory=dict)
    time_out_after: dict[str, int] = field(default_factory=dict)
    withhold_original_start: bool = False
    throttle_while: Callable[[], bool] | None = None
    hold_until: Callable[[], bool] | None = None
    _counted: int = 0

    def throttled_by_share(self) -> bool:
        """Whether this request or member is one of ``throttle_share``: the n-th is when ⌊(n+1)s⌋ > ⌊ns⌋."""
        n, self._counted = self._counted, self._counted + 1
        return math.floor((n + 1) * self.throttle_share) > math.floor(n * self.throttle_share)

    def answer_lost(self, method: str) -> bool:
        return _take(self.lose_answers, method)

    def timed_out(self, method: str) -> bool:
        return _take(self.time_out_after, method)


def _take(counts: dict[str, int], method: str) -> bool:
    if counts.get(method, 0) <= 0:
        return False
    counts[method] -= 1
    return True


@dataclass(frozen=True)
class Mail:
    """A message a real mailbox sends on its own: ``kind`` is invitation, update or cancellation."""

    kind: str
    subject: str
    to: tuple[str, ...]


@dataclass
class Stats:
    """What the stand-in saw: requests (method, path?query) and their answers' statuses, Prefer headers,
    concurrency, batch sizes and members (as sent), $batch members answered 429, answers lost, and when
    each answer left (``answered``: monotonic seconds, status, method, path)."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    answered: list[tuple[float, int, str, str]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    prefer: list[str] = field(default_factory=list)
    if_match: list[str] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    batches: list[list[dict[str, Any]]] = field(default_factory=list)
    throttled_members: int = 0
    lost_answers: int = 0
    in_flight: int = 0
    max_in_flight: int = 0


def to_graph_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime(GRAPH_TIME)


def parse_time(stamp: dict[str, str]) -> datetime:
    """A ``dateTimeTimeZone`` as an aware datetime in its own zone (IANA or Windows name)."""
    zone = stamp.get("timeZone") or "UTC"
    try:
        tz = ZoneInfo(WINDOWS_TO_OLSON.get(zone, "UTC" if zone == "UTC" else zone))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise GraphError(400, "TimeZoneNotSupportedException", f"unknown time zone {zone!r}") from exc
    return datetime.fromisoformat(stamp["dateTime"].rstrip("Z")[:26]).replace(tzinfo=tz)


def utc_stamp(stamp: dict[str, str]) -> dict[str, str]:
    """What Graph answers under ``Prefer: outlook.timezone="UTC"``."""
    return {"dateTime": to_graph_time(parse_time(stamp)), "timeZone": "UTC"}


def html_to_text(content: str) -> str:
    """Roughly what Exchange makes of an HTML body when text is asked for: tags gone, breaks kept."""
    text = re.sub(r"(?is)<(head|style|script)\b.*?</\1>", "", re.sub(r"\s*[\r\n]\s*", " ", content))
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return "\n".join(line.strip() for line in text.replace("\r", "").split("\n")).strip()


def _all_day_stamp(stamp: dict[str, str]) -> dict[str, str]:
    """Graph gives all-day bounds as midnights whatever ``outlook.timezone`` asks for (its date stays)."""
    return {"dateTime": parse_time(stamp).strftime("%Y-%m-%dT00:00:00.0000000"), "timeZone": "UTC"}


def _rid(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def encode_token(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def decode_token(text: str) -> dict[str, Any]:
    try:
        result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(text.encode()))
    except ValueError as exc:
        raise GraphError(400, "ErrorInvalidUrlQuery", "bad token") from exc
    return result


class Mailbox:
    """One user's mailbox as the stand-in serves it; ``owner`` is the user's address."""

    def __init__(self, owner: str = "adele.vance@contoso.test") -> None:
        self.owner = owner
        self.user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"user:{owner.casefold()}"))
        self.app_access = True
        """Whether the org's app may reach this mailbox (inside the group its RBAC for Applications
        scope or application access policy allows); when not, Graph answers 403 ErrorAccessDenied."""
        self.events: dict[str, Event] = {}
        self.log: list[tuple[int, str, Event | None]] = []
        self.seq = 0
        self.generation = 0
        self.token_refusal = (410, "SyncStateNotFound")
        self.faults = Faults()
        self.stats = Stats()
        self.sent_mail: list[Mail] = []
        """What Exchange would have mailed to attendees: a meeting the owner organises mails them on
        POST (invitation), on any PATCH (update: Graph has no way to say "don't notify", and whether a
        change of an extended property alone notifies is not documented, so here it does) and on
        DELETE (cancellation)."""

    # --- bookkeeping ---------------------------------------------------------------------------

    def _changed(self, event_id: str, tombstone: Event | None = None) -> None:
        self.seq += 1
        self.log.append((self.seq, event_id, tombstone))

    def expire_delta_tokens(self, status: int = 410, code: str = "SyncStateNotFound") -> None:
        """Every delta and skip token issued so far is refused from now on, with that status and code.

        Graph's docs name 410 ``SyncStateNotFound``; real mailboxes also answer 400 ``InvalidDeltaToken``.
        """
        self.generation += 1
        self.token_refusal = (status, code)

    def check_generation(self, token: dict[str, Any]) -> None:
        if token["g"] != self.generation:
            raise GraphError(*self.token_refusal, "The sync state generation is not valid.")

    # --- reading ---------------------------------------------------------------------------------

    def view(self, calendar: str, start: datetime, end: datetime) -> list[Event]:
        """calendarView: singles, occurrences and exceptions that overlap [start, end), by start."""
        found: list[Event] = []
        for event in self.events.values():
            if event["_calendar"] != calendar:
                continue
            if event["type"] == "seriesMaster":
                found.extend(self.instances(event, start, end))
            elif _overlaps(event, start, end):
                found.append(event)
        return sorted(found, key=lambda e: (e["start"]["dateTime"], e["id"]))

    def instances(self, master: Event, start: datetime, end: datetime) -> list[Event]:
        found = [occ for occ in self._expand(master) if _overlaps(occ, start, end)]
        return sorted(found, key=lambda e: (e["start"]["dateTime"], e["id"]))

    def find(self, event_id: str) -> Event:
        """A single event, a series master, or one occurrence / exception of a series."""
        if event_id in self.events:
            return self.events[event_id]
        master_id = event_id.rpartition("_OCC_")[0]
        master = self.events.get(master_id)
        if master is not None:
            for occ in self._expand(master):
                if occ["id"] == event_id:
                    return occ
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")

    def filtered(self, calendar: str, ical_uid: str | None, prop: tuple[str, str] | None) -> list[Event]:
        """``GET .../events?$filter=``: singles and series masters by iCalUId or extended property value."""
        found = []
        for event in self.events.values():
            if event["_calendar"] != calendar:
                continue
            if ical_uid is not None and event["iCalUId"] != ical_uid:
                continue
            if prop is not None and event["_props"].get(prop[0].lower(), ("", None))[1] != prop[1]:
                continue
            found.append(event)
        return found

    def occurrence_id(self, master_id: str, original: datetime) -> str:
        """The id the stand-in gives the occurrence of ``master_id`` that starts at ``original``."""
        return f"{master_id}_OCC_{_rid(original)}"

    def _expand(self, master: Event) -> Iterator[Event]:
        """Every occurrence of a series (bounded: noEnd series stop after two years)."""
        first = parse_time(master["start"])
        length = parse_time(master["end"]) - first
        for original in _rule(master["recurrence"], first):
            rid = _rid(original)
            if rid in master["_cancelled"]:
                continue
            yield self._occurrence(master, original, length, master["_exceptions"].get(rid))

    def _occurrence(
        self, master: Event, original: datetime, length: timedelta, override: Event | None
    ) -> Event:
        occ = {k: copy.deepcopy(v) for k, v in master.items() if k not in ("_exceptions", "_cancelled")}
        occ.update(
            id=f"{master['id']}_OCC_{_rid(original)}",
            type="occurrence",
            seriesMasterId=master["id"],
            originalStart=original.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            occurrenceId=f"OID.{master['id']}.{original.date().isoformat()}",
            iCalUId=f"{master['iCalUId']}{_rid(original)}",
            recurrence=None,
            start={"dateTime": to_graph_time(original), "timeZone": "UTC"},
            end={"dateTime": to_graph_time(original.astimezone(UTC) + length), "timeZone": "UTC"},
        )
        if override is not None:
            occ.update({k: copy.deepcopy(v) for k, v in override.items() if k != "_props"})
            occ["_props"] = {**master["_props"], **override["_props"]}
            occ["type"] = "exception"
        return occ

    # --- writing ---------------------------------------------------------------------------------

    def create(
        self, calendar: str, body: Event, ical_uid: str | None = None, organizer: str | None = None
    ) -> Event:
        """POST .../events; a repeated ``transactionId`` returns the event made the first time.

        ``ical_uid`` seeds an item as if imported from an .ics file (Graph itself never takes one);
        ``organizer`` seeds a meeting someone else sent to this mailbox.
        """
        txn = body.get("transactionId")
        for made in self.events.values():
            if txn and made.get("transactionId") == txn:
                return made
        for key in ("start", "end"):
            if key not in body:
                raise GraphError(400, "ErrorInvalidRequest", f"{key} is required")
            parse_time(body[key])  # an unknown time zone is refused before anything is stored
        event_id = "AAMkAGI2" + uuid.uuid4().hex
        event: Event = {
            "subject": "",
            "body": {"contentType": "text", "content": ""},
            "categories": [],
            "sensitivity": "normal",
            "showAs": "busy",
            "isAllDay": False,
            "isReminderOn": True,
            "reminderMinutesBeforeStart": 15,
            "attendees": [],
            "location": {"displayName": ""},
            "recurrence": None,
        }
        event.update(_writable(body))
        event.update(
            id=event_id,
            iCalUId=ical_uid or "040000008200E00074C5B7101A82E00800000000" + uuid.uuid4().hex,
            type="seriesMaster" if body.get("recurrence") else "singleInstance",
            seriesMasterId=None,
            originalStart=None,
            occurrenceId=None,
            isOrganizer=organizer in (None, self.owner),
            organizer={"emailAddress": {"address": organizer or self.owner}},
            isCancelled=False,
            transactionId=txn,
            _calendar=calendar,
            _props=_props(body),
            _exceptions={},
            _cancelled=set(),
        )
        self.events[event_id] = event
        self._stamp(event)
        self._changed(event_id)
        self._mail("invitation", event)
        return event

    def patch(self, event_id: str, body: Event, if_match: str | None) -> Event:
        """PATCH an event; patching an occurrence turns it into an exception of its series."""
        target = self.find(event_id)
        _check_etag(target, if_match)
        self._mail("update", target)
        if target["type"] not in ("occurrence", "exception"):
            props = {**target["_props"], **_props(body)}
            target.update(_writable(body), _props=props)
            self._stamp(target)
            self._changed(event_id)
            return target
        master = self.events[target["seriesMasterId"]]
        rid = event_id.rpartition("_OCC_")[2]
        if "start" in body:
            self._check_boundary(master, target, parse_time(body["start"]))
        override = master["_exceptions"].setdefault(rid, {"_props": {}})
        override.update(_writable(body), _props={**override["_props"], **_props(body)})
        self._stamp(override)
        self._changed(event_id)
        return self.find(event_id)

    def _check_boundary(self, master: Event, target: Event, start: datetime) -> None:
        """An occurrence may not move to or before the previous one's day, nor to or after the next's."""
        zone = parse_time(master["start"]).tzinfo
        days = sorted(parse_time(o["start"]).astimezone(zone).date() for o in self._expand(master))
        own = parse_time(target["start"]).astimezone(zone).date()
        before = [d for d in days if d < own]
        after = [d for d in days if d > own]
        day = start.astimezone(zone).date()
        if (before and day <= before[-1]) or (after and day >= after[0]):
            raise GraphError(
                400,
                "ErrorOccurrenceCrossingBoundary",
                "An occurrence cannot overlap or cross the boundary of the previous or following occurrence.",
            )

    def delete(self, event_id: str, if_match: str | None) -> None:
        target = self.find(event_id)
        _check_etag(target, if_match)
        self._mail("cancellation", target)
        if target["type"] in ("occurrence", "exception"):
            master = self.events[target["seriesMasterId"]]
            rid = event_id.rpartition("_OCC_")[2]
            master["_exceptions"].pop(rid, None)
            master["_cancelled"].add(rid)
            self._changed(event_id, tombstone={"id": event_id})
            return
        del self.events[event_id]
        self._changed(event_id, tombstone=target)

    def _mail(self, kind: str, event: Event) -> None:
        to = tuple(a["emailAddress"]["address"] for a in event.get("attendees") or ())
        if to and event.get("isOrganizer"):
            self.sent_mail.append(Mail(kind, str(event.get("subject", "")), to))

    def _stamp(self, event: Event) -> None:
        change_key = base64.b64encode(uuid.uuid4().bytes[:12]).decode()
        event["changeKey"] = change_key
        event["lastModifiedDateTime"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    # --- delta -----------------------------------------------------------------------------------

    def delta_since(self, calendar: str, token: dict[str, Any]) -> list[Event]:
        """Delta entries since a token: changed events (occurrences sparse) and ``@removed`` ones."""
        self.check_generation(token)
        start, end = datetime.fromisoformat(token["a"]), datetime.fromisoformat(token["b"])
        last: dict[str, Event | None] = {}
        for seq, event_id, tombstone in self.log:
            if seq > token["s"]:
                last[event_id] = tombstone
        entries: list[Event] = []
        for event_id, tombstone in last.items():
            if tombstone is not None:
                entries.extend(_removed(tombstone, self, start, end))
                continue
            entries.extend(self._changed_entries(calendar, event_id, start, end))
        return entries

    def _changed_entries(self, calendar: str, event_id: str, start: datetime, end: datetime) -> list[Event]:
        """A changed event in the window, a series as its master row and sparse occurrences (as real
        answers show), and anything changed outside the window as ``@removed`` (as Graph's docs say)."""
        try:
            event = self.find(event_id)
        except GraphError:
            return []
        if event["_calendar"] != calendar:
            return []
        if event["type"] == "seriesMaster":
            inside = self.instances(event, start, end)
            return (
                [_master_row(event, inside)] + [sparse(occ) for occ in inside]
                if inside
                else [_gone(event_id)]
            )
        return [sparse(event)] if _overlaps(event, start, end) else [_gone(event_id)]


def _master_row(master: Event, instances: list[Event]) -> Event:
    """Delta's row for a series master: its own fields, with the first occurrence's start and end."""
    row = render(master, expand=None)
    row["start"], row["end"] = instances[0]["start"], instances[0]["end"]
    return row


def _gone(event_id: str) -> Event:
    """Graph reports under ``@removed`` also events that were added, changed or deleted outside the window."""
    return {"@odata.type": "#microsoft.graph.event", "id": event_id, "@removed": {"reason": "deleted"}}


def sparse(event: Event) -> Event:
    """A delta entry: occurrences carry only id, type, series and times; others every field."""
    if event["type"] == "occurrence":
        keys = ("id", "type", "seriesMasterId", "start", "end")
        return {"@odata.type": "#microsoft.graph.event", **{k: event[k] for k in keys}}
    return render(event, expand=None)


def _removed(tombstone: Event, mailbox: Mailbox, start: datetime, end: datetime) -> list[Event]:
    ids = [tombstone["id"]]
    if tombstone.get("type") == "seriesMaster":
        ids += [occ["id"] for occ in mailbox.instances(tombstone, start, end)]
    return [_gone(i) for i in ids]


NOT_BY_DEFAULT = frozenset({"originalStart"})
"""Fields Graph leaves out of its default projection: only a ``$select`` naming them brings them."""


def render(event: Event, expand: list[str] | None, select: list[str] | None = None) -> Event:
    """The wire form: public keys, times in UTC, ``@odata.etag`` from the change key, expanded properties.

    Without ``select`` (Graph's default projection) ``originalStart`` is missing, as real calendarView,
    instances and event answers show; with it only the named fields (and ``id``) come back.
    """
    public = {k: v for k, v in event.items() if not k.startswith("_")}
    if select is None:
        public = {k: v for k, v in public.items() if k not in NOT_BY_DEFAULT}
    else:
        public = {k: v for k, v in public.items() if k in select or k == "id"}
    out = copy.deepcopy(public)
    out["@odata.etag"] = f'W/"{event["changeKey"]}"'
    for key in ("start", "end"):
        if key in out:
            out[key] = _all_day_stamp(event[key]) if event.get("isAllDay") else utc_stamp(event[key])
    props = [event["_props"][p.lower()] for p in expand or () if p.lower() in event["_props"]]
    if props:
        out["singleValueExtendedProperties"] = [{"id": p[0], "value": p[1]} for p in props]
    return out


_WRITABLE = [
    "subject",
    "body",
    "start",
    "end",
    "isAllDay",
    "sensitivity",
    "showAs",
    "categories",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "attendees",
    "location",
    "recurrence",
    "isOnlineMeeting",
]


def _writable(body: Event) -> Event:
    return {k: copy.deepcopy(body[k]) for k in _WRITABLE if k in body}


def _props(body: Event) -> dict[str, tuple[str, str]]:
    """Extended properties by lower-cased id (Graph matches property ids without regard to case)."""
    return {p["id"].lower(): (p["id"], p["value"]) for p in body.get("singleValueExtendedProperties", [])}


def _check_etag(event: Event, if_match: str | None) -> None:
    if if_match and if_match not in ("*", f'W/"{event["changeKey"]}"'):
        raise GraphError(
            412,
            "ErrorIrresolvableConflict",
            "The change key passed in the request does not match the current change key for the item.",
        )


def _overlaps(event: Event, start: datetime, end: datetime) -> bool:
    first, last = parse_time(event["start"]), parse_time(event["end"])
    if last <= first:
        return start <= first < end
    return first < end and last > start


def _rule(recurrence: Event, first: datetime) -> Iterator[datetime]:
    """The series' original starts, from Graph's pattern and range (daily and weekly only).

    ``first`` is in the series' own zone, so occurrences keep their wall time across DST.
    """
    pattern, span = recurrence["pattern"], recurrence["range"]
    kwargs: dict[str, Any] = {"dtstart": first, "interval": pattern.get("interval", 1)}
    if pattern["type"] == "weekly" and pattern.get("daysOfWeek"):
        kwargs["byweekday"] = [_DAYS[d] for d in pattern["daysOfWeek"]]
    if span["type"] == "numbered":
        kwargs["count"] = span["numberOfOccurrences"]
    elif span["type"] == "endDate":
        kwargs["until"] = datetime.fromisoformat(span["endDate"]).replace(tzinfo=UTC) + timedelta(days=1)
    else:
        kwargs["until"] = first + timedelta(days=730)
    if pattern["type"] not in ("daily", "weekly"):
        raise GraphError(400, "ErrorInvalidRequest", f"stand-in has no {pattern['type']} recurrence")
    return iter(rrule(DAILY if pattern["type"] == "daily" else WEEKLY, **kwargs))
