"""Graph events and calferry's items: reading them, writing them, and the reports of writes not made.

Pure: no I/O. The stamp lives in one single-value extended property (:data:`STAMP_PROPERTY`); an
occurrence's recurrence id is its ``originalStart``, or from ``occurrenceId`` when Graph left it out.
"""

from __future__ import annotations

import contextlib
import html
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from calferry.errors import MalformedCalendar, MeetingNotChanged
from calferry.model import Claim, Origin, PersonalItem, PsaKind, ShowAs, Stamp, When
from calferry.personal.graph_http import Event

STAMP_GUID = "8f3c2a61-4d0b-4e7a-9b52-c4a1f07d3e19"
"""Never change it: stamps already written by calferry are found by this GUID."""
STAMP_PROPERTY = f"String {{{STAMP_GUID}}} Name CalferryStamp"
UID_PROPERTY = f"String {{{STAMP_GUID}}} Name CalferryUid"
"""The uid an item was created with by calferry (Graph's iCalUId is read-only, so it cannot be set)."""
CLAIM_PROPERTY = f"String {{{STAMP_GUID}}} Name CalferryClaim"
"""A device's claim (B9) as JSON, written with If-Match on the change key; blank once stamped."""
_FIELDS = (
    "id,type,seriesMasterId,originalStart,occurrenceId,start,end,isAllDay,subject,body,location,"
    "sensitivity,categories,isReminderOn,reminderMinutesBeforeStart,showAs,attendees,iCalUId,changeKey,"
    "isOrganizer,isCancelled"
)
"""Every field calferry reads: ``originalStart`` is not in Graph's default projection, so it is asked for."""
EXPAND = (
    f"singleValueExtendedProperties($filter=id eq '{STAMP_PROPERTY}' or id eq '{UID_PROPERTY}'"
    f" or id eq '{CLAIM_PROPERTY}')"
)
READ = {"$select": _FIELDS, "$expand": EXPAND}
_SHOW_AS = {s.value: s for s in ShowAs}


def parse_event(
    event: Event, series_uid: str | None = None, series_start: datetime | None = None
) -> PersonalItem:
    """One Graph event (single, occurrence, exception or series master) as a personal item.

    ``series_uid`` is the uid of an occurrence's series (its master's uid); without it the master's
    Graph id stands in. ``series_start`` (the master's start in the series' zone) names an exception
    whose ``originalStart`` did not come back (see :func:`original_start`).
    """
    try:
        return _parse(event, series_uid, series_start)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise MalformedCalendar(f"unreadable Outlook event: {exc!r}", where=str(event.get("id"))) from exc


def own_uid(event: Event) -> str:
    """A single item's or series master's uid: the one calferry created it with, else its iCalUId."""
    return _property(event, UID_PROPERTY) or str(event.get("iCalUId") or event["id"])


def in_series(event: Event) -> bool:
    return event.get("type") in ("occurrence", "exception")


def _parse(event: Event, series_uid: str | None, series_start: datetime | None) -> PersonalItem:
    kind = event.get("type") or "singleInstance"
    part = in_series(event)
    all_day = bool(event.get("isAllDay"))
    return PersonalItem(
        uid=(series_uid or event["seriesMasterId"]) if part else own_uid(event),
        start=_when(event["start"], all_day),
        end=_when(event["end"], all_day),
        subject=event.get("subject") or "",
        description=((event.get("body") or {}).get("content") or ""),
        location=((event.get("location") or {}).get("displayName") or ""),
        private=event.get("sensitivity") in ("private", "confidential"),
        categories=tuple(event.get("categories") or ()),
        reminder_minutes=event.get("reminderMinutesBeforeStart") if event.get("isReminderOn") else None,
        show_as=ShowAs.FREE
        if event.get("isCancelled")
        else _SHOW_AS.get(event.get("showAs") or "", ShowAs.BUSY),
        attendees=tuple(a["emailAddress"]["address"] for a in event.get("attendees") or ()),
        recurring=kind != "singleInstance",
        recurrence_id=original_start(event, series_start) if part else None,
        stamp=read_stamp(event),
        claim=read_claim(event),
        version=event.get("@odata.etag") or event.get("changeKey"),
    )


