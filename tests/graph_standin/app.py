"""The stand-in's HTTP face: Graph v1.0 URLs under ``/v1.0``, one dispatcher shared with ``$batch``.

A user's token reaches its own mailbox as ``me/…``. An app-only token (the client credentials grant of
the Entra stand-in, ``idtyp: app``) reaches any mailbox as ``users/{id or user principal name}/…`` and
never ``me`` (400, as Graph answers: there is no signed-in user); without the application permission
Calendars.ReadWrite among its ``roles`` it is refused 403 ``ErrorAccessDenied``, and so is a mailbox
outside the group the app is limited to (RBAC for Applications or an application access policy), with
the message Exchange Online gives; an unknown user is 404 ``ErrorInvalidUser``. :func:`app_target`
tells which mailbox an app-only request (or its ``$batch``) is for.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.graph_standin.entra import app_claims
from tests.graph_standin.mailbox import (
    CALENDARS,
    DEFAULT_CALENDAR,
    SHARED_CALENDAR,
    SHARED_OWNER,
    Event,
    GraphError,
    Mailbox,
    decode_token,
    encode_token,
    html_to_text,
    render,
    sparse,
)

MAX_BATCH = 20
BATCH_PARALLEL = 4
"""Outlook's JSON batching runs up to four members in parallel (Graph throttling limits)."""
EXPIRED_TOKEN = "expired-token"
"""A bearer token the stand-in refuses with 401, as Graph does an expired one."""
Answer = tuple[int, dict[str, str], Any]
Receive = Callable[[], Any]
ACCESS_POLICY_DENIED = (
    "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings."
)
"""What Exchange Online answers an app for a mailbox outside the scope its access is limited to."""
NO_ROLE = "Access is denied. Check credentials and try again."
ME_NEEDS_USER = "/me request is only valid with delegated authentication flow."
CALENDAR_ROLE = "Calendars.ReadWrite"
_USER = re.compile(r"users/(?P<user>[^/]+)/(?P<rest>.+)")
_CAL = r"me/(?:calendar|calendars/(?P<cal>[^/]+))"
_EXPAND = re.compile(r"singleValueExtendedProperties\(\$filter=(.*)\)")
_ID_EQ = re.compile(r"id eq '((?:[^']|'')*)'")
_ICALUID_EQ = re.compile(r"^iCalUId eq '((?:[^']|'')*)'$")
_PROP_EQ = re.compile(
    r"^singleValueExtendedProperties/any\(ep: ep/id eq '((?:[^']|'')*)' and ep/value eq '((?:[^']|'')*)'\)$"
)


