"""Microsoft Graph over HTTP: the per-mailbox gate, retries, and Graph's errors as calferry's (the
gate, ``Retry-After`` and backoff are :mod:`calferry.http`'s, shared with the Autotask client).

At most four requests in flight per mailbox (a ``$batch`` counts as four: Outlook runs up to four of
its members at once); 429/503/504 answered after ``Retry-After``, exponential backoff otherwise; a
503/504 or a dropped connection may hide a request that was carried out, which the caller is told.
"""

from __future__ import annotations

import contextlib
import itertools
import math
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
from calferry.http import LocalGate, Permits, RetryPolicy, retry_after

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
        retries: int,
        base_delay: float,
        sleep: Callable[[float], None],
    ) -> None:
        self.client, self.base_url, self.token = client, base_url.rstrip("/"), token
        self.retries, self.sleep = retries, sleep
        self._policy = RetryPolicy(
            retries + 1, base_delay, max_delay=math.inf, give_up_after=math.inf, jitter=0.0
        )
        self._gate: Permits | None = None
        self._gate_lock = threading.Lock()

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request (see :meth:`send`), its error answer translated."""
        return checked(self.send(method, url, **kwargs)[0])

    def send(self, method: str, url: str, **kwargs: Any) -> tuple[httpx.Response, bool]:
        """One request through the mailbox's gate: the answer, and whether an earlier answer was lost.

        A ``$batch`` counts as four requests (Outlook runs up to four of its members at once).
        """
        gate = self._mailbox_gate()
        weight = MAX_IN_FLIGHT if url == "$batch" else 1
        return self._retried(lambda: gate.take(weight), method, url, **kwargs)

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
                self.sleep(self._policy.backoff(attempt))
                continue
            if response.status_code not in _RETRYABLE or attempt >= self.retries:
                return response, lost
            lost = lost or response.status_code in _MAYBE_DONE
            self.sleep(retry_after(response.headers) or self._policy.backoff(attempt))
        raise AssertionError("unreachable")

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
        """Member responses by id; members answered 429 are sent again after the largest Retry-After."""
        results: dict[str, Event] = {}
        for start in range(0, len(requests), BATCH_LIMIT):
            pending = requests[start : start + BATCH_LIMIT]
            for attempt in itertools.count():
                body = self.json("POST", "$batch", json={"requests": pending})
                waits: list[float] = []
                by_id = {r["id"]: r for r in pending}
                pending = []
                for member in body.get("responses", []):
                    if member.get("status") in _RETRYABLE and attempt < self.retries:
                        pending.append(by_id[member["id"]])
                        waits.append(
                            retry_after(member.get("headers") or {}) or self._policy.backoff(attempt)
                        )
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


def body_of(response: httpx.Response) -> Event:
    if not response.content:
        return {}
    try:
        data = response.json()
    except ValueError as exc:
        raise PersonalCalendarError("Microsoft Graph answered with something other than JSON") from exc
    return data if isinstance(data, dict) else {}


def checked(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    try:
        body = body_of(response)
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
