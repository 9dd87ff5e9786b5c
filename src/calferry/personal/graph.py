"""Outlook (Exchange Online / Microsoft 365) through Microsoft Graph v1.0, with plain httpx and msal.

Identity: an item's ``uid`` is its Graph ``id`` as an immutable id (``Prefer: IdType="ImmutableId"``),
and the uid of every occurrence and exception of a series is its ``seriesMasterId``. Graph's ``iCalUId``
is not used because v1.0 gives each occurrence its own; immutable ids stay put when an item is moved
between folders. The recurrence id of an occurrence is its ``originalStart``. Graph assigns ids itself,
so ``create`` cannot keep a caller's uid: the returned item carries the new one.

The stamp (R16, R20) lives in one single-value extended property with one fixed GUID,
:data:`STAMP_PROPERTY`, holding JSON; an empty value means "no stamp" (v1.0 cannot delete one).

Changes come from ``calendarView/delta`` (the deltaLink is the token). Delta answers carry no extended
properties and only sparse occurrences, so changed items are re-read through ``$batch`` (at most 20 per
request), and a changed series is re-listed whole inside the window, as every adapter does. A removal
cannot be traced to its series (a removed occurrence is only an id), so any removal, and a refused
token (410), is answered with a full listing (``Changes.full``) for the caller to diff.

Throttling: at most four requests in flight per mailbox, 429/503 answered after ``Retry-After`` (also
for the members of a ``$batch``, after the largest one), exponential backoff otherwise.
"""

from __future__ import annotations

import builtins
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import msal

