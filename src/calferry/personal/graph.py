"""Outlook (Exchange Online / Microsoft 365) through Microsoft Graph v1.0, with plain httpx and msal.

This module is the adapter; sign-in is :mod:`~calferry.personal.graph_auth`, HTTP (gate, retries,
errors) :mod:`~calferry.personal.graph_http`, and events as items :mod:`~calferry.personal.graph_events`.

Identity: an item's ``uid`` is its Graph ``id`` as an immutable id (``Prefer: IdType="ImmutableId"``),
and the uid of every occurrence and exception of a series is its ``seriesMasterId``. Graph's ``iCalUId``
is not used because v1.0 gives each occurrence its own; immutable ids stay put when an item is moved
between folders. The recurrence id of an occurrence is its ``originalStart``, which Graph sends only
when it is selected, so every read names the fields it uses (``$select``); ``occurrenceId`` is the
fallback. Graph assigns ids itself, so ``create`` cannot keep a caller's uid: the returned item
carries the new one.

The stamp (R16, R20) lives in one single-value extended property with one fixed GUID,
:data:`STAMP_PROPERTY`, holding JSON; an empty value means "no stamp" (v1.0 cannot delete one).

No mail: Exchange mails the attendees of a meeting whenever its organiser's copy is changed or
deleted, and Graph has no way to say otherwise. So a meeting with attendees that the signed-in user
organises is never updated, deleted or stamped: :class:`MeetingNotChanged` says what the PSA changed.
A body is written only when the description changed, as HTML where Outlook kept HTML, and never for
an online meeting, whose body holds its join information.

Changes come from ``calendarView/delta`` (the deltaLink is the token). Delta answers carry no extended
properties, only sparse occurrences, also series masters, and ``@removed`` also for events that merely
changed or moved outside the window. So every changed or removed id is re-read through ``$batch`` (at
most 20 per request): a 404 is a deletion, anything else a change (``changed_uids`` names it, also when
it left the window), and a changed series is re-listed whole inside the window, as every adapter does.
Only a deletion of an id no listing named, or a refused token (any 410, or a 400 ``InvalidDeltaToken``),
is answered with a full listing (``Changes.full``) for the caller to diff.

Throttling: at most four requests in flight per mailbox (the owner of the signed-in user's default
calendar names it, or the ``users/{mailbox}`` an application works on), a ``$batch`` counting as four (Outlook runs up to four of its members at once),
429/503 answered after ``Retry-After`` (also for the members of a ``$batch``, after the largest one),
exponential backoff otherwise.

A Get's writes go in ``$batch`` of twenty: new items (``create_many``) as POSTs, each member with its
``transactionId`` (a member sent again after a 429, or a batch sent again after its answer was lost,
makes each event once); updates and deletions (``update_many``, ``delete_many``) as PATCHes and DELETEs
with If-Match, a member's answer judged as a single write's whose answer was lost (below).

A write whose answer was lost (a dropped connection, or a 503/504 from the gateway) is sent again, so
it may meet its own effect: a repeated DELETE that finds nothing (404) has deleted, and a repeated
PATCH refused for its now outdated change key (412) has written if the event already holds every
field that was sent.

One module past 500 lines on purpose: sign-in, HTTP and the event translation already have their
own modules; what is left is the adapter itself, whose reads, delta re-reads and guarded writes share
the mailbox gate, the change keys and the ``$batch`` handling.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from calferry.contracts import Changes, Problem, Snapshot
from calferry.errors import (
    CalferryError,
    ConfigError,
    InputError,
    MalformedCalendar,
    MeetingNotChanged,
    NotFound,
    PersonalCalendarError,
    SyncTokenExpired,
)
from calferry.http import RetryPolicy
from calferry.model import (
    Claim,
    ItemKey,
    Origin,
    PersonalItem,
    Stamp,
    Window,
    format_recurrence_id,
    parse_recurrence_id,
)
from calferry.personal.graph_auth import GraphAccount, MsalTokens, sign_in, sign_out
from calferry.personal.graph_events import (
    CLAIM_PROPERTY,
    EXPAND,
    READ,
    STAMP_PROPERTY,
    UID_PROPERTY,
    as_utc,
    claim_property,
    comparable,
    delete_refusal,
    event_body,
    in_series,
    invites_allowed,
    iso_utc,
    odata_quoted,
    original_start,
    own_uid,
    parse_event,
    read_claim,
    series_zone_start,
    stamp_property,
    text_as_html,
    update_refusal,
    wire_instant,
    written_over,
)
from calferry.personal.graph_http import PREFER, Event, Http, TokenProvider, body_of, translate

__all__ = [
    "CLAIM_PROPERTY",
    "STAMP_PROPERTY",
    "UID_PROPERTY",
    "GraphAccount",
    "GraphCalendar",
    "MsalTokens",
    "claim_property",
    "event_body",
    "local_zone",
    "parse_event",
    "read_claim",
    "sign_in",
    "sign_out",
    "translate",
]
"""The Outlook adapter and what commands and tests reach through this module (sign-in, the wire form)."""

DEFAULT_URL = "https://graph.microsoft.com/v1.0"
GRAPH_RETRY = RetryPolicy(attempts=7)
"""Six repeats, backoff with jitter from half a second; a Retry-After over two minutes is reported."""


class GraphCalendar:
    """A technician's Outlook calendar through Microsoft Graph (see the module docstring).

    It remembers which Graph id belongs to which uid (ids are immutable), so writes need no look-up
    after a listing, and removals reported by delta can be named.
    """

    name = "graph"

    def __init__(
        self,
        *,
        token_provider: TokenProvider,
        base_url: str = DEFAULT_URL,
        calendar: str = "",
        client: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = 200,
        time_zone: str = "UTC",
        mailbox: str = "",
    ) -> None:
        """``time_zone`` is the technician's (IANA or Windows name): all-day items are written in it.
        ``retry`` is how throttled and failed requests are repeated (:data:`GRAPH_RETRY` by default);
        ``sleep`` does every wait (tests record them).

        ``mailbox`` (an e-mail address or user id): the calendar is that mailbox's, reached as
        ``users/{mailbox}`` by an application signed in with its own credentials (the org service);
        empty: the signed-in user's own (``me``)."""
        self._own_client = client is None
        self._client = client or httpx.Client(base_url=base_url.rstrip("/") + "/", timeout=60.0)
        self._base_url = base_url.rstrip("/")
        self._http = Http(
            self._client, base_url, token_provider, retry=retry or GRAPH_RETRY, sleep=sleep, mailbox=mailbox
        )
        self._root = f"users/{quote(mailbox, safe='@')}" if mailbox else "me"
        self._calendar_setting = calendar
        self._calendar_path: str | None = None
        self._page_size = page_size
        self._zone = time_zone
        self._ids: dict[str, str] = {}  # uid -> Graph id of the single item or series master
        self._uids: dict[str, str] = {}  # that Graph id -> uid
        self._occurrence_ids: dict[tuple[str, str], str] = {}  # (uid, recurrence id) -> Graph id
        self._occurrences: dict[str, str] = {}  # occurrence Graph id -> series uid
        self._starts: dict[str, datetime] = {}  # series master Graph id -> its start in the series' zone
        self._seen: dict[str, _Seen] = {}  # Graph id -> what a write must know of the event
        self._issued: set[str] = set()  # delta links handed out while the id maps were kept

    # --- reading ---------------------------------------------------------------------------------

    def snapshot(self, window: Window) -> Snapshot:
        token = self._delta_link(window)  # first, so nothing written meanwhile is missed later
        items, problems = self._view(window)
        self._issued.add(token)
        return Snapshot(items, token, problems)

    def get(self, key: ItemKey) -> PersonalItem:
        if key.recurrence_id is None:
            event = self._http.json("GET", self._event_url(self._graph_id(key.uid)), params=READ)
        else:
            event = self._occurrence(key)  # found by its original start: the key names it
            original = event.get("originalStart") or wire_instant(parse_recurrence_id(key.recurrence_id))
            event = {**event, "originalStart": original}
        self._note(event)
        return parse_event(event, key.uid)

    def key_of(self, graph_id: str) -> ItemKey:
        """The key of the event Outlook names by its REST id (the Outlook add-in's selected item)."""
        event = self._http.json("GET", self._event_url(graph_id), params=READ)
        if not in_series(event):
            self._remember_item(event["id"], own_uid(event))
            return ItemKey(own_uid(event))
        master = self._http.json("GET", self._event_url(event["seriesMasterId"]), params=READ)
        self._remember_item(master["id"], own_uid(master))
        item = parse_event(event, own_uid(master))
        self._remember(event, item)
        return item.key

    def changes(self, window: Window, token: str | None) -> Changes:
        if token is None or not token.startswith(self._base_url):
            return self._full(window)
        try:
            entries, link = self._delta_round(token, None)
        except (SyncTokenExpired, NotFound):
            return self._full(window)
        except PersonalCalendarError as exc:
            if exc.status != 400:  # any unusable token: listing anew is always safe
                raise
            return self._full(window)
        events, series = self._classify(entries)
        read = self._reread(events, series, window, trusted=token in self._issued)
        if read is None:
            return self._full(window, link)
        self._learn_masters(read.listed - set(self._uids))  # a series with no instance left in the window
        items, problems = self._items(read.events)
        inside = [i for i in items if window.overlaps(as_utc(i.start), as_utc(i.end))]
        touched = {i.uid for i in items} | {self._uids[m] for m in read.listed if m in self._uids}
        deleted = read.deleted - {i.uid for i in items}
        self._issued.add(link)
        return Changes(
            tuple(sorted(inside, key=lambda i: (as_utc(i.start), i.ref))),
            tuple(sorted(deleted)),
            link,
            problems=problems,
            changed_uids=tuple(sorted(touched | deleted)),
        )

    # --- writing ---------------------------------------------------------------------------------

    def create(self, item: PersonalItem) -> PersonalItem:
        event = self._http.json("POST", f"{self._calendar()}/events", json=self._new_event(item))
        return self._created(item, event)

    def create_many(self, items: Sequence[PersonalItem]) -> list[PersonalItem | CalferryError]:
        """POSTs in ``$batch`` of twenty, each with its ``transactionId``, so the members the shared loop
        sends again after a 429 (or the whole batch after a lost answer) make each event once."""
        members = self._members(items, self._create_member)
        answers = self._answers(members)
        return [
            m if isinstance(m, CalferryError) else self._member_created(i, answers[str(n)])
            for n, (i, m) in enumerate(zip(items, members, strict=True))
        ]

    def update_many(self, items: Sequence[PersonalItem]) -> list[PersonalItem | CalferryError]:
        """PATCHes in ``$batch`` of twenty, each with its If-Match: a member's 412 is its item's
        StaleVersion (unless the event already holds the change: a batch sent again met its own PATCH)."""
        members = self._members(items, self._update_member)
        answers = self._answers(members)
        return [
            m if isinstance(m, CalferryError) else self._member_updated(i, m, answers[str(n)])
            for n, (i, m) in enumerate(zip(items, members, strict=True))
        ]

    def delete_many(self, keys: Sequence[tuple[ItemKey, str | None]]) -> list[CalferryError | None]:
        """DELETEs in ``$batch`` of twenty, each with its If-Match; a member's 404 is an item gone already."""
        members = self._members(keys, self._delete_member)
        answers = self._answers(members)
        return [
            m if isinstance(m, CalferryError) else self._member_deleted(answers[str(n)])
            for n, m in enumerate(members)
        ]

    def _members(
        self, inputs: Sequence[Any], member: Callable[[str, Any], Event]
    ) -> list[Event | CalferryError]:
        """One ``$batch`` member per input (its id the input's place), or the error forming it met."""
        formed: list[Event | CalferryError] = []
        for n, one in enumerate(inputs):
            try:
                formed.append(member(str(n), one))
            except CalferryError as exc:
                formed.append(exc)
        return formed

    def _answers(self, members: list[Event | CalferryError]) -> dict[str, Event | CalferryError]:
        """Each member's answer by id; a batch refused or unanswered is every member's answer."""
        sent = [m for m in members if not isinstance(m, CalferryError)]
        try:
            answers: dict[str, Event | CalferryError] = dict(self._http.batch(sent)) if sent else {}
        except CalferryError as exc:
            answers = {}
            failure: CalferryError | None = exc
        else:
            failure = None
        return {m["id"]: answers.get(m["id"], failure or {}) for m in sent}

    def _member_created(
        self, item: PersonalItem, answer: Event | CalferryError
    ) -> PersonalItem | CalferryError:
        """A member's answer: the item made, or its refusal in calferry's words."""
        if isinstance(answer, CalferryError):
            return answer
        status, body = int(answer.get("status", 0)), answer.get("body") or {}
        if 200 <= status < 300:
            return self._created(item, body)
        return self._http.translate(status, body)

    def _create_member(self, member_id: str, item: PersonalItem) -> Event:
        return {
            "id": member_id,
            "method": "POST",
            "url": f"/{self._calendar()}/events",
            "headers": {"Content-Type": "application/json", "Prefer": PREFER},
            "body": self._new_event(item),
        }

    def _new_event(self, item: PersonalItem) -> Event:
        """The POST body of a new single item; its transaction id makes a repeated POST one event."""
        if item.recurring or item.recurrence_id is not None:
            raise InputError("create makes single Outlook items, not series or occurrences")
        body = event_body(item, attendees=invites_allowed(item), zone=self._zone)
        if item.uid:
            body["singleValueExtendedProperties"].append({"id": UID_PROPERTY, "value": item.uid})
        body["transactionId"] = _transaction_id(item)
        return body

    def _created(self, item: PersonalItem, event: Event) -> PersonalItem:
        uid = item.uid or own_uid(event)
        self._remember_item(event["id"], uid)
        self._note(event)
        return replace(parse_event(event), uid=uid, stamp=item.stamp)

    def update(self, item: PersonalItem) -> PersonalItem:
        return self._patch(item.key, self._update_body(item), item.version, stamp=item.stamp)

    def _update_body(self, item: PersonalItem) -> Event:
        """The PATCH of an update; refused for a meeting that mailed attendees (they would be told)."""
        if attendees := self._mailed(item.key):
            raise update_refusal(self.get(item.key), item, len(attendees))
        body = event_body(item, attendees=False, zone=self._zone)  # attendees are never rewritten
        del body["body"]
        if (new_body := self._body_for(self._event_id(item.key), item.description)) is not None:
            body["body"] = new_body
        return body

    def _update_member(self, member_id: str, item: PersonalItem) -> Event:
        body = self._update_body(item)
        return self._member(member_id, "PATCH", self._event_id(item.key), item.version, body)

    def _member_updated(
        self, item: PersonalItem, member: Event, answer: Event | CalferryError
    ) -> PersonalItem | CalferryError:
        if isinstance(answer, CalferryError):
            return answer
        status = int(answer.get("status", 0))
        if (
            status == 412
            and (current := self._written_already(self._event_url(self._event_id(item.key)), member["body"]))
            is not None
        ):
            return self._patched(item.key, body_of(current), stamp=item.stamp)
        if 200 <= status < 300:
            return self._patched(item.key, answer.get("body") or {}, stamp=item.stamp)
        return self._http.translate(status, answer.get("body") or {})

    def delete(self, key: ItemKey, version: str | None = None) -> None:
        url = self._event_url(self._deletable(key))
        answer, lost = self._http.send("DELETE", url, headers=_if_match(version))
        if lost and answer.status_code == 404:
            return  # the lost answer was this delete's own: the item is gone
        self._http.checked(answer)

    def _deletable(self, key: ItemKey) -> str:
        """The event id to delete; refused for a meeting that mailed attendees (they would be told)."""
        if attendees := self._mailed(key):
            raise delete_refusal(self.get(key), len(attendees))
        return self._event_id(key)

    def _delete_member(self, member_id: str, one: tuple[ItemKey, str | None]) -> Event:
        return self._member(member_id, "DELETE", self._deletable(one[0]), one[1])

    def _member_deleted(self, answer: Event | CalferryError) -> CalferryError | None:
        if isinstance(answer, CalferryError):
            return answer
        status = int(answer.get("status", 0))
        if 200 <= status < 300 or status == 404:  # 404: gone already (maybe by this batch sent again)
            return None
        return self._http.translate(status, answer.get("body") or {})

    def _member(
        self, member_id: str, method: str, event_id: str, version: str | None, body: Event | None = None
    ) -> Event:
        """A ``$batch`` member writing one event, with the If-Match of its version."""
        member: Event = {
            "id": member_id,
            "method": method,
            "url": f"/{self._event_url(event_id)}",
            "headers": {"Prefer": PREFER, **_if_match(version)},
        }
        if body is not None:
            member["body"] = body
            member["headers"]["Content-Type"] = "application/json"
        return member

    def set_stamp(self, key: ItemKey, stamp: Stamp | None, version: str | None = None) -> PersonalItem:
        """A meeting the technician organises is not stamped (its link alone knows it was sent).

        Whether Exchange mails attendees for a PATCH of an extended property alone is not documented,
        and calferry promises to mail no one, so such a meeting is left as it is.
        """
        if self._mailed(key):
            return self.get(key)
        marks = [stamp_property(stamp), claim_property(None)]  # the stamp replaces a claim
        return self._patch(key, {"singleValueExtendedProperties": marks}, version, stamp=stamp, claim=None)

    def set_claim(self, key: ItemKey, claim: Claim | None, version: str | None = None) -> PersonalItem:
        """A device's claim before a Send's create (B9). Not on a meeting the technician organises, for the
        reason :meth:`set_stamp` gives: such a meeting is sent without a claim."""
        if self._mailed(key):
            return self.get(key)
        body = {"singleValueExtendedProperties": [claim_property(claim)]}
        return self._patch(key, body, version, claim=claim)

    def set_categories(
        self, key: ItemKey, categories: tuple[str, ...], version: str | None = None
    ) -> PersonalItem:
        """The event's ``categories`` alone. Not on a meeting the technician organises, for the reason
        :meth:`set_stamp` gives: the technician is told to change its category in Outlook."""
        if attendees := self._mailed(key):
            current = self.get(key)
            raise MeetingNotChanged(
                f"“{current.subject}” keeps its categories in Outlook: it is a meeting you organise with "
                f"{len(attendees)} attendee(s), and calferry changes nothing that could e-mail them",
                hint="change its category in Outlook yourself",
            )
        self._patch(key, {"categories": list(categories)}, version)
        return self.get(key)  # the answer does not expand the stamp and claim: read them back

    def read(self, relative: str, window: Window, params: dict[str, str] | None = None) -> Event:
        """One page of ``relative`` (``calendarView``, ``calendarView/delta``) of the configured calendar
        in ``window``, as Graph answers it: what ``calferry doctor --live`` looks at."""
        query = {**self._window_params(window), **(params or {})}
        return self._http.json("GET", f"{self._calendar()}/{relative}", params=query)

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    # --- calendars and ids -----------------------------------------------------------------------

    def _calendar(self) -> str:
        """``me/calendar`` or ``me/calendars/{id}`` (``users/{mailbox}/…``) for the configured calendar."""
        if self._calendar_path is None:
            self._calendar_path = self._resolve_calendar(self._calendar_setting)
        return self._calendar_path

    def _resolve_calendar(self, wanted: str) -> str:
        """A calendar shared from another mailbox is that mailbox's: its events are reached through the
        calendar (``me/events/{id}`` resolves only the signed-in mailbox), and its owner's gate is used."""
        if not wanted:
            return f"{self._root}/calendar"
        calendars = list(self._http.items(f"{self._root}/calendars", {"$top": "100"}))
        for cal in calendars:
            if wanted == cal.get("id") or wanted.casefold() == str(cal.get("name")).casefold():
                owner = str(((cal.get("owner") or {}).get("address")) or "")
                if owner:
                    self._http.use_mailbox(owner)
                return f"{self._root}/calendars/{quote(cal['id'], safe='')}"
        names = ", ".join(str(c.get("name")) for c in calendars)
        raise ConfigError(
            f"no Outlook calendar {wanted!r}", hint=f"personal.graph_calendar; calendars: {names}"
        )

    def _mailed(self, key: ItemKey) -> tuple[str, ...]:
        """The attendees Outlook would mail if this event were written: those of a meeting we organise."""
        return self._known(self._event_id(key)).mailed

    def _known(self, event_id: str) -> _Seen:
        if event_id not in self._seen:
            params = {"$select": "id,isOrganizer,attendees,body"}
            self._note(self._http.json("GET", self._event_url(event_id), params=params))
        return self._seen[event_id]

    def _note(self, event: Event) -> None:
        """Graph leaves nothing unsaid about organisers: without ``isOrganizer``, assume the worst."""
        attendees = tuple(a["emailAddress"]["address"] for a in event.get("attendees") or ())
        self._seen[str(event["id"])] = _Seen(
            attendees if event.get("isOrganizer", True) else (),
            (event.get("body") or {}).get("content") or "" if "body" in event else None,
        )

    def _body_for(self, event_id: str, description: str) -> Event | None:
        """The body to write for a new description, as Outlook keeps it; None to leave it alone.

        The body is read as stored (not as text): HTML stays HTML, and an online meeting's body,
        which holds its join information (a Teams meeting's blob), is never rewritten.
        """
        if description == self._known(event_id).text:
            return None
        stored_prefer = PREFER.replace(', outlook.body-content-type="text"', "")
        event = self._http.json(
            "GET",
            self._event_url(event_id),
            params={"$select": "body,isOnlineMeeting"},
            headers={"Prefer": stored_prefer},
        )
        if event.get("isOnlineMeeting"):
            return None
        if (event.get("body") or {}).get("contentType") == "html":
            return {"contentType": "html", "content": text_as_html(description)}
        return {"contentType": "text", "content": description}

    def _event_url(self, event_id: str) -> str:
        """An event through its calendar, which reaches events of calendars shared from other mailboxes."""
        return f"{self._calendar()}/events/{quote(event_id, safe='')}"

    def _remember_item(self, graph_id: str, uid: str) -> None:
        self._ids[uid], self._uids[graph_id] = graph_id, uid

    def _remember(self, event: Event, item: PersonalItem) -> None:
        if not in_series(event):
            self._remember_item(event["id"], item.uid)
        elif item.recurrence_id is not None:
            self._occurrence_ids[(item.uid, format_recurrence_id(item.recurrence_id))] = event["id"]
            self._occurrences[event["id"]] = item.uid

    def _graph_id(self, uid: str) -> str:
        """The Graph id of the single item or series master ``uid``: by iCalUId, else by calferry's uid."""
        if uid in self._ids:
            return self._ids[uid]
        prop = f"ep/id eq '{UID_PROPERTY}' and ep/value eq '{odata_quoted(uid)}'"
        for condition in (
            f"iCalUId eq '{odata_quoted(uid)}'",
            f"singleValueExtendedProperties/any(ep: {prop})",
        ):
            params = {"$filter": condition, **READ}
            for event in self._http.items(f"{self._calendar()}/events", params):
                if own_uid(event) == uid:
                    self._remember_item(event["id"], uid)
                    return str(event["id"])
        raise NotFound(f"no item {uid} in Outlook", side="personal")

    def _event_id(self, key: ItemKey) -> str:
        if key.recurrence_id is None:
            return self._graph_id(key.uid)
        return self._occurrence_ids.get((key.uid, key.recurrence_id or "")) or str(
            self._occurrence(key)["id"]
        )

    def _occurrence(self, key: ItemKey) -> Event:
        """The occurrence whose original start is the key's recurrence id: near it first, then a year around."""
        master, rid = self._event_url(self._graph_id(key.uid)), key.recurrence_id or ""
        at = as_utc(parse_recurrence_id(rid))
        for reach in (timedelta(days=2), timedelta(days=400)):
            params = {"startDateTime": iso_utc(at - reach), "endDateTime": iso_utc(at + reach), **READ}
            try:
                for event in self._http.items(
                    f"{master}/instances", {**params, "$top": str(self._page_size)}
                ):
                    if self._rid_text(event) == rid:
                        self._occurrence_ids[(key.uid, rid)] = event["id"]
                        return event
            except PersonalCalendarError as exc:
                if exc.status != 400:  # 400: not a series master
                    raise
                break
        raise NotFound(f"no occurrence {key.ref} in Outlook", side="personal")

    def _patch(self, key: ItemKey, body: Event, version: str | None, **marks: Any) -> PersonalItem:
        """PATCH with If-Match; ``marks`` (stamp, claim) written by it, which the answer may not expand."""
        url = self._event_url(self._event_id(key))
        answer, lost = self._http.send("PATCH", url, json=body, headers=_if_match(version))
        if lost and answer.status_code == 412:
            answer = self._written_already(url, body) or answer  # else: StaleVersion below
        return self._patched(key, body_of(self._http.checked(answer)), **marks)

    def _patched(self, key: ItemKey, event: Event, **marks: Any) -> PersonalItem:
        """The item as a PATCH answered it, with ``marks`` it wrote."""
        if "id" in event:
            self._note(event)  # its body as now written
        if key.recurrence_id is not None:  # the answer is the default projection, without originalStart
            event = {**event, "originalStart": wire_instant(parse_recurrence_id(key.recurrence_id))}
        return replace(parse_event(event, key.uid), uid=key.uid, **marks)

    def _written_already(self, url: str, body: Event) -> httpx.Response | None:
        """The event read again if it already holds every field of ``body``: the lost write took place."""
        current = self._http.call("GET", url, params=READ)
        event = body_of(current)
        if (body.get("body") or {}).get("contentType") == "html":  # read back as text: not comparable
            body = {k: v for k, v in body.items() if k != "body"}
        return current if comparable(written_over(event, body)) == comparable(event) else None

    # --- listing ---------------------------------------------------------------------------------

    def _window_params(self, window: Window) -> dict[str, str]:
        return {"startDateTime": iso_utc(window.start), "endDateTime": iso_utc(window.end)}

    def _view(self, window: Window) -> tuple[tuple[PersonalItem, ...], tuple[Problem, ...]]:
        params = {**self._window_params(window), "$top": str(self._page_size), **READ}
        return self._items(list(self._http.items(f"{self._calendar()}/calendarView", params)))

    def _items(self, events: list[Event]) -> tuple[tuple[PersonalItem, ...], tuple[Problem, ...]]:
        """Parse events, naming occurrences by their series' uid; unreadable ones become problems."""
        masters = {e["seriesMasterId"] for e in events if in_series(e)}
        self._learn_masters({m for m in masters if m not in self._uids or m not in self._starts})
        items: list[PersonalItem] = []
        problems: list[Problem] = []
        for event in events:
            try:
                master = str(event.get("seriesMasterId"))
                item = parse_event(event, self._uids.get(master), self._starts.get(master))
            except MalformedCalendar as exc:
                problems.append(Problem(str(exc), where="Outlook", uid=str(event.get("id") or "") or None))
                continue
            self._remember(event, item)
            self._note(event)
            items.append(item)
        return tuple(items), tuple(problems)

    def _learn_masters(self, master_ids: set[str]) -> None:
        """Series uids come from the masters (an occurrence's iCalUId is its own), read in $batch."""
        select = "id,iCalUId,type,start,originalStartTimeZone"
        query = urlencode({"$select": select, "$expand": EXPAND}, quote_via=quote)
        urls = [f"/{self._event_url(m)}?{query}" for m in sorted(master_ids)]
        for member in self._http.batch(_batch_requests(urls)).values():
            for master in self._member_events(member):
                self._remember_item(master["id"], own_uid(master))
                self._starts[master["id"]] = series_zone_start(master)

    def _rid_text(self, event: Event) -> str | None:
        master = str(event.get("seriesMasterId"))
        if not event.get("originalStart") and event.get("type") == "exception" and master not in self._starts:
            self._learn_masters({master})  # the series' time of day names the exception
        try:
            original = original_start(event, self._starts.get(master))
        except (KeyError, ValueError):
            return None
        return format_recurrence_id(original)

    def _full(self, window: Window, link: str | None = None) -> Changes:
        if link is None:
            snapshot = self.snapshot(window)
            return Changes(snapshot.items, (), snapshot.token, full=True, problems=snapshot.problems)
        items, problems = self._view(window)
        self._issued.add(link)
        return Changes(items, (), link, full=True, problems=problems)

    # --- delta -----------------------------------------------------------------------------------

    def _delta_link(self, window: Window) -> str:
        url = f"{self._calendar()}/calendarView/delta"
        return self._delta_round(url, self._window_params(window))[1]

    def _delta_round(self, url: str, params: dict[str, str] | None) -> tuple[list[Event], str]:
        """Follow a delta round's next links to its deltaLink; returns the entries and that link."""
        entries: list[Event] = []
        headers = {"Prefer": f"{PREFER}, odata.maxpagesize={self._page_size}"}
        next_url: str | None = url
        while next_url:
            page = self._http.json("GET", next_url, params=params, headers=headers)
            entries.extend(page.get("value", []))
            if "@odata.deltaLink" in page:
                return entries, str(page["@odata.deltaLink"])
            next_url, params = page.get("@odata.nextLink"), None
        raise PersonalCalendarError("Microsoft Graph ended a delta round without a deltaLink")

    def _classify(self, entries: list[Event]) -> tuple[set[str], set[str]]:
        """Graph ids to re-read one by one, and series (master ids) to re-list in the window.

        Delta also returns series masters (not single items) and reports ``@removed`` for events that
        only changed or moved outside the window, so a removal is re-read before it counts as a deletion.
        """
        events: set[str] = set()
        series: set[str] = set()
        for entry in entries:
            graph_id = str(entry["id"])
            if entry.get("seriesMasterId"):
                series.add(str(entry["seriesMasterId"]))
            elif entry.get("type") == "seriesMaster" or graph_id in self._starts:
                series.add(graph_id)
            elif "@removed" in entry and graph_id in self._occurrences:
                series.add(self._ids.get(self._occurrences[graph_id], graph_id))
            else:
                events.add(graph_id)
        return events, series

    def _reread(self, events: set[str], series: set[str], window: Window, trusted: bool) -> _Reread | None:
        """Re-read changed events by id and changed series whole (their instances in the window).

        An event that turns out to be part of a series has its series re-listed in a second round.
        None when an event is gone that no listing named (its uid is unknown): the caller lists anew;
        when the token came from this adapter, every item the caller has seen is known, so such an
        event was never seen and is skipped.
        """
        found = _Reread()
        while events or series:
            found.listed |= series
            answers = self._http.batch(self._reread_requests(events, series, window))
            more: set[str] = set()
            for member_id, member in answers.items():
                kind, graph_id = member_id.split(":", 1)
                if int(member.get("status", 0)) == 404:
                    if graph_id in self._uids:
                        found.deleted.add(self._uids[graph_id])
                    elif not trusted:
                        return None
                    continue
                got = self._member_events(member)
                more |= {str(e["seriesMasterId"]) for e in got if in_series(e)} if kind == "e" else set()
                more |= {str(e["id"]) for e in got if e.get("type") == "seriesMaster"}
                found.events.extend(
                    e for e in got if e.get("type") in ("singleInstance", None) or kind == "s"
                )
            events, series = set(), more - found.listed
        return found

    def _reread_requests(self, events: set[str], series: set[str], window: Window) -> list[Event]:
        window_query = urlencode({**self._window_params(window), "$top": str(self._page_size)})
        read = urlencode(READ, quote_via=quote)
        urls = {f"e:{i}": f"/{self._event_url(i)}?{read}" for i in sorted(events)}
        urls |= {f"s:{m}": f"/{self._event_url(m)}/instances?{window_query}&{read}" for m in sorted(series)}
        return [{"id": k, "method": "GET", "url": u, "headers": {"Prefer": PREFER}} for k, u in urls.items()]

    def _member_events(self, member: Event) -> list[Event]:
        status, body = int(member.get("status", 0)), member.get("body") or {}
        if status == 404:
            return []  # deleted since: the next delta round reports it
        if status >= 400:
            raise self._http.translate(status, body)
        if "value" not in body:
            return [body]
        found = list(body["value"])
        if body.get("@odata.nextLink"):
            found.extend(self._http.items(body["@odata.nextLink"]))
        return found


