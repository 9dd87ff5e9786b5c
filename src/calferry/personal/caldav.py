"""A CalDAV calendar (Radicale, Nextcloud, ...) as a personal calendar, on the ``caldav`` library.

Requests are kept few: a window is one calendar-query (series are expanded here, on the client, as
Radicale's server-side expansion is slower and has had bugs); changes are one sync-collection
report with etags only plus one calendar-multiget for what changed (what this adapter itself wrote
at the reported ETag is not read back); a create is one PUT with
``If-None-Match: *``; an update reuses the data read by the last listing when its ETag still matches,
so it is one PUT with ``If-Match``. SEQUENCE is never
bumped (``increase_seqno=False``): calferry is not the organizer.

Calendar discovery: ``url`` may name a calendar collection (used as is), a missing collection (it is
created with MKCALENDAR), or a principal / calendar home (its first calendar is used, or a calendar
named ``calendar`` is created in it when it has none).

Every request goes through the shared retry loop (:meth:`calferry.http.RetryPolicy.run`): a 429 or a
503 with ``Retry-After`` is repeated after the named wait, a 502/503/504 or a dropped connection only
for a read or a PUT/DELETE conditioned on an ETag (which can never apply twice), a refused connection
twice; a create (``If-None-Match: *``) is never repeated after it may have been applied, and an answer
that does not come within the timeout is reported, not asked again.

Deleted items: a sync report names deleted hrefs only; they map back to UIDs through the hrefs this
adapter has seen, else through the ``<uid>.ics`` naming every CalDAV client here uses.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import quote, unquote, urlsplit

from caldav.calendarobjectresource import Event as DavEvent
from caldav.collection import Calendar as DavCalendar
from caldav.collection import CalendarSet
from caldav.davclient import DAVClient
from caldav.elements import dav
from caldav.lib import error as dav_error
from caldav.lib.http_sync import requests as dav_http  # the HTTP library caldav sends with
from caldav.response import DAVResponse

from calferry.contracts import Changes, Problem, Snapshot
from calferry.errors import (
    Conflict,
    MalformedCalendar,
    NotFound,
    PermissionDenied,
    PersonalCalendarError,
    PersonalUnavailable,
    StaleVersion,
    connection_failure,
)
from calferry.http import REFUSED_RETRIES, Gate, Mode, Retry, RetryPolicy, retry_after
from calferry.model import Claim, ItemKey, PersonalItem, Stamp, Window
from calferry.personal import ical
from calferry.personal.base import WritesEach
from calferry.personal.radicale import ensure_calendar

_FEATURES = {"save.no-uid-conflict": {"support": "full"}}


@dataclass
class _Stored:
    """The last seen state of one CalDAV object: where it is, its ETag and its parsed resource."""

    url: str
    etag: str | None
    resource: ical.Resource


ANSWER_TIMEOUT = 120
"""Seconds a calendar server may take to answer one request. A server expanding a runaway rule that
another client stored (FREQ=SECONDLY without end) can take hours: the run reports it instead of hanging
with the run lock held."""


def dav_client(
    url: str, username: str = "", password: str = "", *, timeout: int = ANSWER_TIMEOUT
) -> DAVClient:
    """The caldav library's HTTP session for ``url``, with the features this adapter relies on."""
    # RFC 4791 5.3.2.1: the server itself refuses a second resource with the same UID, so a create
    # is one PUT with If-None-Match: * instead of a UID search first (on Radicale the search walks
    # the whole collection, making a Get of N new items quadratic).
    return DAVClient(
        url=url,
        username=username or None,
        password=password or None,
        features=_FEATURES,
        timeout=timeout,
    )