from calferry import secrets
from calferry.errors import (
    CalferryError,
    ConfigError,
    CredentialsMissing,
    InputError,
    MalformedCalendar,
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
from calferry.personal.base import Changes, Snapshot

if TYPE_CHECKING:
    from calferry.config import Settings

STAMP_GUID = "8f3c2a61-4d0b-4e7a-9b52-c4a1f07d3e19"
"""Never change it: stamps already written by calferry are found by this GUID."""
STAMP_PROPERTY = f"String {{{STAMP_GUID}}} Name CalferryStamp"
SCOPES = ("Calendars.ReadWrite",)
DEFAULT_URL = "https://graph.microsoft.com/v1.0"
MAX_IN_FLIGHT = 4
BATCH_LIMIT = 20
PREFER = 'outlook.timezone="UTC", IdType="ImmutableId", outlook.body-content-type="text"'
_EXPAND = f"singleValueExtendedProperties($filter=id eq '{STAMP_PROPERTY}')"
_SHOW_AS = {s.value: s for s in ShowAs}
_RETRYABLE = (429, 503, 504)

TokenProvider = Callable[[], str]
Event = dict[str, Any]


# --- sign-in (msal device code flow, token cache in the OS keyring) ---------------------------


def _cache_name(tenant: str, client_id: str) -> str:
    return f"graph-token-cache:{tenant}:{client_id}"


def _authority(tenant: str) -> str:
    return f"https://login.microsoftonline.com/{tenant or 'organizations'}"


def _public_app(
    tenant: str, client_id: str, cache: msal.SerializableTokenCache
) -> msal.PublicClientApplication:
    """msal discovers the tenant over the network here, so failures are translated."""
    if not client_id:
        raise ConfigError(
            "personal.graph_client_id is not set",
            hint="ask your administrator for the app's client id (docs/outlook.md), then "
            "`calferry config set personal.graph_client_id <id>`",
        )
    try:
        return msal.PublicClientApplication(client_id, authority=_authority(tenant), token_cache=cache)
    except ValueError as exc:
        raise ConfigError(f"Microsoft Entra rejected tenant {tenant!r}: {exc}") from exc
    except Exception as exc:  # msal lets requests' errors through
        raise PersonalUnavailable(f"cannot reach Microsoft Entra: {type(exc).__name__}") from exc


class MsalTokens:
    """A token provider over msal's cache kept in the keyring; refreshes silently, never prompts."""

    def __init__(self, tenant: str, client_id: str) -> None:
        self._tenant, self._client_id = tenant, client_id
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
            stored = secrets.load(name)
            if not stored:
                return None
            self._cache.deserialize(stored)
            self._app = _public_app(self._tenant, self._client_id, self._cache)
        accounts = self._app.get_accounts()
        if not accounts:
            return None
        try:
            result = self._app.acquire_token_silent(list(SCOPES), account=accounts[0])
        except Exception as exc:  # network errors from requests
            raise PersonalUnavailable(f"cannot reach Microsoft Entra: {type(exc).__name__}") from exc
        if self._cache.has_state_changed:
            secrets.store(name, self._cache.serialize())
        return dict(result) if result else None


def sign_in(settings: Settings, show: Callable[[str], None], *, app: Any = None) -> str:
    """Device code sign-in (``calferry login --outlook``): shows msal's message, waits, keeps the cache.

    Returns the signed-in account's user name. ``app`` replaces the msal application in tests.
    """
    tenant, client_id = settings.personal.graph_tenant, settings.personal.graph_client_id
    cache = msal.SerializableTokenCache()
    application = app or _public_app(tenant, client_id, cache)
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
    secrets.store(_cache_name(tenant, client_id), store.serialize())
    claims = result.get("id_token_claims") or {}
    return str(claims.get("preferred_username") or claims.get("name") or "signed in")


def sign_out(settings: Settings) -> bool:
    """Forget the Outlook tokens (``calferry logout --outlook``); False if none were stored."""
    return secrets.delete(_cache_name(settings.personal.graph_tenant, settings.personal.graph_client_id))


# --- HTTP: concurrency gate, retries, error translation ---------------------------------------

_GATES: dict[str, threading.BoundedSemaphore] = {}
_GATES_LOCK = threading.Lock()


def _gate(mailbox: str) -> threading.BoundedSemaphore:
    """Graph allows four concurrent requests per app and mailbox; every adapter on it shares one gate."""
    with _GATES_LOCK:
        return _GATES.setdefault(mailbox, threading.BoundedSemaphore(MAX_IN_FLIGHT))


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
        self.gate = _gate(self.base_url)

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, repeated after 429/503/504 or a dropped connection (POSTs carry a transactionId)."""
        for attempt in itertools.count():
            try:
                response = self._once(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt >= self.retries:
                    raise PersonalUnavailable(f"cannot reach Microsoft Graph: {type(exc).__name__}") from exc
                self.sleep(self._backoff(attempt))
                continue
            if response.status_code not in _RETRYABLE or attempt >= self.retries:
                return _checked(response)
            self.sleep(_retry_after(response.headers) or self._backoff(attempt))
        raise AssertionError("unreachable")

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
        self, method: str, url: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        all_headers = {"Authorization": f"Bearer {self.token()}", "Prefer": PREFER, **(headers or {})}
        with self.gate:
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
    if status == 410 or code.lower() in ("syncstatenotfound", "resyncrequired"):
        return SyncTokenExpired(text, status=status)
    if status in _RETRYABLE or status >= 500:
        return PersonalUnavailable(text, status=status)
    return PersonalCalendarError(text, status=status)


# --- reading Graph events ---------------------------------------------------------------------


def parse_event(event: Event) -> PersonalItem:
    """One Graph event (single, occurrence, exception or series master) as a personal item."""
    try:
        return _parse(event)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise MalformedCalendar(f"unreadable Outlook event: {exc!r}", where=str(event.get("id"))) from exc


def _parse(event: Event) -> PersonalItem:
    kind = event.get("type") or "singleInstance"
    in_series = kind in ("occurrence", "exception")
    all_day = bool(event.get("isAllDay"))
    return PersonalItem(
        uid=event["seriesMasterId"] if in_series else event["id"],
        start=_when(event["start"], all_day),
        end=_when(event["end"], all_day),
        subject=event.get("subject") or "",
        description=((event.get("body") or {}).get("content") or ""),
        location=((event.get("location") or {}).get("displayName") or ""),
        private=event.get("sensitivity") in ("private", "confidential"),
        categories=tuple(event.get("categories") or ()),
        reminder_minutes=event.get("reminderMinutesBeforeStart") if event.get("isReminderOn") else None,
        show_as=_SHOW_AS.get(event.get("showAs") or "", ShowAs.BUSY),
        attendees=tuple(a["emailAddress"]["address"] for a in event.get("attendees") or ()),
        recurring=kind != "singleInstance",
        recurrence_id=_instant(event["originalStart"], all_day) if in_series else None,
        stamp=read_stamp(event),
        version=event.get("@odata.etag") or event.get("changeKey"),
    )


def _when(value: dict[str, str], all_day: bool) -> When:
    moment = datetime.fromisoformat(value["dateTime"].rstrip("Z")[:26])
    zone = value.get("timeZone") or "UTC"
    try:
        aware = moment.replace(tzinfo=UTC if zone in ("UTC", "Etc/UTC") else ZoneInfo(zone))
    except ZoneInfoNotFoundError as exc:
        raise ValueError(f"unknown time zone {zone!r}") from exc
    return _nearest_day(aware) if all_day else aware.astimezone(UTC)


def _instant(text: str, all_day: bool) -> When:
    moment = datetime.fromisoformat(text).astimezone(UTC)
    return _nearest_day(moment) if all_day else moment


def _nearest_day(moment: datetime) -> date:
    """All-day boundaries are midnights of the series' zone; given in UTC they are off by the offset."""
    return (moment + timedelta(hours=12)).date()


def read_stamp(event: Event) -> Stamp | None:
    """The stamp in calferry's extended property (JSON), or None when absent or blank."""
    for prop in event.get("singleValueExtendedProperties") or ():
        if str(prop.get("id", "")).lower() == STAMP_PROPERTY.lower() and prop.get("value"):
            data = json.loads(prop["value"])
            return Stamp(PsaKind(data["kind"]), int(data["id"]), Origin(data["origin"]), data.get("company"))
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


def event_body(item: PersonalItem, *, attendees: bool) -> Event:
    """The writable fields of ``item``; attendees only when asked (writing them sends invitations)."""
    body: Event = {
        "subject": item.subject,
        "body": {"contentType": "text", "content": item.description},
        "location": {"displayName": item.location},
        "start": _graph_time(item.start),
        "end": _graph_time(item.end),
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


def _graph_time(value: When) -> dict[str, str]:
    if isinstance(value, datetime):
        return {"dateTime": value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}
    return {"dateTime": f"{value.isoformat()}T00:00:00", "timeZone": "UTC"}


def _invites_allowed(item: PersonalItem) -> bool:
    """Items written from the PSA side never carry attendees: no invitation may ever go out (R9)."""
    return bool(item.attendees) and (item.stamp is None or item.stamp.origin is not Origin.DOWNLOADED)


def _utc(value: When) -> datetime:
    return (
        value.astimezone(UTC)
        if isinstance(value, datetime)
        else datetime(value.year, value.month, value.day, tzinfo=UTC)
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the adapter --------------------------------------------------------------------------------


class GraphCalendar:
    """A technician's Outlook calendar through Microsoft Graph (see the module docstring)."""

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
    ) -> None:
        self._own_client = client is None
        self._client = client or httpx.Client(base_url=base_url.rstrip("/") + "/", timeout=60.0)
        self._base_url = base_url.rstrip("/")
        self._http = _Http(
            self._client, base_url, token_provider, retries=retries, base_delay=retry_base_delay, sleep=sleep
        )
        self._calendar_setting = calendar
        self._calendar_path: str | None = None
        self._page_size = page_size

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> GraphCalendar:
        """The adapter for ``personal.backend = graph``, signed in through the keyring's token cache."""
        personal = settings.personal
        if not personal.graph_client_id:
            raise ConfigError(
                "personal.graph_client_id is not set", hint="see docs/outlook.md for the app registration"
            )
        tokens = MsalTokens(personal.graph_tenant, personal.graph_client_id)
        base_url = personal.graph_url or DEFAULT_URL
        return cls(token_provider=tokens, base_url=base_url, calendar=personal.graph_calendar, **kwargs)

    # --- reading ---------------------------------------------------------------------------------

    def list(self, window: Window) -> Snapshot:
        token = self._delta_link(window)  # first, so nothing written meanwhile is missed later
        items, problems = self._view(window)
        return Snapshot(items, token, problems)

    def get(self, key: ItemKey) -> PersonalItem:
        return parse_event(self._event(key))

    def changes(self, window: Window, token: str | None) -> Changes:
        if token is None or not token.startswith(self._base_url):
            return self._full(window)
        try:
            entries, link = self._delta_round(token, None)
        except SyncTokenExpired:
            return self._full(window)
        if any("@removed" in e for e in entries):
            return self._full(window, link)
        items, problems = self._reread(entries, window)
        return Changes(items, (), link, problems=problems)

    # --- writing ---------------------------------------------------------------------------------

    def create(self, item: PersonalItem) -> PersonalItem:
        if item.recurring or item.recurrence_id is not None:
            raise InputError("create makes single Outlook items, not series or occurrences")
        body = {**event_body(item, attendees=_invites_allowed(item)), "transactionId": str(uuid.uuid4())}
        event = self._http.json("POST", f"{self._calendar()}/events", json=body)
        return replace(parse_event(event), stamp=item.stamp)

    def update(self, item: PersonalItem) -> PersonalItem:
        event_id = self._event_id(item.key)
        body = event_body(item, attendees=False)  # attendees are never rewritten: no updates go out
        event = self._http.json("PATCH", _event_url(event_id), json=body, headers=_if_match(item.version))
        return replace(parse_event(event), stamp=item.stamp)

    def delete(self, key: ItemKey, version: str | None = None) -> None:
        self._http.call("DELETE", _event_url(self._event_id(key)), headers=_if_match(version))

    def set_stamp(self, key: ItemKey, stamp: Stamp | None, version: str | None = None) -> PersonalItem:
        body = {"singleValueExtendedProperties": [stamp_property(stamp)]}
        url = _event_url(self._event_id(key))
        event = self._http.json("PATCH", url, json=body, headers=_if_match(version))
        return replace(parse_event(event), stamp=stamp)

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    # --- internals -------------------------------------------------------------------------------

    def _calendar(self) -> str:
        """``me/calendar`` or ``me/calendars/{id}`` for the configured calendar (id or name)."""
        if self._calendar_path is None:
            self._calendar_path = self._resolve_calendar(self._calendar_setting)
        return self._calendar_path

    def _resolve_calendar(self, wanted: str) -> str:
        if not wanted:
            return "me/calendar"
        calendars = builtins.list(self._http.items("me/calendars", {"$top": "100"}))
        for cal in calendars:
            if (
                wanted in (cal.get("id"), cal.get("name"))
                or wanted.casefold() == str(cal.get("name")).casefold()
            ):
                return f"me/calendars/{quote(cal['id'], safe='')}"
        names = ", ".join(str(c.get("name")) for c in calendars)
        raise ConfigError(
            f"no Outlook calendar {wanted!r}", hint=f"personal.graph_calendar; calendars: {names}"
        )

    def _window_params(self, window: Window) -> dict[str, str]:
        return {"startDateTime": _iso(window.start), "endDateTime": _iso(window.end)}

    def _view(self, window: Window) -> tuple[tuple[PersonalItem, ...], tuple[str, ...]]:
        params = {**self._window_params(window), "$top": str(self._page_size), "$expand": _EXPAND}
        return _parsed(self._http.items(f"{self._calendar()}/calendarView", params))

    def _full(self, window: Window, link: str | None = None) -> Changes:
        if link is None:
            snapshot = self.list(window)
            return Changes(snapshot.items, (), snapshot.token, full=True, problems=snapshot.problems)
        items, problems = self._view(window)
        return Changes(items, (), link, full=True, problems=problems)

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

    def _reread(
        self, entries: builtins.list[Event], window: Window
    ) -> tuple[tuple[PersonalItem, ...], tuple[str, ...]]:
        """Changed singles by id and changed series whole (their instances in the window), via $batch."""
        singles = sorted({e["id"] for e in entries if not e.get("seriesMasterId")})
        series = sorted({e["seriesMasterId"] for e in entries if e.get("seriesMasterId")})
        window_query = urlencode({**self._window_params(window), "$top": str(self._page_size)})
        urls = [f"/me/events/{quote(i, safe='')}?{_expand_query()}" for i in singles]
        urls += [f"/me/events/{quote(m, safe='')}/instances?{window_query}&{_expand_query()}" for m in series]
        requests = [
            {"id": str(n), "method": "GET", "url": u, "headers": {"Prefer": PREFER}}
            for n, u in enumerate(urls)
        ]
        events: builtins.list[Event] = []
        for member in self._http.batch(requests).values():
            events.extend(self._member_events(member))
        items, problems = _parsed(events)
        inside = tuple(i for i in items if window.overlaps(_utc(i.start), _utc(i.end)))
        return tuple(sorted(inside, key=lambda i: (_utc(i.start), i.ref))), problems

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

    def _event(self, key: ItemKey) -> Event:
        if key.recurrence_id is None:
            return self._http.json("GET", _event_url(key.uid), params={"$expand": _EXPAND})
        return self._occurrence(key)

    def _event_id(self, key: ItemKey) -> str:
        return key.uid if key.recurrence_id is None else str(self._occurrence(key)["id"])

    def _occurrence(self, key: ItemKey) -> Event:
        """The occurrence whose original start is the key's recurrence id: near it first, then a year around."""
        at = _utc(_parse_rid(key))
        for reach in (timedelta(days=2), timedelta(days=400)):
            params = {"startDateTime": _iso(at - reach), "endDateTime": _iso(at + reach), "$expand": _EXPAND}
            params["$top"] = str(self._page_size)
            try:
                for event in self._http.items(f"{_event_url(key.uid)}/instances", params):
                    if _rid_text(event) == key.recurrence_id:
                        return event
            except PersonalCalendarError as exc:
                if exc.status == 400:  # not a series master
                    break
                raise
        raise NotFound(f"no occurrence {key.ref} in Outlook", side="personal")


def _parse_rid(key: ItemKey) -> When:
    return parse_recurrence_id(key.recurrence_id or "")


def _rid_text(event: Event) -> str | None:
    original = event.get("originalStart")
    return None if not original else format_recurrence_id(_instant(original, bool(event.get("isAllDay"))))


def _parsed(
    events: Iterator[Event] | builtins.list[Event],
) -> tuple[tuple[PersonalItem, ...], tuple[str, ...]]:
    """Parse events, keeping unreadable ones out and reporting them as problems."""
    items: builtins.list[PersonalItem] = []
    problems: builtins.list[str] = []
    for event in events:
        try:
            items.append(parse_event(event))
        except MalformedCalendar as exc:
            problems.append(str(exc))
    return tuple(items), tuple(problems)


def _event_url(event_id: str) -> str:
    return f"me/events/{quote(event_id, safe='')}"


def _expand_query() -> str:
    return urlencode({"$expand": _EXPAND}, quote_via=quote)


def _if_match(version: str | None) -> dict[str, str]:
    return {} if version is None else {"If-Match": version}