class Handler:
    """Turns (method, path, query, headers, body) into Graph's answer for one mailbox."""

    def __init__(self, mailbox: Mailbox, base: str) -> None:
        self.mailbox = mailbox
        self.base = base
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., Answer]]] = [
            ("GET", re.compile(r"me/calendar"), self.default_calendar),
            ("GET", re.compile(r"me/calendars"), self.calendars),
            ("GET", re.compile(rf"(?:{_CAL}|me)/calendarView"), self.calendar_view),
            ("GET", re.compile(rf"(?:{_CAL}|me)/calendarView/delta"), self.delta),
            ("POST", re.compile(rf"(?:{_CAL}|me)/events"), self.create),
            ("GET", re.compile(rf"(?:{_CAL}|me)/events"), self.events),
            ("GET", re.compile(rf"(?:{_CAL}|me)/events/(?P<id>[^/]+)/instances"), self.instances),
            ("GET", re.compile(rf"(?:{_CAL}|me)/events/(?P<id>[^/]+)"), self.get),
            ("PATCH", re.compile(rf"(?:{_CAL}|me)/events/(?P<id>[^/]+)"), self.patch),
            ("DELETE", re.compile(rf"(?:{_CAL}|me)/events/(?P<id>[^/]+)"), self.delete),
        ]

    def __call__(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any
    ) -> Answer:
        try:
            root, path = self._rooted(path)
        except GraphError as err:
            return err.status, err.headers, err.body()
        for verb, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if match and verb == method:
                params = {k: v for k, v in match.groupdict().items() if v is not None}
                try:
                    status, out_headers, out = handler(
                        query=query, headers=headers, body=body, root=root, **params
                    )
                    return status, out_headers, _bodies_as_asked(out, headers.get("prefer", ""))
                except GraphError as err:
                    return err.status, err.headers, err.body()
        return 400, {}, GraphError(400, "BadRequest", f"unsupported {method} {path}").body()

    def _rooted(self, path: str) -> tuple[str, str]:
        """``users/{id or UPN}/…``: this mailbox reached by an app; (that root for links, the path as ``me/…``)."""
        match = _USER.fullmatch(path)
        if match is None:
            return "me", path
        user = unquote(match.group("user"))
        if user.casefold() not in (self.mailbox.owner.casefold(), self.mailbox.user_id):
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
        if not self.mailbox.app_access:
            raise GraphError(403, "ErrorAccessDenied", ACCESS_POLICY_DENIED)
        return f"users/{match.group('user')}", f"me/{match.group('rest')}"

    # --- routes ----------------------------------------------------------------------------------

    def default_calendar(self, **_: Any) -> Answer:
        return 200, {}, self._calendar(DEFAULT_CALENDAR)

    def calendars(self, **_: Any) -> Answer:
        value = [self._calendar(cid) for cid in CALENDARS]
        return 200, {}, {"@odata.context": f"{self.base}/$metadata#users('me')/calendars", "value": value}

    def _calendar(self, cid: str) -> Event:
        address = SHARED_OWNER if cid == SHARED_CALENDAR else self.mailbox.owner
        owner = {"name": address.partition("@")[0], "address": address}
        return {
            "id": cid,
            "name": CALENDARS[cid],
            "isDefaultCalendar": cid == DEFAULT_CALENDAR,
            "owner": owner,
        }

    def calendar_view(
        self, query: dict[str, str], cal: str = DEFAULT_CALENDAR, root: str = "me", **_: Any
    ) -> Answer:
        start, end = _window(query)
        events = self.mailbox.view(_calendar(cal), start, end)
        return self._page(events, query, f"{self.base}/{root}/calendars/{cal}/calendarView")

    def _selected(self, query: dict[str, str]) -> list[str] | None:
        fields = _selected(query)
        if fields is not None and self.mailbox.faults.withhold_original_start:
            return [f for f in fields if f != "originalStart"]
        return fields

    def _reachable(self, event_id: str, cal: str | None) -> Event:
        """``me/events/{id}`` reaches only the signed-in mailbox; a shared calendar's events are reached
        through that calendar (``me/calendars/{cal}/events/{id}``), as real Graph answers."""
        event = self.mailbox.find(event_id)
        home = event["_calendar"]
        if (cal is None and home == SHARED_CALENDAR) or (cal is not None and home != cal):
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return event

    def instances(
        self, query: dict[str, str], id: str, cal: str | None = None, root: str = "me", **_: Any
    ) -> Answer:
        master = self._reachable(id, cal)
        if master["type"] != "seriesMaster":
            raise GraphError(400, "ErrorInvalidRequest", "instances needs a series master")
        start, end = _window(query)
        return self._page(
            self.mailbox.instances(master, start, end),
            query,
            f"{self.base}/{f'{root}/calendars/{cal}' if cal else root}/events/{id}/instances",
        )

    def _page(self, events: list[Event], query: dict[str, str], link: str) -> Answer:
        """One page of $top (default 10, as Graph); the next page is at ``@odata.nextLink`` ($skip)."""
        top = min(int(query.get("$top", "10")), 1000)
        skip = int(query.get("$skip", "0"))
        expand = _expanded(query)
        page = [render(e, expand, self._selected(query)) for e in events[skip : skip + top]]
        out: dict[str, Any] = {"@odata.context": f"{self.base}/$metadata#events", "value": page}
        if skip + top < len(events):
            rest = {k: v for k, v in query.items() if k != "$skip"}
            out["@odata.nextLink"] = _link(link, {**rest, "$skip": str(skip + top)})
        return 200, {}, out

    def events(
        self, query: dict[str, str], cal: str = DEFAULT_CALENDAR, root: str = "me", **_: Any
    ) -> Answer:
        ical_uid, prop = _filter(query.get("$filter", ""))
        found = self.mailbox.filtered(_calendar(cal), ical_uid, prop)
        return self._page(found, query, f"{self.base}/{root}/calendars/{cal}/events")

    def get(self, query: dict[str, str], id: str, cal: str | None = None, **_: Any) -> Answer:
        return 200, {}, render(self._reachable(id, cal), _expanded(query), self._selected(query))

    def create(self, body: Event, cal: str = DEFAULT_CALENDAR, **_: Any) -> Answer:
        return 201, {}, render(self.mailbox.create(_calendar(cal), body), None)

    def patch(
        self, headers: dict[str, str], body: Event, id: str, cal: str | None = None, **_: Any
    ) -> Answer:
        self._reachable(id, cal)
        return 200, {}, render(self.mailbox.patch(id, body, headers.get("if-match")), None)

    def delete(self, headers: dict[str, str], id: str, cal: str | None = None, **_: Any) -> Answer:
        self._reachable(id, cal)
        self.mailbox.delete(id, headers.get("if-match"))
        return 204, {}, None

    def delta(
        self,
        query: dict[str, str],
        headers: dict[str, str],
        cal: str = DEFAULT_CALENDAR,
        root: str = "me",
        **_: Any,
    ) -> Answer:
        """calendarView/delta: pages of the initial round via $skiptoken, then changes via $deltatoken."""
        if any(k in query for k in ("$select", "$expand", "$filter", "$orderby", "$search")):
            raise GraphError(400, "ErrorInvalidUrlQuery", "delta does not support query options")
        calendar, link = _calendar(cal), f"{self.base}/{root}/calendars/{cal}/calendarView/delta"
        if "$deltatoken" in query:
            token = decode_token(query["$deltatoken"])
            entries = self.mailbox.delta_since(calendar, token)
            return 200, {}, self._delta_page(entries, {**token, "s": self.mailbox.seq}, link, None)
        if "$skiptoken" in query:
            token = decode_token(query["$skiptoken"])
            self.mailbox.check_generation(token)
        else:
            start, end = _window(query)
            token = {
                "g": self.mailbox.generation,
                "s": self.mailbox.seq,
                "a": str(start),
                "b": str(end),
                "o": 0,
            }
        events = self.mailbox.view(
            calendar, datetime.fromisoformat(token["a"]), datetime.fromisoformat(token["b"])
        )
        size = _max_page_size(headers)
        entries = [sparse(e) for e in events[token["o"] : token["o"] + size]]
        more = token["o"] + size < len(events)
        return (
            200,
            {},
            self._delta_page(entries, token, link, {**token, "o": token["o"] + size} if more else None),
        )

    def _delta_page(
        self, entries: list[Event], token: dict[str, Any], link: str, skip: dict[str, Any] | None
    ) -> Any:
        out: dict[str, Any] = {"@odata.context": f"{self.base}/$metadata#Collection(event)", "value": entries}
        if skip is not None:
            out["@odata.nextLink"] = _link(link, {"$skiptoken": encode_token(skip)})
        else:
            out["@odata.deltaLink"] = _link(link, {"$deltatoken": encode_token({**token, "o": 0})})
        return out

    # --- $batch ----------------------------------------------------------------------------------

    def batch(self, body: Any) -> Answer:
        """JSON batching: at most 20 members, each dispatched alone; 429s as switched on; any order."""
        requests = body.get("requests", [])
        if len(requests) > MAX_BATCH:
            raise GraphError(
                400, "BadRequest", f"Batch request exceeds maximum number of requests {MAX_BATCH}"
            )
        self.mailbox.stats.batch_sizes.append(len(requests))
        self.mailbox.stats.batches.append(requests)
        responses = [self._member(r) for r in requests]
        return 200, {}, {"responses": list(reversed(responses))}

    def _member(self, request: dict[str, Any]) -> dict[str, Any]:
        faults = self.mailbox.faults
        if faults.throttle_batch_members > 0 or faults.throttled_by_share():
            faults.throttle_batch_members = max(faults.throttle_batch_members - 1, 0)
            self.mailbox.stats.throttled_members += 1
            err = _throttled(faults.retry_after)
            return {"id": request["id"], "status": 429, "headers": err.headers, "body": err.body()}
        split = urlsplit(request["url"])
        headers = {k.lower(): v for k, v in request.get("headers", {}).items()}
        status, hdrs, out = self(
            request["method"], split.path.strip("/"), _query(split.query), headers, request.get("body")
        )
        return {"id": request["id"], "status": status, "headers": hdrs, "body": out}