def _when(value: dict[str, str], all_day: bool) -> When:
    moment = datetime.fromisoformat(value["dateTime"].rstrip("Z")[:26])
    zone = value.get("timeZone") or "UTC"
    try:
        aware = moment.replace(
            tzinfo=UTC if zone in ("UTC", "Etc/UTC") else ZoneInfo(WINDOWS_TO_OLSON.get(zone, zone))
        )
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {zone!r}") from exc
    return _nearest_day(aware) if all_day else aware.astimezone(UTC)


def original_start(event: Event, series_start: datetime | None = None) -> When:
    """An occurrence's original start: ``originalStart`` when Graph sent it, else from ``occurrenceId``.

    Graph leaves ``originalStart`` out unless it is selected. An unmodified occurrence starts at its
    original start; an exception's ``occurrenceId`` (``OID.<master id>.<yyyy-mm-dd>``) names the original
    day, and the series' start (``series_start``, in the series' zone) its time of day.
    """
    all_day = bool(event.get("isAllDay"))
    if event.get("originalStart"):
        return _instant(str(event["originalStart"]), all_day)
    if event.get("type") == "occurrence":
        return _when(event["start"], all_day)
    day = str(event.get("occurrenceId") or "").rpartition(".")[2]
    if not day or series_start is None:
        raise KeyError("originalStart")
    moment = datetime.combine(date.fromisoformat(day), series_start.timetz())
    return _nearest_day(moment) if all_day else moment.astimezone(UTC)


def _instant(text: str, all_day: bool) -> When:
    moment = datetime.fromisoformat(text).astimezone(UTC)
    return _nearest_day(moment) if all_day else moment


def _nearest_day(moment: datetime) -> date:
    """All-day boundaries are midnights of the series' zone; given in UTC they are off by the offset."""
    return (moment + timedelta(hours=12)).date()


def read_stamp(event: Event) -> Stamp | None:
    """The stamp in calferry's extended property (JSON), or None when absent or blank."""
    value = _property(event, STAMP_PROPERTY)
    if not value:
        return None
    data = json.loads(value)
    return Stamp(PsaKind(data["kind"]), int(data["id"]), Origin(data["origin"]), data.get("company"))