@dataclass
class _Reread:
    """What a delta round's re-reads found: events (singles and instances), series listed, uids gone."""

    events: list[Event] = field(default_factory=list)
    listed: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Seen:
    """What a write must know of an event: who Outlook would mail, and its body as text (None: unread)."""

    mailed: tuple[str, ...]
    text: str | None


def _batch_requests(urls: list[str]) -> list[Event]:
    return [
        {"id": str(n), "method": "GET", "url": u, "headers": {"Prefer": PREFER}} for n, u in enumerate(urls)
    ]


def _if_match(version: str | None) -> dict[str, str]:
    return {} if version is None else {"If-Match": version}


def local_zone() -> str:
    """This computer's time zone, the technician's: its IANA name, or Windows' own (Graph takes both).

    ``TZ`` first, then the zone ``/etc/localtime`` links to, then Windows' registry; else UTC.
    """
    named = os.environ.get("TZ", "").lstrip(":")
    if named and _known_zone(named):
        return named
    with contextlib.suppress(OSError):
        target = str(Path("/etc/localtime").resolve())
        if "/zoneinfo/" in target and _known_zone(found := target.split("/zoneinfo/", 1)[1]):
            return found
    if sys.platform == "win32":  # pragma: no cover - Windows only
        import winreg

        with contextlib.suppress(OSError):
            key = r"SYSTEM\CurrentControlSet\Control\TimeZoneInformation"
            with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key) as handle:
                return str(winreg.QueryValueEx(handle, "TimeZoneKeyName")[0])
    return "UTC"


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _transaction_id(item: PersonalItem) -> str:
    """Makes a retried POST create one item only; and two devices' copies of one PSA item one item (B9):
    a copy's uid derives from the PSA id, and so does its transaction id."""
    if item.uid and item.stamp is not None and item.stamp.origin is Origin.DOWNLOADED:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"calferry:{item.uid}"))
    return str(uuid.uuid4())
