"""Microsoft Graph over HTTP: the per-mailbox gate, which answers may be repeated, and Graph's errors
as calferry's (the retry loop, ``Retry-After`` and backoff are :mod:`calferry.http`'s, shared with the
Autotask client and the CalDAV adapter).

At most four requests in flight per mailbox (a ``$batch`` counts as four: Outlook runs up to four of
its members at once); 429/503/504 answered after ``Retry-After``, exponential backoff otherwise; a
503/504 or a dropped connection may hide a request that was carried out, which the caller is told.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from calferry.errors import (
    CalferryError,
    CredentialsMissing,
    NotFound,
    PermissionDenied,
    PersonalCalendarError,
    PersonalUnavailable,
    StaleVersion,
    SyncTokenExpired,
)
from calferry.http import LocalGate, Mode, Permits, Retry, RetryPolicy, retry_after

MAX_IN_FLIGHT = 4
BATCH_LIMIT = 20
PREFER = 'outlook.timezone="UTC", IdType="ImmutableId", outlook.body-content-type="text"'
_RETRYABLE = (429, 503, 504)
_MAYBE_DONE = (503, 504)
_TOKEN_REFUSED = ("syncstatenotfound", "resyncrequired", "invaliddeltatoken")
"""Codes of a refused delta token; Graph documents "40X-series error with codes such as" the first."""

TokenProvider = Callable[[], str]
Event = dict[str, Any]


_MAILBOXES = LocalGate(MAX_IN_FLIGHT)
"""Graph allows four concurrent requests per app and mailbox: every adapter on one shares its permits."""


def _gate(mailbox: str) -> Permits:
    return _MAILBOXES.permits(mailbox)


class Http:
    """Authenticated Graph calls with throttling handled and errors translated to calferry's tree."""

    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        token: TokenProvider,
        *,
        retry: RetryPolicy,
        sleep: Callable[[float], None],
        mailbox: str = "",
    ) -> None:
        """``mailbox``: the one mailbox an application-permission caller works on (its gate is known
        without asking); empty for the signed-in user's own (delegated)."""
        self.client, self.base_url, self.token = client, base_url.rstrip("/"), token
        self.app_only = bool(mailbox)
        self.retry, self.sleep = retry, sleep
        self._gate: Permits | None = None
        self._gate_lock = threading.Lock()
        if mailbox:
            self.use_mailbox(mailbox)

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request (see :meth:`send`), its error answer translated."""
        return self.checked(self.send(method, url, **kwargs)[0])

    def checked(self, response: httpx.Response) -> httpx.Response:
        """The response if it succeeded, else its error in calferry's words for this kind of sign-in."""
        return checked(response, app_only=self.app_only)

    def translate(self, status: int, body: Event) -> CalferryError:
        return translate(status, body, app_only=self.app_only)

    def send(self, method: str, url: str, **kwargs: Any) -> tuple[httpx.Response, bool]:
        """One request through the mailbox's gate: the answer, and whether an earlier answer was lost.

        A ``$batch`` counts as four requests (Outlook runs up to four of its members at once).
        """
        gate = self._mailbox_gate()
        weight = MAX_IN_FLIGHT if url == "$batch" else 1
        return self._retried(lambda: gate.take(weight), method, url, **kwargs)

    def _retried(
        self, slot: Callable[[], contextlib.AbstractContextManager[Any]], method: str, url: str, **kwargs: Any
    ) -> tuple[httpx.Response, bool]:
        """Repeated (by the shared loop) after 429/503/504 or a dropped connection, as :func:`_mode` allows.

        After a dropped connection, a 503 or a 504 the request may have been carried out although its
        answer was lost (a gateway timeout says nothing of what happened behind it), so the repeat may
        meet its own effect; the flag tells the caller.
        """
        try:
            ran = self.retry.run(
                lambda: self._once(method, url, **kwargs),
                _judge,
                mode=_mode(method, url, kwargs.get("json")),
                sleep=self.sleep,
                slot=slot,
                label=f"{method} {url}",
            )
        except httpx.TransportError as exc:
            raise PersonalUnavailable(f"cannot reach Microsoft Graph: {type(exc).__name__}") from exc
        return ran.value, ran.lost

    def _mailbox_gate(self) -> Permits:
        """The gate of the signed-in mailbox, named by its default calendar's owner.

        Asking for the owner is the one request that passes no gate; Calendars.ReadWrite allows it
        (``/me`` itself would need User.Read).
        """
        with self._gate_lock:
            if self._gate is None:
                answer, _ = self._retried(
                    contextlib.nullcontext, "GET", "me/calendar", params={"$select": "owner"}
                )
                owner = body_of(checked(answer)).get("owner") or {}
                self._gate = _gate(f"{self.base_url} {str(owner.get('address', '')).casefold()}")
            return self._gate

    def use_mailbox(self, owner: str) -> None:
        """The calendar in use belongs to ``owner``'s mailbox: its four-request limit applies."""
        with self._gate_lock:
            self._gate = _gate(f"{self.base_url} {owner.casefold()}")

    def json(self, method: str, url: str, **kwargs: Any) -> Event:
        response = self.call(method, url, **kwargs)
        return body_of(response)

    def items(self, url: str, params: dict[str, str] | None = None) -> Iterator[Event]:
        """Every item of a collection, following ``@odata.nextLink``."""
        next_url: str | None = url
        while next_url:
            page = self.json("GET", next_url, params=params)
            yield from page.get("value", [])
            next_url, params = page.get("@odata.nextLink"), None

    def batch(self, requests: list[Event]) -> dict[str, Event]:
        """Member responses by id; members answered 429 are sent again (through the shared loop) after
        the largest Retry-After, until they are answered otherwise or the attempts are spent."""
        results: dict[str, Event] = {}
        for start in range(0, len(requests), BATCH_LIMIT):
            chunk = _Batch(self, requests[start : start + BATCH_LIMIT])
            self.retry.run(chunk.send, _Batch.judge, mode="read", sleep=self.sleep, label="$batch members")
            results.update(chunk.answered)
            results.update(chunk.throttled)
        return results

    def _once(
        self, method: str, url: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        all_headers = {"Authorization": f"Bearer {self.token()}", "Prefer": PREFER, **(headers or {})}
        return self.client.request(method, url, headers=all_headers, **kwargs)


class _Batch:
    """One ``$batch`` of at most twenty members, sent again with only its throttled members."""

    def __init__(self, http: Http, members: list[Event]) -> None:
        self.http, self.members = http, {m["id"]: m for m in members}
        self.answered: dict[str, Event] = {}
        self.throttled: dict[str, Event] = {}

    def send(self) -> list[float | None]:
        """Send the members not yet answered; the waits their throttled answers named."""
        pending = [self.members[i] for i in self.throttled] if self.throttled else list(self.members.values())
        body = self.http.json("POST", "$batch", json={"requests": pending})
        self.throttled = {}
        for member in body.get("responses", []):
            target = self.throttled if member.get("status") in _RETRYABLE else self.answered
            target[member["id"]] = member
        return [retry_after(m.get("headers") or {}) or None for m in self.throttled.values()]

    @staticmethod
    def judge(outcome: list[float | None] | Exception) -> Retry | None:
        """Throttled members were refused before they were handled: sent again after the largest wait
        they named (backoff when none named one)."""
        if isinstance(outcome, Exception) or not outcome:
            return None
        named = [w for w in outcome if w is not None]
        return Retry(applied=False, wait=max(named) if named else None)


def _mode(method: str, url: str, payload: Any) -> Mode:
    """GET, PATCH and DELETE may be repeated (a PATCH sets the same fields again; the caller is told
    when a repeat may meet its own effect), as may a ``$batch`` (of reads, or of POSTs each carrying a
    ``transactionId``) and a POST carrying one (Graph makes one event of every attempt); any other POST
    only when nothing was applied."""
    if method != "POST" or url == "$batch" or (isinstance(payload, dict) and "transactionId" in payload):
        return "read"
    return "write"


def _judge(outcome: httpx.Response | Exception) -> Retry | None:
    """Throttling (429: nothing was done) and gateway failures or a dropped connection (503/504, a
    transport error: it may have been); a request this side could not form is final."""
    if isinstance(outcome, httpx.Response):
        if outcome.status_code not in _RETRYABLE:
            return None
        return Retry(applied=outcome.status_code in _MAYBE_DONE, wait=retry_after(outcome.headers) or None)
    if isinstance(outcome, httpx.TransportError) and not isinstance(outcome, httpx.LocalProtocolError):
        return Retry(applied=not isinstance(outcome, httpx.ConnectError))
    return None


def body_of(response: httpx.Response) -> Event:
    if not response.content:
        return {}
    try:
        data = response.json()
    except ValueError as exc:
        raise PersonalCalendarError("Microsoft Graph answered with something other than JSON") from exc
    return data if isinstance(data, dict) else {}


def checked(response: httpx.Response, *, app_only: bool = False) -> httpx.Response:
    if response.is_success:
        return response
    try:
        body = body_of(response)
    except PersonalCalendarError:
        body = {}
    raise translate(response.status_code, body, app_only=app_only)


APP_DENIED_HINT = (
    "the org's Outlook app needs Calendars.ReadWrite (an Exchange role assignment, or admin consent) and "
    "this mailbox in the group the app is limited to (docs/org-outlook.md)"
)


def translate(status: int, body: Event, *, app_only: bool = False) -> CalferryError:
    """Graph's error answer (status + ``{"error": {code, message}}``) as calferry's error.

    ``app_only``: the caller signs in as the org's application (client credentials), not as a user,
    so a refusal is the admin's to fix, not the technician's sign-in.
    """
    error = body.get("error") or {}
    code, message = str(error.get("code", "")), str(error.get("message", ""))
    text = f"Microsoft Graph answered {status} {code}: {message}".rstrip(": ")
    if status == 401:
        if app_only:
            hint = "the next run signs in anew; if this stays, check graph_tenant (docs/org-outlook.md)"
            return CredentialsMissing("Microsoft Graph refused the org app's token", hint=hint)
        return CredentialsMissing("Outlook refused the sign-in token", hint="run `calferry login --outlook`")
    if status == 403:
        hint = (
            APP_DENIED_HINT
            if app_only
            else "the app needs the delegated permission Calendars.ReadWrite (docs/outlook.md)"
        )
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