def read_claim(event: Event) -> Claim | None:
    """A device's claim in calferry's claim property (JSON), or None when absent, blank or damaged."""
    value = _property(event, CLAIM_PROPERTY)
    try:
        data = json.loads(value) if value else {}
        at = datetime.fromisoformat(data["at"])
        return Claim(str(data["device"]), at if at.tzinfo else at.replace(tzinfo=UTC), str(data["fp"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def claim_property(claim: Claim | None) -> Event:
    value = (
        ""
        if claim is None
        else json.dumps({"device": claim.device, "at": claim.at.isoformat(), "fp": claim.fingerprint})
    )
    return {"id": CLAIM_PROPERTY, "value": value}


def _property(event: Event, prop_id: str) -> str | None:
    """An expanded extended property's value; Graph matches property ids without regard to case."""
    for prop in event.get("singleValueExtendedProperties") or ():
        if str(prop.get("id", "")).lower() == prop_id.lower():
            return str(prop.get("value") or "") or None
    return None


# --- writing Graph events ---------------------------------------------------------------------


def stamp_property(stamp: Stamp | None) -> Event:
    value = (
        ""
        if stamp is None
        else json.dumps(
            {
                "kind": stamp.psa_kind.value,
                "id": stamp.psa_id,
                "origin": stamp.origin.value,
                "company": stamp.company_id,
            }
        )
    )
    return {"id": STAMP_PROPERTY, "value": value}


def event_body(item: PersonalItem, *, attendees: bool, zone: str = "UTC") -> Event:
    """The writable fields of ``item``; attendees only when asked (writing them sends invitations).

    All-day bounds are midnights of ``zone`` (the technician's): Outlook shows an all-day item made
    in another zone as spanning two days.
    """
    body: Event = {
        "subject": item.subject,
        "body": {"contentType": "text", "content": item.description},
        "location": {"displayName": item.location},
        "start": _graph_time(item.start, zone),
        "end": _graph_time(item.end, zone),
        "isAllDay": item.all_day,
        "sensitivity": "private" if item.private else "normal",
        "showAs": item.show_as.value,
        "categories": list(item.categories),
        "isReminderOn": item.reminder_minutes is not None,
        "singleValueExtendedProperties": [stamp_property(item.stamp)],
    }
    if item.reminder_minutes is not None:
        body["reminderMinutesBeforeStart"] = item.reminder_minutes
    if attendees:
        body["attendees"] = [{"emailAddress": {"address": a}, "type": "required"} for a in item.attendees]
    return body


def _graph_time(value: When, zone: str = "UTC") -> dict[str, str]:
    if isinstance(value, datetime):
        return {"dateTime": value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}
    return {"dateTime": f"{value.isoformat()}T00:00:00", "timeZone": zone}


def invites_allowed(item: PersonalItem) -> bool:
    """Items written from the PSA side never carry attendees: no invitation may ever go out (R9)."""
    return bool(item.attendees) and (item.stamp is None or item.stamp.origin is not Origin.DOWNLOADED)


def series_zone_start(master: Event) -> datetime:
    """The master's start in the zone the series was made in (its wall time names every occurrence)."""
    start = as_utc(_when(master["start"], False))
    zone = str(master.get("originalStartTimeZone") or "UTC")
    with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
        return start.astimezone(ZoneInfo(WINDOWS_TO_OLSON.get(zone, zone)))
    return start


def as_utc(value: When) -> datetime:
    return (
        value.astimezone(UTC)
        if isinstance(value, datetime)
        else datetime(value.year, value.month, value.day, tzinfo=UTC)
    )


def wire_instant(value: When) -> str:
    return iso_utc(value) if isinstance(value, datetime) else f"{value.isoformat()}T00:00:00Z"


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def odata_quoted(text: str) -> str:
    """An OData string literal's content: single quotes doubled."""
    return text.replace("'", "''")


# --- what a write leaves, and the writes not made --------------------------------------------


def text_as_html(text: str) -> str:
    lines = "<br>\n".join(html.escape(line) for line in text.split("\n"))
    return f"<html><body>{lines}</body></html>"


def update_refusal(current: PersonalItem, wanted: PersonalItem, attendees: int) -> MeetingNotChanged:
    """What the PSA changed in a meeting calferry may not write, and what the technician can do."""
    changes = []
    if wanted.subject != current.subject:
        changes.append(f"the title “{wanted.subject}”")
    if (as_utc(wanted.start), as_utc(wanted.end)) != (as_utc(current.start), as_utc(current.end)):
        changes.append(f"the time {_span(wanted)}")
    if wanted.location != current.location:
        changes.append(f"the location “{wanted.location}”")
    if wanted.description != current.description:
        changes.append("a new description")
    message = (
        f"“{current.subject}” was not changed in Outlook: it is a meeting you organise with "
        f"{_attendees(attendees)}, and changing it would e-mail them an update. "
        f"The PSA now has {', '.join(changes) or 'changes'}."
    )
    hint = (
        "change the meeting in Outlook yourself if they should know, then keep your version when Get "
        "reports the conflict; until then each Get says so"
    )
    return MeetingNotChanged(message, hint=hint)


def delete_refusal(current: PersonalItem, attendees: int) -> MeetingNotChanged:
    message = (
        f"“{current.subject}” ({_span(current)}) is gone from the PSA but was kept in Outlook: it is a "
        f"meeting you organise with {_attendees(attendees)}, and deleting it would e-mail them a cancellation."
    )
    hint = "cancel the meeting in Outlook yourself if it is off; until then each Get says so"
    return MeetingNotChanged(message, hint=hint)


def _attendees(count: int) -> str:
    return "1 attendee" if count == 1 else f"{count} attendees"


def _span(item: PersonalItem) -> str:
    """The item's time as a person reads it, in the zone it was given in (the technician's, from the PSA)."""
    start, end = item.start, item.end
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        last = end - timedelta(days=1)
        return f"{start:%a %d %b %Y}" + ("" if last <= start else f" to {last:%a %d %b %Y}") + " (all day)"
    zone = getattr(start.tzinfo, "key", None) or start.tzname() or "UTC"
    return f"{start:%a %d %b %Y %H:%M}–{end.astimezone(start.tzinfo):%H:%M} ({zone})"


def written_over(event: Event, body: Event) -> Event:
    """``event`` as a PATCH of ``body`` leaves it: fields replaced, extended properties merged by id."""
    props = {str(p["id"]).lower(): p for p in event.get("singleValueExtendedProperties") or ()}
    props |= {str(p["id"]).lower(): p for p in body.get("singleValueExtendedProperties") or ()}
    return {**event, **body, "singleValueExtendedProperties": list(props.values())}


def comparable(event: Event) -> PersonalItem:
    """What calferry reads of an event, without its version: equal when the same fields are held."""
    return replace(parse_event(event), version=None)
