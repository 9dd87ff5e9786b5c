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

Throttling: at most four requests in flight per mailbox (the owner of the signed-in user's default
calendar names it), 429/503 answered after ``Retry-After`` (also for the members of a ``$batch``, after
the largest one), exponential backoff otherwise.

A write whose answer was lost (a dropped connection) is sent again, so it may meet its own effect: a
repeated DELETE that finds nothing (404) has deleted, and a repeated PATCH refused for its now outdated
change key (412) has written if the event already holds every field that was sent.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
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
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

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
UID_PROPERTY = f"String {{{STAMP_GUID}}} Name CalferryUid"
"""The uid an item was created with by calferry (Graph's iCalUId is read-only, so it cannot be set)."""
SCOPES = ("Calendars.ReadWrite",)
DEFAULT_URL = "https://graph.microsoft.com/v1.0"
MAX_IN_FLIGHT = 4
BATCH_LIMIT = 20
PREFER = 'outlook.timezone="UTC", IdType="ImmutableId", outlook.body-content-type="text"'
_EXPAND = f"singleValueExtendedProperties($filter=id eq '{STAMP_PROPERTY}' or id eq '{UID_PROPERTY}')"
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

    def __init__(
        self,
        tenant: str,
        client_id: str,
        *,
        make_app: Callable[[msal.SerializableTokenCache], Any] | None = None,
    ) -> None:
        """``make_app`` builds the msal application over the cache read from the keyring (tests pass theirs)."""
        self._tenant, self._client_id = tenant, client_id
        self._make_app = make_app or functools.partial(_public_app, tenant, client_id)
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
    """Graph allows four concurrent requests per app and mailbox; every adapter on one shares its gate."""
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
        self._gate: threading.BoundedSemaphore | None = None
        self._gate_lock = threading.Lock()

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request (see :meth:`send`), its error answer translated."""
        return _checked(self.send(method, url, **kwargs)[0])

    def send(self, method: str, url: str, **kwargs: Any) -> tuple[httpx.Response, bool]:
        """One request through the mailbox's gate: the answer, and whether an earlier answer was lost."""
        return self._retried(self._mailbox_gate(), method, url, **kwargs)

    def _retried(
        self, gate: contextlib.AbstractContextManager[Any], method: str, url: str, **kwargs: Any
    ) -> tuple[httpx.Response, bool]:
        """Repeated after 429/503/504 or a dropped connection (POSTs carry a transactionId).

        After a dropped connection the request may have been carried out although its answer was lost,
        so the repeat may meet its own effect; the flag tells the caller.
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
            self.sleep(_retry_after(response.headers) or self._backoff(attempt))
        raise AssertionError("unreachable")

    def _mailbox_gate(self) -> threading.BoundedSemaphore:
        """The gate of the signed-in mailbox, named by its default calendar's owner.

        Asking for the owner is the one request that passes no gate; Calendars.ReadWrite allows it
        (``/me`` itself would need User.Read).
        """
        with self._gate_lock:
            if self._gate is None:
                answer, _ = self._retried(
                    contextlib.nullcontext(), "GET", "me/calendar", params={"$select": "owner"}
                )
                owner = _body(_checked(answer)).get("owner") or {}
                self._gate = _gate(f"{self.base_url} {str(owner.get('address', '')).casefold()}")
            return self._gate

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
        gate: contextlib.AbstractContextManager[Any],
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        all_headers = {"Authorization": f"Bearer {self.token()}", "Prefer": PREFER, **(headers or {})}
        with gate:
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


def parse_event(event: Event, series_uid: str | None = None) -> PersonalItem:
    """One Graph event (single, occurrence, exception or series master) as a personal item.

    ``series_uid`` is the uid of an occurrence's series (its master's uid); without it the master's
    Graph id stands in.
    """
    try:
        return _parse(event, series_uid)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise MalformedCalendar(f"unreadable Outlook event: {exc!r}", where=str(event.get("id"))) from exc


def own_uid(event: Event) -> str:
    """A single item's or series master's uid: the one calferry created it with, else its iCalUId."""
    return _property(event, UID_PROPERTY) or str(event.get("iCalUId") or event["id"])


def _in_series(event: Event) -> bool:
    return event.get("type") in ("occurrence", "exception")


def _parse(event: Event, series_uid: str | None) -> PersonalItem:
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
        aware = moment.replace(
            tzinfo=UTC if zone in ("UTC", "Etc/UTC") else ZoneInfo(WINDOWS_TO_OLSON.get(zone, zone))
        )
    except (ZoneInfoNotFoundError, ValueError) as exc:
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
        self._ids: dict[str, str] = {}  # uid -> Graph id of the single item or series master
        self._uids: dict[str, str] = {}  # that Graph id -> uid
        self._occurrence_ids: dict[tuple[str, str], str] = {}  # (uid, recurrence id) -> Graph id
        self._occurrences: dict[str, str] = {}  # occurrence Graph id -> series uid
        self._issued: set[str] = set()  # delta links handed out while the id maps were kept

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
        self._issued.add(token)
        return Snapshot(items, token, problems)

    def get(self, key: ItemKey) -> PersonalItem:
        if key.recurrence_id is None:
            event = self._http.json("GET", _event_url(self._graph_id(key.uid)), params={"$expand": _EXPAND})
            return parse_event(event)
        return parse_event(self._occurrence(key), key.uid)

    def key_of(self, graph_id: str) -> ItemKey:
        """The key of the event Outlook names by its REST id (the Outlook add-in's selected item)."""
        event = self._http.json("GET", _event_url(graph_id), params={"$expand": _EXPAND})
        if not _in_series(event):
            self._remember_item(event["id"], own_uid(event))
            return ItemKey(own_uid(event))
        master = self._http.json("GET", _event_url(event["seriesMasterId"]), params={"$expand": _EXPAND})
        self._remember_item(master["id"], own_uid(master))
        item = parse_event(event, own_uid(master))
        self._remember(event, item)
        return item.key

    def changes(self, window: Window, token: str | None) -> Changes:
        if token is None or not token.startswith(self._base_url):
            return self._full(window)
        try:
            entries, link = self._delta_round(token, None)
        except SyncTokenExpired:
            return self._full(window)
        plan = self._classify(entries, trusted=token in self._issued)
        if plan is None:
            return self._full(window, link)
        singles, series, deleted = plan
        items, problems = self._reread(singles, series, window)
        self._issued.add(link)
        return Changes(items, tuple(sorted(deleted)), link, problems=problems)

    # --- writing ---------------------------------------------------------------------------------

    def create(self, item: PersonalItem) -> PersonalItem:
        if item.recurring or item.recurrence_id is not None:
            raise InputError("create makes single Outlook items, not series or occurrences")
        body = event_body(item, attendees=_invites_allowed(item))
        if item.uid:
            body["singleValueExtendedProperties"].append({"id": UID_PROPERTY, "value": item.uid})
        body["transactionId"] = str(uuid.uuid4())  # makes a retried POST create one item only
        event = self._http.json("POST", f"{self._calendar()}/events", json=body)
        uid = item.uid or own_uid(event)
        self._remember_item(event["id"], uid)
        return replace(parse_event(event), uid=uid, stamp=item.stamp)

    def update(self, item: PersonalItem) -> PersonalItem:
        body = event_body(item, attendees=False)  # attendees are never rewritten: no updates go out
        return self._patch(item.key, body, item.version, item.stamp)

    def delete(self, key: ItemKey, version: str | None = None) -> None:
        url = _event_url(self._event_id(key))
        answer, lost = self._http.send("DELETE", url, headers=_if_match(version))
        if lost and answer.status_code == 404:
            return  # the lost answer was this delete's own: the item is gone
        _checked(answer)

    def set_stamp(self, key: ItemKey, stamp: Stamp | None, version: str | None = None) -> PersonalItem:
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
        if not wanted:
            return "me/calendar"
        calendars = builtins.list(self._http.items("me/calendars", {"$top": "100"}))
        for cal in calendars:
            if wanted == cal.get("id") or wanted.casefold() == str(cal.get("name")).casefold():
                return f"me/calendars/{quote(cal['id'], safe='')}"
        names = ", ".join(str(c.get("name")) for c in calendars)
        raise ConfigError(
            f"no Outlook calendar {wanted!r}", hint=f"personal.graph_calendar; calendars: {names}"
        )

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
            params = {"$filter": condition, "$expand": _EXPAND}
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
        master, rid = _event_url(self._graph_id(key.uid)), key.recurrence_id or ""
        at = _utc(parse_recurrence_id(rid))
        for reach in (timedelta(days=2), timedelta(days=400)):
            params = {"startDateTime": _iso(at - reach), "endDateTime": _iso(at + reach), "$expand": _EXPAND}
            try:
                for event in self._http.items(
                    f"{master}/instances", {**params, "$top": str(self._page_size)}
                ):
                    if _rid_text(event) == rid:
                        self._occurrence_ids[(key.uid, rid)] = event["id"]
                        return event
            except PersonalCalendarError as exc:
                if exc.status != 400:  # 400: not a series master
                    raise
                break
        raise NotFound(f"no occurrence {key.ref} in Outlook", side="personal")

    def _patch(self, key: ItemKey, body: Event, version: str | None, stamp: Stamp | None) -> PersonalItem:
        url = _event_url(self._event_id(key))
        answer, lost = self._http.send("PATCH", url, json=body, headers=_if_match(version))
        if lost and answer.status_code == 412:
            answer = self._written_already(url, body) or answer  # else: StaleVersion below
        event = _body(_checked(answer))
        return replace(parse_event(event, key.uid), uid=key.uid, stamp=stamp)

    def _written_already(self, url: str, body: Event) -> httpx.Response | None:
        """The event read again if it already holds every field of ``body``: the lost write took place."""
        current = self._http.call("GET", url, params={"$expand": _EXPAND})
        event = _body(current)
        return current if _comparable(_written_over(event, body)) == _comparable(event) else None

    # --- listing ---------------------------------------------------------------------------------

    def _window_params(self, window: Window) -> dict[str, str]:
        return {"startDateTime": _iso(window.start), "endDateTime": _iso(window.end)}

    def _view(self, window: Window) -> tuple[tuple[PersonalItem, ...], tuple[str, ...]]:
        params = {**self._window_params(window), "$top": str(self._page_size), "$expand": _EXPAND}
        return self._items(builtins.list(self._http.items(f"{self._calendar()}/calendarView", params)))

    def _items(self, events: builtins.list[Event]) -> tuple[tuple[PersonalItem, ...], tuple[str, ...]]:
        """Parse events, naming occurrences by their series' uid; unreadable ones become problems."""
        self._learn_masters({e["seriesMasterId"] for e in events if _in_series(e)} - set(self._uids))
        items: builtins.list[PersonalItem] = []
        problems: builtins.list[str] = []
        for event in events:
            try:
                item = parse_event(event, self._uids.get(str(event.get("seriesMasterId"))))
            except MalformedCalendar as exc:
                problems.append(str(exc))
                continue
            self._remember(event, item)
            items.append(item)
        return tuple(items), tuple(problems)

    def _learn_masters(self, master_ids: set[str]) -> None:
        """Series uids come from the masters (an occurrence's iCalUId is its own), read in $batch."""
        query = urlencode({"$select": "id,iCalUId,type", "$expand": _EXPAND}, quote_via=quote)
        urls = [f"/me/events/{quote(m, safe='')}?{query}" for m in sorted(master_ids)]
        for member in self._http.batch(_batch_requests(urls)).values():
            for master in self._member_events(member):
                self._remember_item(master["id"], own_uid(master))

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

    def _classify(
        self, entries: builtins.list[Event], trusted: bool
    ) -> tuple[set[str], set[str], set[str]] | None:
        """Changed single ids, changed series (master ids) and deleted uids; None if a removal is unknown.

        A removal names only a Graph id. Ids listed earlier are known; when the token came from this
        adapter every item the caller has seen is known, so an unknown id was never seen and is skipped.
        """
        singles: set[str] = set()
        series: set[str] = set()
        deleted: set[str] = set()
        for entry in entries:
            graph_id = str(entry["id"])
            if "@removed" not in entry:
                (series if entry.get("seriesMasterId") else singles).add(
                    entry.get("seriesMasterId") or graph_id
                )
            elif graph_id in self._uids:
                deleted.add(self._uids[graph_id])
            elif self._ids.get(self._occurrences.get(graph_id, "")):
                series.add(self._ids[self._occurrences[graph_id]])
            elif not trusted:
                return None
        series -= {self._ids.get(uid) for uid in deleted}
        return singles, series, deleted

    def _reread(
        self, singles: set[str], series: set[str], window: Window
    ) -> tuple[tuple[PersonalItem, ...], tuple[str, ...]]:
        """Changed singles by id and changed series whole (their instances in the window), via $batch."""
        window_query = urlencode({**self._window_params(window), "$top": str(self._page_size)})
        expand = urlencode({"$expand": _EXPAND}, quote_via=quote)
        urls = [f"/me/events/{quote(i, safe='')}?{expand}" for i in sorted(singles)]
        urls += [f"/me/events/{quote(m, safe='')}/instances?{window_query}&{expand}" for m in sorted(series)]
        events: builtins.list[Event] = []
        for member in self._http.batch(_batch_requests(urls)).values():
            events.extend(self._member_events(member))
        items, problems = self._items(events)
        inside = [i for i in items if window.overlaps(_utc(i.start), _utc(i.end))]
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


def _rid_text(event: Event) -> str | None:
    original = event.get("originalStart")
    return None if not original else format_recurrence_id(_instant(original, bool(event.get("isAllDay"))))


def _event_url(event_id: str) -> str:
    return f"me/events/{quote(event_id, safe='')}"


def _if_match(version: str | None) -> dict[str, str]:
    return {} if version is None else {"If-Match": version}