def _throttled(retry_after: str | None) -> GraphError:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return GraphError(
        429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.", headers
    )


def _calendar(cal: str) -> str:
    if cal not in CALENDARS:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return cal


def _window(query: dict[str, str]) -> tuple[datetime, datetime]:
    try:
        start, end = (datetime.fromisoformat(query[k]) for k in ("startDateTime", "endDateTime"))
    except (KeyError, ValueError) as exc:
        raise GraphError(400, "ErrorInvalidParameter", "startDateTime and endDateTime are required") from exc
    return (start if start.tzinfo else start.replace(tzinfo=UTC)), (
        end if end.tzinfo else end.replace(tzinfo=UTC)
    )


def _expanded(query: dict[str, str]) -> list[str] | None:
    match = _EXPAND.search(query.get("$expand", ""))
    return [m.replace("''", "'") for m in _ID_EQ.findall(match.group(1))] if match else None


def _bodies_as_asked(out: Any, prefer: str) -> Any:
    """Bodies as stored, or as text under ``Prefer: outlook.body-content-type="text"`` (HTML converted)."""
    if 'outlook.body-content-type="text"' not in prefer or not isinstance(out, dict):
        return out
    for event in out.get("value", [out]) if isinstance(out.get("value", []), list) else [out]:
        body = event.get("body") if isinstance(event, dict) else None
        if isinstance(body, dict) and body.get("contentType") == "html":
            event["body"] = {"contentType": "text", "content": html_to_text(str(body.get("content", "")))}
    return out