class CalDavCalendar(WritesEach):
    """One CalDAV calendar collection; ``requests`` counts HTTP requests sent (for benchmarks)."""

    name = "caldav"

    def __init__(
        self,
        url: str,
        username: str = "",
        password: str = "",
        *,
        client: DAVClient | None = None,
        timeout: int = ANSWER_TIMEOUT,
        retry: RetryPolicy | None = None,
        gate: Gate | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``client`` is the HTTP session to use (a test's, or one with its own TLS or proxy
        settings); it is made from ``url``, ``username`` and ``password`` when not given, and closed
        with the calendar either way. ``retry`` says how failed requests are repeated, ``gate`` (keyed
        by the server's origin) how many may be in flight at once, ``sleep`` does every wait."""
        self.requests = 0
        self._username, self._password = username, password
        self._client = client or dav_client(url, username, password, timeout=timeout)
        self._retry, self._sleep = retry or RetryPolicy(), sleep
        self._slot = _slot(gate, url)
        self._wrap_request()
        self._by_uid: dict[str, _Stored] = {}
        self._uid_by_url: dict[str, str] = {}
        with _translated(url):
            self._calendar = self._discover(url)

    # --- reading -----------------------------------------------------------------------------

    def snapshot(self, window: Window) -> Snapshot:
        with _translated(self.url):
            token = self._calendar.get_property(dav.SyncToken())
        resources, problems = self._search(window)
        items, expand_problems = ical.expand(resources, window, self._versions())
        return Snapshot(
            tuple(items), None if token is None else str(token), tuple(problems + expand_problems)
        )

    def resources(self, window: Window) -> tuple[list[ical.Resource], list[Problem]]:
        """The whole stored objects with an occurrence in ``window`` (series with their rules and
        overrides, unknown properties, their VTIMEZONEs), and problems: what an export writes.
        Not part of the general contract."""
        resources, problems = self._search(window)
        found, expand_problems = ical.in_window(resources, window)
        return found, problems + expand_problems

    def get(self, key: ItemKey) -> PersonalItem:
        stored = self._fetch(key.uid)
        return ical.get_item(stored.resource, key, stored.etag)

    def changes(self, window: Window, token: str | None) -> Changes:
        if token is None:
            return self._full(window)
        try:
            with _translated(self.url):
                report = self._calendar.get_objects_by_sync_token(
                    sync_token=token, load_objects=False, disable_fallback=True
                )
        except (PermissionDenied, PersonalCalendarError):
            return self._full(window)  # the token was refused (expired or unknown): list everything
        deleted_urls = {str(u) for u in report.deleted_urls}
        known, urls = self._known([o for o in report if str(o.url) not in deleted_urls])
        with _translated(self.url):
            loaded = self._calendar.multiget(urls) if urls else []
        resources, problems = self._absorb(loaded)
        resources += known
        items, expand_problems = ical.expand(resources, window, self._versions())
        deleted = sorted({self._forget(u) for u in deleted_urls})
        return Changes(
            tuple(items), tuple(deleted), str(report.sync_token), problems=tuple(problems + expand_problems),
            changed_uids=tuple(sorted({r.uid for r in resources})),
        )  # fmt: skip

    def _known(self, reported: list[Any]) -> tuple[list[ical.Resource], list[Any]]:
        """Changed objects this adapter holds at the reported ETag (its own writes: no need to read them
        back), and the URLs of the rest, to fetch."""
        known: list[ical.Resource] = []
        urls: list[Any] = []
        for obj in reported:
            stored = self._by_uid.get(self._uid_by_url.get(str(obj.url), ""))
            etag = obj.props.get(dav.GetEtag.tag)
            if stored is not None and etag is not None and stored.etag == etag:
                known.append(stored.resource)
            else:
                urls.append(obj.url)
        return known, urls

    def _full(self, window: Window) -> Changes:
        snapshot = self.snapshot(window)
        return Changes(snapshot.items, (), snapshot.token, full=True, problems=snapshot.problems)

    # --- writing -----------------------------------------------------------------------------

    def create(self, item: PersonalItem) -> PersonalItem:
        resource = ical.new_resource(item, datetime.now(UTC))
        url = str(self._calendar.url.join(quote(item.uid, safe="") + ".ics"))
        obj = DavEvent(client=self._client, url=url, parent=self._calendar)
        with _translated(url):
            obj.save(raw_data=resource.to_ical(), no_overwrite=True, increase_seqno=False)
        self._remember(_Stored(url, obj.etag, resource))
        return ical.get_item(resource, item.key, obj.etag)

    def add_resource(self, resource: ical.Resource) -> None:
        """Store a whole resource (a series with its overrides) under a new UID, as an import does."""
        url = str(self._calendar.url.join(quote(resource.uid, safe="") + ".ics"))
        obj = DavEvent(client=self._client, url=url, parent=self._calendar)
        with _translated(url):
            obj.save(raw_data=resource.to_ical(), no_overwrite=True, increase_seqno=False)
        self._remember(_Stored(url, obj.etag, resource))

    def update(self, item: PersonalItem) -> PersonalItem:
        stored = self._for_write(item.key, item.version)
        ical.update_resource(stored.resource, item)
        self._put(stored)
        return ical.get_item(stored.resource, item.key, stored.etag)

    def delete(self, key: ItemKey, version: str | None = None) -> None:
        stored = self._for_write(key, version)
        if key.recurrence_id is not None:
            if not stored.resource.recurring:
                raise NotFound(f"{key.uid} is not recurring: no occurrence {key.ref}", side="personal")
            ical.exclude_occurrence(stored.resource, key.recurrence_id)
            self._put(stored)
            return
        obj = DavEvent(client=self._client, url=stored.url, parent=self._calendar, props=_etag(stored))
        with _translated(stored.url):
            obj.delete(if_match=stored.etag or False, precondition="etag")
        self._forget(stored.url)

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
        """One PUT with If-Match: of two devices marking the same object, the second gets StaleVersion."""
        stored = self._for_write(key, version)
        write(stored.resource)
        self._put(stored)
        return ical.get_item(stored.resource, key, stored.etag)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()

    # --- internals ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return str(self._calendar.url)

    def _wrap_request(self) -> None:
        """Every request the caldav library sends goes through the shared retry loop, and is counted
        (the library's own handling of a 429 is off: it would wait outside the loop and the gate)."""
        self._client.rate_limit_handle = False
        send = self._client.request

        def counted(
            url: str, method: str = "GET", body: str = "", headers: Mapping[str, str] | None = None
        ) -> Any:
            self.requests += 1
            return send(url, method, body, headers or {})

        def retried(
            url: str, method: str = "GET", body: str = "", headers: Mapping[str, str] | None = None
        ) -> Any:
            return self._retry.run(
                lambda: counted(url, method, body, headers),
                _judge,
                mode=_mode(method, headers or {}),
                sleep=self._sleep,
                slot=self._slot,
                label=f"{method} {url}",
            ).value

        self._client.request = retried  # type: ignore[method-assign,assignment]

    def _discover(self, url: str) -> Any:
        """The calendar at ``url``; created when missing; the first of a home or principal."""
        candidate = DavCalendar(client=self._client, url=url)
        try:
            kinds = candidate.get_property(dav.ResourceType()) or ""
        except dav_error.NotFoundError:
            # Calendar.save() sends nothing for an object that already has a URL: MKCALENDAR it ourselves
            ensure_calendar(url, self._username, self._password)
            return candidate
        if "calendar" in str(kinds) and "principal" not in str(kinds):
            return candidate
        home: Any = CalendarSet(client=self._client, url=url)
        calendars: Any = home.calendars()
        if not calendars:
            with contextlib.suppress(dav_error.NotFoundError):
                home = cast(Any, self._client).principal(url=url)
                calendars = home.calendars()
        return calendars[0] if calendars else home.make_calendar(name="calendar", cal_id="calendar")

    def _search(self, window: Window) -> tuple[list[ical.Resource], list[Problem]]:
        """One calendar-query for the window; whole objects come back (series unexpanded)."""
        with _translated(self.url):
            found = self._calendar.search(start=window.start, end=window.end, event=True)
        return self._absorb(found)

    def _versions(self) -> dict[str, str]:
        return {uid: s.etag for uid, s in self._by_uid.items() if s.etag is not None}

    def _absorb(self, objects: list[Any]) -> tuple[list[ical.Resource], list[Problem]]:
        """Parse fetched objects, remembering each; a malformed one becomes a problem naming its URL."""
        resources: list[ical.Resource] = []
        problems: list[Problem] = []
        for obj in objects:
            url = str(obj.url)
            found, broken = ical.resources_in(obj.raw_data or obj.data, url)
            problems.extend(broken)
            for resource in found:
                self._remember(_Stored(url, obj.etag, resource))
                resources.append(resource)
        return resources, problems

    def _remember(self, stored: _Stored) -> None:
        self._by_uid[stored.resource.uid] = stored
        self._uid_by_url[stored.url] = stored.resource.uid

    def _forget(self, url: str) -> str:
        uid = self._uid_by_url.pop(url, None) or unquote(url.rstrip("/").rsplit("/", 1)[-1]).removesuffix(
            ".ics"
        )
        self._by_uid.pop(uid, None)
        return uid

    def _fetch(self, uid: str) -> _Stored:
        """The current object holding ``uid``, read from the server (by its known href, else by UID).

        A uid with control characters cannot be written into a CalDAV query (XML), so no calendar holds
        it: it is not there, rather than a failure."""
        if not all(c.isprintable() or c in "\t" for c in uid):
            raise NotFound(f"no item {uid!r} in the calendar {self.url}", side="personal")
        known = self._by_uid.get(uid)
        found: list[Any] = []
        with _translated(self.url):
            if known is not None:
                found = self._calendar.multiget([self._calendar.url.join(known.url)])
            if not found:
                try:
                    found = [self._calendar.get_event_by_uid(uid)]
                except dav_error.NotFoundError as exc:
                    raise NotFound(f"no item {uid} in the calendar {self.url}", side="personal") from exc
        resources, problems = self._absorb(found)
        if not any(r.uid == uid for r in resources):
            raise MalformedCalendar(str(problems[0]) if problems else f"{uid} cannot be read", where=self.url)
        return self._by_uid[uid]

    def _for_write(self, key: ItemKey, version: str | None) -> _Stored:
        """The object to change: the cached copy when its ETag is the caller's, else a fresh read."""
        known = self._by_uid.get(key.uid)
        if known is None or version is None or known.etag != version:
            known = self._fetch(key.uid)
        if version is not None and known.etag != version:
            raise StaleVersion(f"{key.ref} changed since it was read")
        return known

    def _put(self, stored: _Stored) -> None:
        obj = DavEvent(client=self._client, url=stored.url, parent=self._calendar, props=_etag(stored))
        try:
            with _translated(stored.url):
                obj.save(raw_data=stored.resource.to_ical(), precondition="etag", increase_seqno=False)
        except (StaleVersion, NotFound):
            self._forget(stored.url)  # our copy is out of date: the next call reads afresh
            raise
        stored.etag = obj.etag
        self._remember(stored)


_READS = frozenset({"GET", "HEAD", "OPTIONS", "PROPFIND", "REPORT"})
_GATEWAY_FAILURES = (502, 503, 504)
_NEVER_CONNECTED = ("connection refused", "unknown host")


def _mode(method: str, headers: Mapping[str, str]) -> Mode:
    """Reads may be repeated, and so may a PUT or DELETE with ``If-Match`` (it applies to one version
    only, so never twice); anything else (a create with ``If-None-Match: *``, MKCALENDAR) only when
    nothing was applied."""
    conditioned = any(k.lower() == "if-match" for k in headers)
    return (
        "read"
        if method.upper() in _READS or (conditioned and method.upper() in ("PUT", "DELETE"))
        else "write"
    )


def _judge(outcome: object) -> Retry | None:
    """A 429 or a 503 naming its wait (the server declining the request for now: nothing was done),
    gateway failures, and connections dropped or never made; not a timeout: a server still busy with
    the request is not sent it again."""
    if isinstance(outcome, dav_error.RateLimitError):
        return Retry(applied=False, wait=retry_after({"Retry-After": outcome.retry_after or ""}))
    if isinstance(outcome, DAVResponse):
        return Retry(applied=True) if outcome.status in _GATEWAY_FAILURES else None
    if isinstance(outcome, dav_http.exceptions.ConnectTimeout):
        return Retry(applied=False)
    if isinstance(outcome, dav_http.exceptions.Timeout) or not isinstance(
        outcome, dav_http.exceptions.ConnectionError
    ):
        return None
    if connection_failure(outcome) in _NEVER_CONNECTED:
        return Retry(applied=False, tries=REFUSED_RETRIES)
    return Retry(applied=True)


def _slot(gate: Gate | None, url: str) -> Callable[[], contextlib.AbstractContextManager[object]]:
    if gate is None:
        return contextlib.nullcontext
    origin = urlsplit(url)
    return lambda: gate.slot(f"{origin.scheme}://{origin.netloc}".lower())


def _etag(stored: _Stored) -> dict[Any, Any]:
    return {} if stored.etag is None else {dav.GetEtag.tag: stored.etag}


@contextlib.contextmanager
def _translated(where: str) -> Iterator[None]:
    """caldav and HTTP errors become calferry errors here, at the adapter's edge."""
    try:
        yield
    except dav_error.ETagMismatchError as exc:
        raise StaleVersion(f"{where} changed since it was read") from exc
    except dav_error.NotFoundError as exc:
        raise NotFound(f"{where} is not there", side="personal") from exc
    except (dav_error.ConsistencyError, dav_error.UidConflictError) as exc:
        raise Conflict(f"{where}: an item with that uid already exists") from exc
    except dav_error.AuthorizationError as exc:
        raise PermissionDenied(f"the calendar server refused access to {where}", side="personal") from exc
    except dav_error.DAVError as exc:
        raise PersonalCalendarError(f"the calendar server failed on {where}: {exc}") from exc
    except OSError as exc:
        raise PersonalUnavailable(
            f"cannot reach the calendar at {where} ({connection_failure(exc)})",
            hint="start `calferry calendar serve` or set personal.url",
        ) from exc
