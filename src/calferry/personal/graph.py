"""Outlook (Exchange Online / Microsoft 365) through Microsoft Graph v1.0, with plain httpx and msal.

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
calendar names it), a ``$batch`` counting as four (Outlook runs up to four of its members at once),
429/503 answered after ``Retry-After`` (also for the members of a ``$batch``, after the largest one),
exponential backoff otherwise.

A write whose answer was lost (a dropped connection, or a 503/504 from the gateway) is sent again, so
it may meet its own effect: a repeated DELETE that finds nothing (404) has deleted, and a repeated
PATCH refused for its now outdated change key (412) has written if the event already holds every
field that was sent.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import html
import itertools
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import msal
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from calferry.errors import (
    CalferryError,
    ConfigError,
    CredentialsMissing,
    InputError,
    MalformedCalendar,
    MeetingNotChanged,
    NotFound,
    PermissionDenied,
    PersonalCalendarError,
    PersonalUnavailable,
    StaleVersion,
    SyncTokenExpired,
)
from calferry.model import (
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
from calferry.personal import token_cache
from calferry.personal.base import Changes, Snapshot

if TYPE_CHECKING:
    from calferry.config import Settings

STAMP_GUID = "8f3c2a61-4d0b-4e7a-9b52-c4a1f07d3e19"
"""Never change it: stamps already written by calferry are found by this GUID."""
STAMP_PROPERTY = f"String {{{STAMP_GUID}}} Name CalferryStamp"
UID_PROPERTY = f"String {{{STAMP_GUID}}} Name CalferryUid"
"""The uid an item was created with by calferry (Graph's iCalUId is read-only, so it cannot be set)."""
SCOPES = ("Calendars.ReadWrite",)
DEFAULT_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_LOGIN_URL = "https://login.microsoftonline.com"
MAX_IN_FLIGHT = 4
BATCH_LIMIT = 20
PREFER = 'outlook.timezone="UTC", IdType="ImmutableId", outlook.body-content-type="text"'
_FIELDS = (
    "id,type,seriesMasterId,originalStart,occurrenceId,start,end,isAllDay,subject,body,location,"
    "sensitivity,categories,isReminderOn,reminderMinutesBeforeStart,showAs,attendees,iCalUId,changeKey,"
    "isOrganizer,isCancelled"
)
"""Every field calferry reads: ``originalStart`` is not in Graph's default projection, so it is asked for."""
_EXPAND = f"singleValueExtendedProperties($filter=id eq '{STAMP_PROPERTY}' or id eq '{UID_PROPERTY}')"
_READ = {"$select": _FIELDS, "$expand": _EXPAND}
_SHOW_AS = {s.value: s for s in ShowAs}
_RETRYABLE = (429, 503, 504)
_MAYBE_DONE = (503, 504)
_TOKEN_REFUSED = ("syncstatenotfound", "resyncrequired", "invaliddeltatoken")
"""Codes of a refused delta token; Graph documents "40X-series error with codes such as" the first."""

TokenProvider = Callable[[], str]
Event = dict[str, Any]


# --- sign-in (msal device code flow, token cache in the OS keyring: see token_cache) ------------


def _cache_name(tenant: str, client_id: str) -> str:
    return f"graph-token-cache:{tenant}:{client_id}"


def _authority(tenant: str, login_url: str = DEFAULT_LOGIN_URL) -> str:
    return f"{login_url.rstrip('/')}/{tenant or 'organizations'}"


def _public_app(
    tenant: str, client_id: str, cache: msal.SerializableTokenCache, login_url: str = DEFAULT_LOGIN_URL
) -> msal.PublicClientApplication:
    """msal discovers the tenant over the network here, so failures are translated.

    Another sign-in host than Microsoft's (a test stand-in) is taken as it is: msal's instance
    discovery, which asks Microsoft whether it knows the host, is off for it.
    """
    if not client_id:
        raise ConfigError(
            "personal.graph_client_id is not set",
            hint="ask your administrator for the app's client id (docs/outlook.md), then "
            "`calferry config set personal.graph_client_id <id>`",
        )
    try:
        return msal.PublicClientApplication(
            client_id,
            authority=_authority(tenant, login_url),
            token_cache=cache,
            instance_discovery=None if login_url.rstrip("/") == DEFAULT_LOGIN_URL else False,
        )
    except ValueError as exc:
        raise ConfigError(f"Microsoft Entra rejected tenant {tenant!r}: {exc}") from exc
    except Exception as exc:  # msal lets requests' errors through
        raise PersonalUnavailable(f"cannot reach Microsoft Entra: {type(exc).__name__}") from exc


class MsalTokens:
    """A token provider over msal's cache kept in the keyring; refreshes silently, never prompts."""

    def __init__(
        self,
        tenant: str,
        client_id: str,
        *,
        make_app: Callable[[msal.SerializableTokenCache], Any] | None = None,
        login_url: str = "",
    ) -> None:
        """``make_app`` builds the msal application over the cache read from the keyring (tests pass theirs)."""
        self._tenant, self._client_id = tenant, client_id
        self._make_app = make_app or functools.partial(
            _public_app, tenant, client_id, login_url=login_url or DEFAULT_LOGIN_URL
        )
        self._app: msal.PublicClientApplication | None = None
        self._cache = msal.SerializableTokenCache()
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            result = self._silent()
        if not result or "access_token" not in result:
            reason = (result or {}).get("error_description") or "no signed-in account"
            raise CredentialsMissing(
                f"not signed in to Outlook ({reason.splitlines()[0]})",
                hint="run `calferry login --outlook`; if it keeps failing, ask your administrator about consent",
            )
        return str(result["access_token"])

    def _silent(self) -> dict[str, Any] | None:
        name = _cache_name(self._tenant, self._client_id)
        if self._app is None:
            stored = token_cache.load(name)
            if not stored:
                return None
            self._cache.deserialize(stored)
            self._app = self._make_app(self._cache)
        accounts = self._app.get_accounts()
        if not accounts:
            return None
        try:
            # the variant with error: a refused refresh token says why (AADSTS...), not just "no token"
            result = self._app.acquire_token_silent_with_error(list(SCOPES), account=accounts[0])
        except Exception as exc:  # network errors from requests
            raise PersonalUnavailable(f"cannot reach Microsoft Entra: {type(exc).__name__}") from exc
        if self._cache.has_state_changed:
            token_cache.save(name, self._cache.serialize())
        return dict(result) if result else None


def sign_in(settings: Settings, show: Callable[[str], None], *, app: Any = None) -> str:
    """Device code sign-in (``calferry login --outlook``): shows msal's message, waits, keeps the cache.

    Returns the signed-in account's user name. ``app`` replaces the msal application in tests.
    """
    tenant, client_id = settings.personal.graph_tenant, settings.personal.graph_client_id
    cache = msal.SerializableTokenCache()
    login_url = settings.personal.graph_login_url or DEFAULT_LOGIN_URL
    application = app or _public_app(tenant, client_id, cache, login_url)
    flow = application.initiate_device_flow(scopes=list(SCOPES))
    if "user_code" not in flow:
        raise CredentialsMissing(f"Outlook sign-in could not start: {flow.get('error_description', flow)}")
    show(flow["message"])
    result = application.acquire_token_by_device_flow(flow)
    if "access_token" not in result:
        raise CredentialsMissing(
            f"Outlook sign-in failed: {result.get('error_description') or result.get('error')}",
            hint="an administrator may have to grant consent for Calendars.ReadWrite (docs/outlook.md)",
        )
    store = getattr(application, "token_cache", None) or cache
    token_cache.save(_cache_name(tenant, client_id), store.serialize())
    claims = result.get("id_token_claims") or {}
    return str(claims.get("preferred_username") or claims.get("name") or "signed in")


def sign_out(settings: Settings) -> bool:
    """Forget the Outlook tokens (``calferry logout --outlook``); False if none were stored."""
    return token_cache.forget(_cache_name(settings.personal.graph_tenant, settings.personal.graph_client_id))


# --- HTTP: concurrency gate, retries, error translation ---------------------------------------


class _Gate:
    """Graph allows four concurrent requests per app and mailbox; every adapter on one shares its gate.

    Outlook runs up to four members of a ``$batch`` at once, so a batch takes every permit. Batches
    take theirs one batch at a time, so two of them never each hold some and wait for the rest.
    """

    def __init__(self) -> None:
        self._permits = threading.BoundedSemaphore(MAX_IN_FLIGHT)
        self._whole = threading.Lock()

    @contextlib.contextmanager
    def one(self) -> Iterator[None]:
        with self._permits:
            yield

    @contextlib.contextmanager
    def whole(self) -> Iterator[None]:
        with self._whole:
            for _ in range(MAX_IN_FLIGHT):
                self._permits.acquire()
        try:
            yield
        finally:
            for _ in range(MAX_IN_FLIGHT):
                self._permits.release()


_GATES: dict[str, _Gate] = {}
_GATES_LOCK = threading.Lock()


def _gate(mailbox: str) -> _Gate:
    with _GATES_LOCK:
        return _GATES.setdefault(mailbox, _Gate())


class _Http:
    """Authenticated Graph calls with throttling handled and errors translated to calferry's tree."""

    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        token: TokenProvider,
        *,
        retries: int,
        base_delay: float,
        sleep: Callable[[float], None],
    ) -> None:
        self.client, self.base_url, self.token = client, base_url.rstrip("/"), token
        self.retries, self.base_delay, self.sleep = retries, base_delay, sleep
        self._gate: _Gate | None = None
        self._gate_lock = threading.Lock()

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request (see :meth:`send`), its error answer translated."""
        return _checked(self.send(method, url, **kwargs)[0])

    def send(self, method: str, url: str, **kwargs: Any) -> tuple[httpx.Response, bool]:
        """One request through the mailbox's gate: the answer, and whether an earlier answer was lost.

        A ``$batch`` counts as four requests (Outlook runs up to four of its members at once).
        """
        gate = self._mailbox_gate()
        return self._retried(gate.whole if url == "$batch" else gate.one, method, url, **kwargs)

    def _retried(
        self, gate: Callable[[], contextlib.AbstractContextManager[Any]], method: str, url: str, **kwargs: Any
    ) -> tuple[httpx.Response, bool]:
        """Repeated after 429/503/504 or a dropped connection (POSTs carry a transactionId).

        After a dropped connection, a 503 or a 504 the request may have been carried out although its
        answer was lost (a gateway timeout says nothing of what happened behind it), so the repeat may
        meet its own effect; the flag tells the caller.
        """
        lost = False
        for attempt in itertools.count():
            try:
                response = self._once(gate, method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt >= self.retries or isinstance(exc, httpx.LocalProtocolError):
                    raise PersonalUnavailable(f"cannot reach Microsoft Graph: {type(exc).__name__}") from exc
                lost = True
                self.sleep(self._backoff(attempt))
                continue
            if response.status_code not in _RETRYABLE or attempt >= self.retries:
                return response, lost
            lost = lost or response.status_code in _MAYBE_DONE
            self.sleep(_retry_after(response.headers) or self._backoff(attempt))
        raise AssertionError("unreachable")

    def _mailbox_gate(self) -> _Gate:
        """The gate of the signed-in mailbox, named by its default calendar's owner.

        Asking for the owner is the one request that passes no gate; Calendars.ReadWrite allows it
        (``/me`` itself would need User.Read).
        """
        with self._gate_lock:
            if self._gate is None:
                answer, _ = self._retried(
                    contextlib.nullcontext, "GET", "me/calendar", params={"$select": "owner"}
                )
                owner = _body(_checked(answer)).get("owner") or {}
                self._gate = _gate(f"{self.base_url} {str(owner.get('address', '')).casefold()}")
            return self._gate

    def use_mailbox(self, owner: str) -> None:
        """The calendar in use belongs to ``owner``'s mailbox: its four-request limit applies."""
        with self._gate_lock:
            self._gate = _gate(f"{self.base_url} {owner.casefold()}")

    def json(self, method: str, url: str, **kwargs: Any) -> Event:
        response = self.call(method, url, **kwargs)
        return _body(response)

    def items(self, url: str, params: dict[str, str] | None = None) -> Iterator[Event]:
        """Every item of a collection, following ``@odata.nextLink``."""
        next_url: str | None = url
        while next_url:
            page = self.json("GET", next_url, params=params)
            yield from page.get("value", [])
            next_url, params = page.get("@odata.nextLink"), None

    def batch(self, requests: builtins.list[Event]) -> dict[str, Event]:
        """Member responses by id; members answered 429 are sent again after the largest Retry-After."""
        results: dict[str, Event] = {}
        for start in range(0, len(requests), BATCH_LIMIT):
            pending = requests[start : start + BATCH_LIMIT]
            for attempt in itertools.count():
                body = self.json("POST", "$batch", json={"requests": pending})
                waits: builtins.list[float] = []
                by_id = {r["id"]: r for r in pending}
                pending = []
                for member in body.get("responses", []):
                    if member.get("status") in _RETRYABLE and attempt < self.retries:
                        pending.append(by_id[member["id"]])
                        waits.append(_retry_after(member.get("headers") or {}) or self._backoff(attempt))
                    else:
                        results[member["id"]] = member
                if not pending:
                    break
                self.sleep(max(waits))
        return results

    def _once(
        self,
        gate: Callable[[], contextlib.AbstractContextManager[Any]],
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        all_headers = {"Authorization": f"Bearer {self.token()}", "Prefer": PREFER, **(headers or {})}
        with gate():
            return self.client.request(method, url, headers=all_headers, **kwargs)

    def _backoff(self, attempt: int) -> float:
        return float(self.base_delay * (2**attempt))


def _retry_after(headers: Any) -> float | None:
    """Graph's Retry-After is in seconds and may be fractional."""
    lowered = {str(k).lower(): v for k, v in dict(headers).items()}
    try:
        return max(float(lowered["retry-after"]), 0.0)
    except (KeyError, ValueError):
        return None


def _body(response: httpx.Response) -> Event:
    if not response.content:
        return {}
    try:
        data = response.json()
    except ValueError as exc:
        raise PersonalCalendarError("Microsoft Graph answered with something other than JSON") from exc
    return data if isinstance(data, dict) else {}


def _checked(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    try:
        body = _body(response)
    except PersonalCalendarError:
        body = {}
    raise translate(response.status_code, body)


def translate(status: int, body: Event) -> CalferryError:
    """Graph's error answer (status + ``{"error": {code, message}}``) as calferry's error."""
    error = body.get("error") or {}
    code, message = str(error.get("code", "")), str(error.get("message", ""))
    text = f"Microsoft Graph answered {status} {code}: {message}".rstrip(": ")
    if status == 401:
        return CredentialsMissing("Outlook refused the sign-in token", hint="run `calferry login --outlook`")
    if status == 403:
        hint = "the app needs the delegated permission Calendars.ReadWrite (docs/outlook.md)"
        return PermissionDenied(text, side="personal", hint=hint)
    if status == 404:
        return NotFound(text, side="personal")
    if status in (409, 412):
        return StaleVersion(f"the Outlook item changed since it was read ({code or status})")
    if status == 410 or code.lower() in _TOKEN_REFUSED:
        return SyncTokenExpired(text, status=status)
    if code == "ErrorOccurrenceCrossingBoundary":
        return PersonalCalendarError(
            "Outlook cannot move one occurrence of a series to or past the day of the previous or next "
            "one, and the PSA moved it there",
            status=status,
            hint="move it in Outlook yourself, or make it an item of its own in the PSA",
        )
    if status in _RETRYABLE or status >= 500:
        return PersonalUnavailable(text, status=status)
    return PersonalCalendarError(text, status=status)


# --- reading Graph events ---------------------------------------------------------------------


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


def _in_series(event: Event) -> bool:
    return event.get("type") in ("occurrence", "exception")


def _parse(event: Event, series_uid: str | None, series_start: datetime | None) -> PersonalItem:
    kind = event.get("type") or "singleInstance"
    in_series = _in_series(event)
    all_day = bool(event.get("isAllDay"))
    return PersonalItem(
        uid=(series_uid or event["seriesMasterId"]) if in_series else own_uid(event),
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
        recurrence_id=original_start(event, series_start) if in_series else None,
        stamp=read_stamp(event),
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


def _invites_allowed(item: PersonalItem) -> bool:
    """Items written from the PSA side never carry attendees: no invitation may ever go out (R9)."""
    return bool(item.attendees) and (item.stamp is None or item.stamp.origin is not Origin.DOWNLOADED)


def _series_zone_start(master: Event) -> datetime:
    """The master's start in the zone the series was made in (its wall time names every occurrence)."""
    start = _utc(_when(master["start"], False))
    zone = str(master.get("originalStartTimeZone") or "UTC")
    with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
        return start.astimezone(ZoneInfo(WINDOWS_TO_OLSON.get(zone, zone)))
    return start


def _utc(value: When) -> datetime:
    return (
        value.astimezone(UTC)
        if isinstance(value, datetime)
        else datetime(value.year, value.month, value.day, tzinfo=UTC)
    )


def _wire_instant(value: When) -> str:
    return _iso(value) if isinstance(value, datetime) else f"{value.isoformat()}T00:00:00Z"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quoted(text: str) -> str:
    """An OData string literal's content: single quotes doubled."""
    return text.replace("'", "''")


# --- the adapter --------------------------------------------------------------------------------


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
        retries: int = 6,
        retry_base_delay: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = 200,
        time_zone: str = "UTC",
    ) -> None:
        """``time_zone`` is the technician's (IANA or Windows name): all-day items are written in it."""
        self._own_client = client is None
        self._client = client or httpx.Client(base_url=base_url.rstrip("/") + "/", timeout=60.0)
        self._base_url = base_url.rstrip("/")
        self._http = _Http(
            self._client, base_url, token_provider, retries=retries, base_delay=retry_base_delay, sleep=sleep
        )
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

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> GraphCalendar:
        """The adapter for ``personal.backend = graph``, signed in through the keyring's token cache."""
        personal = settings.personal
        if not personal.graph_client_id:
            raise ConfigError(
                "personal.graph_client_id is not set", hint="see docs/outlook.md for the app registration"
            )
        tokens = MsalTokens(
            personal.graph_tenant, personal.graph_client_id, login_url=personal.graph_login_url
        )
        base_url = personal.graph_url or DEFAULT_URL
        options = {"time_zone": local_zone(), **kwargs}
        return cls(token_provider=tokens, base_url=base_url, calendar=personal.graph_calendar, **options)

    # --- reading ---------------------------------------------------------------------------------

    def list(self, window: Window) -> Snapshot:
        token = self._delta_link(window)  # first, so nothing written meanwhile is missed later
        items, problems = self._view(window)
        self._issued.add(token)
        return Snapshot(items, token, problems)

    def get(self, key: ItemKey) -> PersonalItem:
        if key.recurrence_id is None:
            event = self._http.json("GET", self._event_url(self._graph_id(key.uid)), params=_READ)
        else:
            event = self._occurrence(key)
        self._note(event)
        return parse_event(event, key.uid, self._series_start(key.uid) if key.recurrence_id else None)

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
        inside = [i for i in items if window.overlaps(_utc(i.start), _utc(i.end))]
        touched = {i.uid for i in items} | {self._uids[m] for m in read.listed if m in self._uids}
        deleted = read.deleted - {i.uid for i in items}
        self._issued.add(link)
        return Changes(
            tuple(sorted(inside, key=lambda i: (_utc(i.start), i.ref))),
            tuple(sorted(deleted)),
            link,
            problems=problems,
            changed_uids=tuple(sorted(touched | deleted)),
        )

    # --- writing ---------------------------------------------------------------------------------

    def create(self, item: PersonalItem) -> PersonalItem:
        if item.recurring or item.recurrence_id is not None:
            raise InputError("create makes single Outlook items, not series or occurrences")
        body = event_body(item, attendees=_invites_allowed(item), zone=self._zone)
        if item.uid:
            body["singleValueExtendedProperties"].append({"id": UID_PROPERTY, "value": item.uid})
        body["transactionId"] = str(uuid.uuid4())  # makes a retried POST create one item only
        event = self._http.json("POST", f"{self._calendar()}/events", json=body)
        uid = item.uid or own_uid(event)
        self._remember_item(event["id"], uid)
        self._note(event)
        return replace(parse_event(event), uid=uid, stamp=item.stamp)

    def update(self, item: PersonalItem) -> PersonalItem:
        if attendees := self._mailed(item.key):
            raise _update_refusal(self.get(item.key), item, len(attendees))
        body = event_body(item, attendees=False, zone=self._zone)  # attendees are never rewritten
        del body["body"]
        if (new_body := self._body_for(self._event_id(item.key), item.description)) is not None:
            body["body"] = new_body
        return self._patch(item.key, body, item.version, item.stamp)

    def delete(self, key: ItemKey, version: str | None = None) -> None:
        if attendees := self._mailed(key):
            raise _delete_refusal(self.get(key), len(attendees))
        url = self._event_url(self._event_id(key))
        answer, lost = self._http.send("DELETE", url, headers=_if_match(version))
        if lost and answer.status_code == 404:
            return  # the lost answer was this delete's own: the item is gone
        _checked(answer)

    def set_stamp(self, key: ItemKey, stamp: Stamp | None, version: str | None = None) -> PersonalItem:
        """A meeting the technician organises is not stamped (its link alone knows it was sent).

        Whether Exchange mails attendees for a PATCH of an extended property alone is not documented,
        and calferry promises to mail no one, so such a meeting is left as it is.
        """
        if self._mailed(key):
            return self.get(key)
        return self._patch(key, {"singleValueExtendedProperties": [stamp_property(stamp)]}, version, stamp)

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    # --- calendars and ids -----------------------------------------------------------------------

    def _calendar(self) -> str:
        """``me/calendar`` or ``me/calendars/{id}`` for the configured calendar (id or name)."""
        if self._calendar_path is None:
            self._calendar_path = self._resolve_calendar(self._calendar_setting)
        return self._calendar_path

    def _resolve_calendar(self, wanted: str) -> str:
        """A calendar shared from another mailbox is that mailbox's: its events are reached through the
        calendar (``me/events/{id}`` resolves only the signed-in mailbox), and its owner's gate is used."""
        if not wanted:
            return "me/calendar"
        calendars = builtins.list(self._http.items("me/calendars", {"$top": "100"}))
        for cal in calendars:
            if wanted == cal.get("id") or wanted.casefold() == str(cal.get("name")).casefold():
                owner = str(((cal.get("owner") or {}).get("address")) or "")
                if owner:
                    self._http.use_mailbox(owner)
                return f"me/calendars/{quote(cal['id'], safe='')}"
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
            return {"contentType": "html", "content": _text_as_html(description)}
        return {"contentType": "text", "content": description}

    def _event_url(self, event_id: str) -> str:
        """An event through its calendar, which reaches events of calendars shared from other mailboxes."""
        return f"{self._calendar()}/events/{quote(event_id, safe='')}"

    def _remember_item(self, graph_id: str, uid: str) -> None:
        self._ids[uid], self._uids[graph_id] = graph_id, uid

    def _remember(self, event: Event, item: PersonalItem) -> None:
        if not _in_series(event):
            self._remember_item(event["id"], item.uid)
        elif item.recurrence_id is not None:
            self._occurrence_ids[(item.uid, format_recurrence_id(item.recurrence_id))] = event["id"]
            self._occurrences[event["id"]] = item.uid

    def _graph_id(self, uid: str) -> str:
        """The Graph id of the single item or series master ``uid``: by iCalUId, else by calferry's uid."""
        if uid in self._ids:
            return self._ids[uid]
        prop = f"ep/id eq '{UID_PROPERTY}' and ep/value eq '{_quoted(uid)}'"
        for condition in (f"iCalUId eq '{_quoted(uid)}'", f"singleValueExtendedProperties/any(ep: {prop})"):
            params = {"$filter": condition, **_READ}
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
        at = _utc(parse_recurrence_id(rid))
        for reach in (timedelta(days=2), timedelta(days=400)):
            params = {"startDateTime": _iso(at - reach), "endDateTime": _iso(at + reach), **_READ}
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

    def _patch(self, key: ItemKey, body: Event, version: str | None, stamp: Stamp | None) -> PersonalItem:
        url = self._event_url(self._event_id(key))
        answer, lost = self._http.send("PATCH", url, json=body, headers=_if_match(version))
        if lost and answer.status_code == 412:
            answer = self._written_already(url, body) or answer  # else: StaleVersion below
        event = _body(_checked(answer))
        if key.recurrence_id is not None:  # the answer is the default projection, without originalStart
            event = {**event, "originalStart": _wire_instant(parse_recurrence_id(key.recurrence_id))}
        return replace(parse_event(event, key.uid), uid=key.uid, stamp=stamp)

    def _written_already(self, url: str, body: Event) -> httpx.Response | None:
        """The event read again if it already holds every field of ``body``: the lost write took place."""
        current = self._http.call("GET", url, params=_READ)
        event = _body(current)
        if (body.get("body") or {}).get("contentType") == "html":  # read back as text: not comparable
            body = {k: v for k, v in body.items() if k != "body"}
        return current if _comparable(_written_over(event, body)) == _comparable(event) else None

    # --- listing ---------------------------------------------------------------------------------

    def _window_params(self, window: Window) -> dict[str, str]:
        return {"startDateTime": _iso(window.start), "endDateTime": _iso(window.end)}

    def _view(self, window: Window) -> tuple[tuple[PersonalItem, ...], tuple[str, ...]]:
        params = {**self._window_params(window), "$top": str(self._page_size), **_READ}
        return self._items(builtins.list(self._http.items(f"{self._calendar()}/calendarView", params)))

    def _items(self, events: builtins.list[Event]) -> tuple[tuple[PersonalItem, ...], tuple[str, ...]]:
        """Parse events, naming occurrences by their series' uid; unreadable ones become problems."""
        masters = {e["seriesMasterId"] for e in events if _in_series(e)}
        self._learn_masters({m for m in masters if m not in self._uids or m not in self._starts})
        items: builtins.list[PersonalItem] = []
        problems: builtins.list[str] = []
        for event in events:
            try:
                master = str(event.get("seriesMasterId"))
                item = parse_event(event, self._uids.get(master), self._starts.get(master))
            except MalformedCalendar as exc:
                problems.append(str(exc))
                continue
            self._remember(event, item)
            self._note(event)
            items.append(item)
        return tuple(items), tuple(problems)

    def _learn_masters(self, master_ids: set[str]) -> None:
        """Series uids come from the masters (an occurrence's iCalUId is its own), read in $batch."""
        select = "id,iCalUId,type,start,originalStartTimeZone"
        query = urlencode({"$select": select, "$expand": _EXPAND}, quote_via=quote)
        urls = [f"/{self._event_url(m)}?{query}" for m in sorted(master_ids)]
        for member in self._http.batch(_batch_requests(urls)).values():
            for master in self._member_events(member):
                self._remember_item(master["id"], own_uid(master))
                self._starts[master["id"]] = _series_zone_start(master)

    def _series_start(self, uid: str) -> datetime | None:
        """The series' first start in its own zone (names exceptions that came without originalStart)."""
        master_id = self._graph_id(uid)
        if master_id not in self._starts:
            self._learn_masters({master_id})
        return self._starts.get(master_id)

    def _rid_text(self, event: Event) -> str | None:
        try:
            original = original_start(event, self._starts.get(str(event.get("seriesMasterId"))))
        except (KeyError, ValueError):
            return None
        return format_recurrence_id(original)

    def _full(self, window: Window, link: str | None = None) -> Changes:
        if link is None:
            snapshot = self.list(window)
            return Changes(snapshot.items, (), snapshot.token, full=True, problems=snapshot.problems)
        items, problems = self._view(window)
        self._issued.add(link)
        return Changes(items, (), link, full=True, problems=problems)

    # --- delta -----------------------------------------------------------------------------------

    def _delta_link(self, window: Window) -> str:
        url = f"{self._calendar()}/calendarView/delta"
        return self._delta_round(url, self._window_params(window))[1]

    def _delta_round(self, url: str, params: dict[str, str] | None) -> tuple[builtins.list[Event], str]:
        """Follow a delta round's next links to its deltaLink; returns the entries and that link."""
        entries: builtins.list[Event] = []
        headers = {"Prefer": f"{PREFER}, odata.maxpagesize={self._page_size}"}
        next_url: str | None = url
        while next_url:
            page = self._http.json("GET", next_url, params=params, headers=headers)
            entries.extend(page.get("value", []))
            if "@odata.deltaLink" in page:
                return entries, str(page["@odata.deltaLink"])
            next_url, params = page.get("@odata.nextLink"), None
        raise PersonalCalendarError("Microsoft Graph ended a delta round without a deltaLink")

    def _classify(self, entries: builtins.list[Event]) -> tuple[set[str], set[str]]:
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
                more |= {str(e["seriesMasterId"]) for e in got if _in_series(e)} if kind == "e" else set()
                more |= {str(e["id"]) for e in got if e.get("type") == "seriesMaster"}
                found.events.extend(
                    e for e in got if e.get("type") in ("singleInstance", None) or kind == "s"
                )
            events, series = set(), more - found.listed
        return found

    def _reread_requests(self, events: set[str], series: set[str], window: Window) -> builtins.list[Event]:
        window_query = urlencode({**self._window_params(window), "$top": str(self._page_size)})
        read = urlencode(_READ, quote_via=quote)
        urls = {f"e:{i}": f"/{self._event_url(i)}?{read}" for i in sorted(events)}
        urls |= {f"s:{m}": f"/{self._event_url(m)}/instances?{window_query}&{read}" for m in sorted(series)}
        return [{"id": k, "method": "GET", "url": u, "headers": {"Prefer": PREFER}} for k, u in urls.items()]

    def _member_events(self, member: Event) -> builtins.list[Event]:
        status, body = int(member.get("status", 0)), member.get("body") or {}
        if status == 404:
            return []  # deleted since: the next delta round reports it
        if status >= 400:
            raise translate(status, body)
        if "value" not in body:
            return [body]
        found = builtins.list(body["value"])
        if body.get("@odata.nextLink"):
            found.extend(self._http.items(body["@odata.nextLink"]))
        return found


@dataclass
class _Reread:
    """What a delta round's re-reads found: events (singles and instances), series listed, uids gone."""

    events: builtins.list[Event] = field(default_factory=builtins.list)
    listed: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Seen:
    """What a write must know of an event: who Outlook would mail, and its body as text (None: unread)."""

    mailed: tuple[str, ...]
    text: str | None


def _text_as_html(text: str) -> str:
    lines = "<br>\n".join(html.escape(line) for line in text.split("\n"))
    return f"<html><body>{lines}</body></html>"


def _update_refusal(current: PersonalItem, wanted: PersonalItem, attendees: int) -> MeetingNotChanged:
    """What the PSA changed in a meeting calferry may not write, and what the technician can do."""
    changes = []
    if wanted.subject != current.subject:
        changes.append(f"the title “{wanted.subject}”")
    if (_utc(wanted.start), _utc(wanted.end)) != (_utc(current.start), _utc(current.end)):
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


def _delete_refusal(current: PersonalItem, attendees: int) -> MeetingNotChanged:
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


def _written_over(event: Event, body: Event) -> Event:
    """``event`` as a PATCH of ``body`` leaves it: fields replaced, extended properties merged by id."""
    props = {str(p["id"]).lower(): p for p in event.get("singleValueExtendedProperties") or ()}
    props |= {str(p["id"]).lower(): p for p in body.get("singleValueExtendedProperties") or ()}
    return {**event, **body, "singleValueExtendedProperties": builtins.list(props.values())}


def _comparable(event: Event) -> PersonalItem:
    """What calferry reads of an event, without its version: equal when the same fields are held."""
    return replace(parse_event(event), version=None)


def _batch_requests(urls: builtins.list[str]) -> builtins.list[Event]:
    return [
        {"id": str(n), "method": "GET", "url": u, "headers": {"Prefer": PREFER}} for n, u in enumerate(urls)
    ]


def _if_match(version: str | None) -> dict[str, str]:
    return {} if version is None else {"If-Match": version}