def _selected(query: dict[str, str]) -> list[str] | None:
    """The fields a ``$select`` names (None: Graph's default projection)."""
    text = query.get("$select")
    return None if text is None else [f.strip() for f in text.split(",") if f.strip()]


def _filter(text: str) -> tuple[str | None, tuple[str, str] | None]:
    """The two filters calferry sends: by iCalUId, or by one extended property's value."""
    if match := _ICALUID_EQ.match(text):
        return match.group(1).replace("''", "'"), None
    if match := _PROP_EQ.match(text):
        return None, (match.group(1).replace("''", "'"), match.group(2).replace("''", "'"))
    raise GraphError(400, "ErrorInvalidUrlQuery", f"stand-in cannot filter on {text!r}")


def _max_page_size(headers: dict[str, str]) -> int:
    match = re.search(r"odata\.maxpagesize=(\d+)", headers.get("prefer", ""))
    return int(match.group(1)) if match else 10


def _query(text: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _link(base: str, params: dict[str, str]) -> str:
    return f"{base}?{urlencode(params)}"


async def _weight(request: Request) -> int:
    """How many requests this one is to the mailbox: Outlook runs up to four $batch members at once."""
    if request.method != "POST" or not request.url.path.endswith("/$batch"):
        return 1
    try:
        members = len(json.loads(await request.body() or b"{}").get("requests", []))
    except (ValueError, AttributeError):
        return 1
    return max(1, min(members, BATCH_PARALLEL))


def _app_refusal(request: Request) -> GraphError | None:
    """An app-only token without the calendar permission, or asking for ``me``, is refused as Graph does."""
    claims = app_claims(request.headers.get("authorization", "").removeprefix("Bearer "))
    if claims is None:
        return None
    if CALENDAR_ROLE not in (claims.get("roles") or []):
        return GraphError(403, "ErrorAccessDenied", NO_ROLE)
    path = request.path_params["path"]
    if path == "me" or path.startswith("me/"):
        return GraphError(400, "BadRequest", ME_NEEDS_USER)
    return None


def user_of(path: str) -> str | None:
    """The ``{id or UPN}`` of a ``users/{…}/…`` path (with or without the leading ``/v1.0``)."""
    match = re.match(r"/?(?:v1\.0/)?users/([^/?]+)", path)
    return unquote(match.group(1)) if match else None


async def app_target(scope: dict[str, Any], receive: Receive) -> tuple[str | None, Receive]:
    """The user an app-only request works on: its path's, or for ``$batch`` its members' (one user for all
    members, else None); the body read to learn it is handed on unchanged through the returned receive."""
    if not scope["path"].endswith("/$batch"):
        return user_of(scope["path"]), receive
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    try:
        members = json.loads(body or b"{}").get("requests", [])
        users = {user_of(str(m.get("url", "")).lstrip("/")) for m in members}
    except (ValueError, AttributeError):
        users = set()
    replayed = False

    async def replay() -> Any:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return (users.pop() if len(users) == 1 else None), replay


class _LostAnswer(Response):
    """The request was carried out, but the connection drops after the status line: no answer arrives."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})


def build_app(mailbox: Mailbox, base: str) -> Starlette:
    """The ASGI app; ``base`` is the public ``.../v1.0`` URL used in next and delta links."""
    handler = Handler(mailbox, base)

    async def endpoint(request: Request) -> Response:
        stats, faults = mailbox.stats, mailbox.faults
        stats.requests.append(
            (request.method, request.url.path + ("?" + request.url.query if request.url.query else ""))
        )
        stats.prefer.append(request.headers.get("prefer", ""))
        stats.if_match.append(request.headers.get("if-match", ""))
        weight = await _weight(request)
        stats.in_flight += weight
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            if faults.hold_seconds:
                await asyncio.sleep(faults.hold_seconds)
            deadline = time.monotonic() + 10
            while faults.hold_until is not None and not faults.hold_until() and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            response = await _answer(request)
        finally:
            stats.in_flight -= weight
        stats.statuses.append(response.status_code)
        stats.answered.append((time.monotonic(), response.status_code, request.method, request.url.path))
        if response.status_code < 400 and faults.timed_out(request.method):
            err = GraphError(504, "UnknownError", "The gateway timed out.")  # but the request was done
            return JSONResponse(err.body(), status_code=504)
        if faults.answer_lost(request.method):
            stats.lost_answers += 1
            return _LostAnswer()
        return response

    async def _answer(request: Request) -> Response:
        faults = mailbox.faults
        if request.headers.get("authorization", "") in ("", f"Bearer {EXPIRED_TOKEN}"):
            err = GraphError(
                401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
            )
            return JSONResponse(err.body(), status_code=401)
        if (refusal := _app_refusal(request)) is not None:
            return JSONResponse(refusal.body(), status_code=refusal.status)
        throttled = faults.throttle_while is not None and faults.throttle_while()
        if faults.throttle_requests > 0 or faults.throttled_by_share() or throttled:
            faults.throttle_requests = max(faults.throttle_requests - 1, 0)
            err = _throttled(None if faults.throttle_without_retry_after else faults.retry_after)
            return JSONResponse(err.body(), status_code=429, headers=err.headers)
        raw = await request.body()
        body = json.loads(raw) if raw else None
        path = request.path_params["path"]
        if path == "$batch" and request.method == "POST":
            try:
                status, headers, out = handler.batch(body)
            except GraphError as err:
                status, headers, out = err.status, err.headers, err.body()
        else:
            headers_in = {k.lower(): v for k, v in request.headers.items()}
            status, headers, out = handler(request.method, path, dict(request.query_params), headers_in, body)
        if out is None:
            return Response(status_code=status, headers=headers)
        return JSONResponse(out, status_code=status, headers=headers)

    methods = ["GET", "POST", "PATCH", "DELETE"]
    return Starlette(routes=[Route("/v1.0/{path:path}", endpoint, methods=methods)])
