"""A synchronous client for the Autotask REST API (and ``calferry psa serve``, which speaks the same).

It owns everything the wire needs: the zone look-up, the auth headers, paging, chunked ``in`` lists,
metadata, the thread limit (through a ``ThreadGate``, shareable by every client using one integration
code), the hourly threshold, retries and error translation. Nothing
above it sees ``httpx``; every failure leaves as a ``calferry.errors`` exception. (It runs past 500
lines on purpose: these concerns share one request path, and splitting them would spread the edge
where httpx is translated over several modules.)

Retry policy (B2, B3), as this module's ``_judge`` tells the shared loop
(:meth:`calferry.http.RetryPolicy.run`, which also holds the thread gate's slot for each attempt):
- reads (query, count, get, metadata) are retried on 5xx (Autotask's 500 mixes bad input with its own
  failures), dropped connections, timeouts and 429, with
  exponential backoff, honouring ``Retry-After`` up to ``RetryPolicy.max_delay`` (a wait longer than
  ``RetryPolicy.give_up_after``, such as the hourly limit's, is raised as ``PsaRateLimited`` at once);
- writes (create, PATCH, DELETE) are retried only when the failure proves nothing was applied: 429
  or Autotask's thread/threshold words with any status (refused before handling, retried after
  ``Retry-After`` where given) and connections that were never made;
  any other failure of a write (a 5xx, a timeout, a lost answer) might hide an applied change, so it is
  raised: a create whose answer is lost is reconciled by its fingerprint (``AutotaskPsa.find_matching``)
  and never sent twice blindly.

Hourly budget (B3): the first request of a client looks at ``ThresholdInformation`` once (one cheap
call, so even a short CLI run warns), then every ``threshold_every`` requests or ``threshold_seconds``.
A client given ``threshold_seen`` (what a look made elsewhere found: the org service reads it once a
cycle for every technician's run) starts from that instead of its own first look.
From 75 % of the budget each request waits a little (``pace_delays[0]``), from 90 % longer
(``pace_delays[1]``), and each level is warned about once (``warnings``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

import httpx

from calferry import paths
from calferry.errors import (
    ImpersonationRefused,
    NotFound,
    PermissionDenied,
    PsaAuthError,
    PsaError,
    PsaRateLimited,
    PsaUnavailable,
    PsaValidationError,
    connection_failure,
)
from calferry.http import REFUSED_RETRIES, Mode, Retry, RetryPolicy, retry_after
from calferry.psa.query import Filter, Split, body, eq, format_utc, parse_utc, split
from calferry.psa.threads import LocalThreadGate, ThreadGate

__all__ = [
    "DEFAULT_ZONE_URL",
    "REFUSED_RETRIES",
    "AutotaskClient",
    "FieldInfo",
    "RetryPolicy",
    "format_utc",
    "parse_utc",
]

log = logging.getLogger("calferry.psa")

DEFAULT_ZONE_URL = "https://webservices.autotask.net/atservicesrest/v1.0/"
# Autotask refuses a wrong integration code or an unknown user name with a 500 and these words (only a
# wrong secret gets 401): what is wrong, and where to put it right.
_CREDENTIAL_WORDINGS = {
    "integrationcode is invalid": (
        "the PSA does not accept the integration code",
        "check psa.integration_code (the API tracking identifier) in the config",
    ),
    "zone information could not be determined": (
        "the PSA does not know the API user name",
        "check psa.username in the config",
    ),
}
# A limit's refusal, which may come without 429 or Retry-After (thread limit: "Thread Threshold Exceeded
# ... (Itgenatr005)"; hourly: "Request Threshold Exceeded").
_LIMIT_WORDINGS = ("threshold", "itgenatr005")
# Autotask's 500 to a DELETE of an id that is not (or no longer) there.
_GONE_WORDING = "no matching records found"
# Autotask refuses for lack of permission with a 500 and these words (R33: a to-do without CRM access too;
# the REST API shows no CRM flag or security level, so the refusal is all there is to go by).
_PERMISSION_WORDINGS = ("does not have the adequate permissions",)

# Entities written through their parent's URL: entity -> (parent entity, parent id field, child segment).
CHILD_URLS: dict[str, tuple[str, str, str]] = {
    "CompanyToDos": ("Companies", "companyID", "ToDos"),
    "Contacts": ("Companies", "companyID", "Contacts"),
    "CompanyLocations": ("Companies", "companyID", "Locations"),
    "ServiceCallTickets": ("ServiceCalls", "serviceCallID", "Tickets"),
    "ServiceCallTasks": ("ServiceCalls", "serviceCallID", "Tasks"),
    "ServiceCallTicketResources": ("ServiceCallTickets", "serviceCallTicketID", "Resources"),
    "ServiceCallTaskResources": ("ServiceCallTasks", "serviceCallTaskID", "Resources"),
    "Tasks": ("Projects", "projectID", "Tasks"),
}


class _Secret:
    """Holds the API secret so that no repr, log line or traceback local can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__


@dataclass(frozen=True)
class FieldInfo:
    """One field of ``{Entity}/entityInformation/fields``: enough to validate before writing."""

    name: str
    data_type: str
    length: int | None
    required: bool
    read_only: bool
    queryable: bool
    reference_entity: str | None
    picklist: tuple[tuple[str, str], ...]

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> FieldInfo:
        """Metadata key casing varies between tenants, so keys are matched case-insensitively."""
        f = {str(k).lower(): v for k, v in raw.items()}
        values = f.get("picklistvalues") or []
        picklist = tuple(
            (str(v.get("value", v.get("Value", ""))), str(v.get("label", v.get("Label", "")))) for v in values
        )
        return cls(
            name=str(f.get("name", "")),
            data_type=str(f.get("datatype", "")),
            length=int(f["length"]) if f.get("length") else None,
            required=bool(f.get("isrequired")),
            read_only=bool(f.get("isreadonly")),
            queryable=bool(f.get("isqueryable", True)),
            reference_entity=f.get("referenceentitytype") or None,
            picklist=picklist,
        )


class AutotaskClient:
    """One API user's connection to one Autotask zone; thread-safe.

    ``stats`` counts requests per ``VERB Entity/operation`` plus ``total``; ``warnings`` collects
    threshold warnings (also logged on ``calferry.psa``). ``sleep`` does every wait (retries, pacing),
    so tests can record the waits instead of sitting through them.
    """

    def __init__(
        self,
        base_url: str,
        *,
        username: str,
        integration_code: str,
        secret: str,
        impersonation_resource_id: int | None = None,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        gate: ThreadGate | None = None,
        threshold_every: int = 100,
        threshold_seconds: float = 60.0,
        pace_delays: tuple[float, float] = (0.1, 0.5),
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        threshold_seen: tuple[float, float] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.username = username
        self._integration_code = integration_code
        self._secret = _Secret(secret)
        self.impersonation_resource_id = impersonation_resource_id
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=timeout)
        self.retry = retry or RetryPolicy()
        self.gate: ThreadGate = gate if gate is not None else LocalThreadGate()
        self._lock = threading.Lock()
        self._stats: Counter[str] = Counter()
        self._fields: dict[str, dict[str, FieldInfo]] = {}
        self.warnings: list[str] = []
        self._sleep = sleep
        self._watch = _ThresholdWatch(threshold_every, threshold_seconds, pace_delays, sleep)
        if threshold_seen is not None:
            self._watch.seen(self, *threshold_seen)
        self._zone: _ZoneSource | None = None  # set by from_zone; cleared once looked up again

    def __repr__(self) -> str:
        return f"AutotaskClient({self.base_url!r}, username={self.username!r})"

    # --- construction from the zone -----------------------------------------------------------

    @classmethod
    def from_zone(
        cls,
        zone_user: str,
        *,
        zone_url: str = DEFAULT_ZONE_URL,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        **kwargs: Any,
    ) -> AutotaskClient:
        """Find the API user's zone (no credentials needed; cached under CALFERRY_HOME for
        ``ZONE_TTL``) and connect. A client made so looks the zone up again, once, when the PSA refuses
        it as a stranger (credentials refused, or 404 for everything): the tenant may have moved."""
        base = cached_zone(zone_user, zone_url, clock()) or _lookup_zone(zone_user, zone_url, http, clock())
        client = cls(base, http=http, **kwargs)
        client._zone = _ZoneSource(zone_user, zone_url, clock)
        return client

    # --- reading ------------------------------------------------------------------------------

    def query(
        self,
        entity: str,
        flt: Filter,
        include_fields: Iterable[str] | None = None,
        max_records: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every row matching ``flt``, paged transparently; lists over 500 values run as several queries."""
        fields = list(include_fields) if include_fields else None
        rows = self._run(entity, split(flt), fields, max_records)
        return islice(rows, max_records) if max_records else rows

    def count(self, entity: str, flt: Filter) -> int:
        """``{Entity}/query/count``; a split filter counts the distinct ids of its merged result."""
        plan = split(flt)
        if isinstance(plan, Split):
            return sum(1 for _ in self._run(entity, plan, ["id"], None))
        answer = self._call("POST", f"{entity}/query/count", f"POST {entity}/query/count", "read", body(plan))
        return int(answer.get("queryCount", 0))

    def get(self, entity: str, item_id: int) -> dict[str, Any]:
        """One row by id; ``NotFound`` when it is not there (Autotask may answer 200 with a null item)."""
        answer = self._call("GET", f"{entity}/{item_id}", f"GET {entity}/{{id}}", "read")
        item = answer.get("item")
        if not item:
            raise NotFound(f"{entity} {item_id} does not exist in the PSA", side="psa")
        return dict(item)

    def field_info(self, entity: str) -> dict[str, FieldInfo]:
        """Field metadata by lower-cased name, fetched once per entity."""
        with self._lock:
            cached = self._fields.get(entity)
        if cached is not None:
            return cached
        path = f"{entity}/entityInformation/fields"
        answer = self._call("GET", path, f"GET {path}", "read")
        fields = {info.name.lower(): info for info in map(FieldInfo.from_wire, answer.get("fields") or [])}
        with self._lock:
            self._fields[entity] = fields
        return fields

    def threshold(self, *, retried: bool = True) -> dict[str, Any]:
        """``ThresholdInformation``: the hourly budget and how much of it is used.

        The threshold watch asks with ``retried=False``: a look that fails is skipped, not worth a retry.
        """
        mode: Mode = "read" if retried else "never"
        return self._call("GET", "ThresholdInformation", "GET ThresholdInformation", mode, watch=False)

    def verify(self) -> None:
        """Prove the credentials with the cheapest authenticated call (a count of one resource)."""
        self.count("Resources", eq("id", 0))

    # --- writing ------------------------------------------------------------------------------

    # ``as_resource`` writes as that resource (``ImpersonationResourceId``, this request only): Autotask
    # lets everyone manage their own appointments, but another resource's only with a service-desk
    # setting the tenant may have off. A refusal to impersonate raises ``ImpersonationRefused``.

    def create(self, entity: str, data: Mapping[str, Any], *, as_resource: int | None = None) -> int:
        """POST a new row (through its parent's URL where Autotask needs it); retried only when the
        answer proves nothing was made (a limit refused it, no connection), like every write."""
        url = self._write_url(entity, data)
        answer = self._call("POST", url, f"POST {_label(url)}", "write", _wire(data), acting=as_resource)
        return int(answer["itemId"])

    def update(self, entity: str, data: Mapping[str, Any], *, as_resource: int | None = None) -> int:
        """PATCH the fields in ``data`` (which carries ``id``); other fields stay as they are."""
        url = self._write_url(entity, data)
        answer = self._call("PATCH", url, f"PATCH {_label(url)}", "write", _wire(data), acting=as_resource)
        return int(answer.get("itemId", data["id"]))

    def delete(
        self, entity: str, item_id: int, parent_id: int | None = None, *, as_resource: int | None = None
    ) -> None:
        """DELETE one row; a child entity's parent id is looked up when not given."""
        if entity in CHILD_URLS and parent_id is None:
            parent_id = int(self.get(entity, item_id)[CHILD_URLS[entity][1]])
        base = self._write_url(entity, {CHILD_URLS[entity][1]: parent_id} if entity in CHILD_URLS else {})
        url = f"{base}/{item_id}"
        self._call("DELETE", url, f"DELETE {_label(url)}", "write", acting=as_resource)

    # --- bookkeeping --------------------------------------------------------------------------

    @property
    def stats(self) -> dict[str, int]:
        """Requests sent per ``VERB Entity/operation`` and in ``total``."""
        with self._lock:
            out = dict(self._stats)
        out["total"] = sum(out.values())
        return out

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> AutotaskClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals: queries -------------------------------------------------------------------

    def _run(
        self, entity: str, plan: Filter | Split, fields: list[str] | None, max_records: int | None
    ) -> Iterator[dict[str, Any]]:
        if not isinstance(plan, Split):
            page_size = min(max_records, 500) if max_records else None
            yield from self._pages(entity, body(plan, fields, page_size))
        elif plan.mode == "any":
            yield from _distinct(self._run(entity, part, fields, max_records) for part in plan.parts)
        else:
            yield from self._intersection(entity, plan, fields)

    def _intersection(self, entity: str, plan: Split, fields: list[str] | None) -> Iterator[dict[str, Any]]:
        first, *rest = (list(self._run(entity, part, fields, None)) for part in plan.parts)
        keep = set.intersection(*({row["id"] for row in rows} for rows in rest)) if rest else None
        yield from (row for row in first if keep is None or row["id"] in keep)

    def _pages(self, entity: str, payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Follow ``nextPageUrl`` with POST and the same body (GET there answers 405)."""
        url: str | None = f"{entity}/query"
        while url:
            page = self._call("POST", url, f"POST {entity}/query", "read", payload)
            yield from page.get("items") or []
            url = (page.get("pageDetails") or {}).get("nextPageUrl")

    def _write_url(self, entity: str, data: Mapping[str, Any]) -> str:
        if entity not in CHILD_URLS:
            return entity
        parent, parent_field, segment = CHILD_URLS[entity]
        parent_id = _field(data, parent_field)
        if parent_id is None:
            raise PsaValidationError(
                f"{entity} needs {parent_field} (it is written under {parent})", messages=[parent_field]
            )
        return f"{parent}/{parent_id}/{segment}"

    # --- internals: one request, retries, errors ----------------------------------------------

    def _call(
        self,
        method: str,
        url: str,
        label: str,
        mode: Mode,
        payload: Any = None,
        *,
        watch: bool = True,
        acting: int | None = None,
    ) -> dict[str, Any]:
        endpoint = label.split(" ", 1)[1].split("/", 1)[0]
        return self.retry.run(
            lambda: self._once(method, url, label, payload, acting),
            _judge,
            mode=mode,
            sleep=self._sleep,
            slot=lambda: self.gate.slot(self._integration_code, endpoint),
            before=(lambda: self._watch.tick(self)) if watch else None,
            label=label,
        ).value

    def _once(self, method: str, url: str, label: str, payload: Any, acting: int | None) -> dict[str, Any]:
        """One request (inside the endpoint's slot), its failure translated at once."""
        self._count(label)
        try:
            response = self._http.request(
                method, self._absolute(url), headers=self._headers(acting), json=payload
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise PsaUnavailable(
                f"cannot reach the PSA at {self.base_url} ({connection_failure(exc)})",
                hint="check psa.base_url, and that the PSA server is running",
            ) from exc
        except httpx.HTTPError as exc:
            raise PsaUnavailable(f"the PSA did not answer {label}: {type(exc).__name__}") from exc
        except UnicodeEncodeError as exc:  # JSON goes out as UTF-8, which a lone surrogate cannot be
            raise PsaValidationError(
                f"{label} was not sent: it holds text that is not valid Unicode (a lone surrogate)"
            ) from exc
        if _stranger(response) and self._moved_zone():
            return self._once(method, url, label, payload, acting)  # the same request, at the new zone
        return _decode(response, label)

    def _moved_zone(self) -> bool:
        """Look the zone up again (once per client); True when it moved and ``base_url`` now follows."""
        with self._lock:
            zone, self._zone = self._zone, None
        if zone is None:
            return False
        try:
            base = _lookup_zone(zone.user, zone.url, self._http, zone.clock())
        except PsaError:
            return False
        moved = base.rstrip("/").lower() != self.base_url.rstrip("/").lower()
        if moved:
            log.info("the Autotask zone moved to %s", base)
            self.base_url = base
        return moved

    def _count(self, label: str) -> None:
        with self._lock:
            self._stats[label] += 1

    def _absolute(self, url: str) -> str:
        return url if url.startswith(("http://", "https://")) else self.base_url + url

    def _headers(self, acting: int | None = None) -> dict[str, str]:
        headers = {
            "ApiIntegrationCode": self._integration_code,
            "UserName": self.username,
            "Secret": self._secret.reveal(),
            "Content-Type": "application/json",
        }
        impersonated = acting if acting is not None else self.impersonation_resource_id
        if impersonated is not None:
            headers["ImpersonationResourceId"] = str(impersonated)
        return headers


class _ThresholdWatch:
    """Looks at ``ThresholdInformation`` at the first request, then every ``every`` requests or
    ``seconds``; warns at 75 % and 90 % of the hourly budget and paces each request from there on by
    ``pace_delays`` (75 %, 90 %)."""

    LEVELS = (0.9, 0.75)

    def __init__(
        self, every: int, seconds: float, pace_delays: tuple[float, float], sleep: Callable[[float], None]
    ) -> None:
        self.every, self.seconds = every, seconds
        self.delays = {self.LEVELS[1]: pace_delays[0], self.LEVELS[0]: pace_delays[1]}
        self._sleep = sleep
        self._lock = threading.Lock()
        self._since = 0
        self._last: float | None = None  # never looked: the first request looks
        self._busy = False
        self._warned: set[float] = set()
        self.pace = 0.0

    def tick(self, client: AutotaskClient) -> None:
        if self._due():
            self._check(client)
        if self.pace:
            self._sleep(self.pace)

    def seen(self, client: AutotaskClient, used: float, limit: float) -> None:
        """A look made elsewhere just now (requests ``used`` of ``limit``), taken as this watch's own."""
        with self._lock:
            self._last = time.monotonic()
        if limit > 0:
            self._judge(client, used, limit)

    def _due(self) -> bool:
        with self._lock:
            self._since += 1
            now = time.monotonic()
            recent = self._last is not None and now - self._last < self.seconds
            if self._busy or (recent and self._since < self.every):
                return False
            self._busy, self._since, self._last = True, 0, now
            return True

    def _check(self, client: AutotaskClient) -> None:
        try:
            info = {k.lower(): v for k, v in client.threshold(retried=False).items()}
            used = float(info.get("currenttimeframerequestcount") or 0)
            limit = float(info.get("externalrequestthreshold") or 0)
        except PsaAuthError:
            raise  # wrong credentials: the request itself would be refused the same way
        except (PsaError, NotFound, PermissionDenied, ValueError, TypeError) as exc:
            log.debug("threshold check failed: %s", type(exc).__name__)
            return
        finally:
            with self._lock:
                self._busy = False
        if limit > 0:
            self._judge(client, used, limit)

    def _judge(self, client: AutotaskClient, used: float, limit: float) -> None:
        ratio = used / limit
        level = next((lv for lv in self.LEVELS if ratio >= lv), None)
        self.pace = self.delays[level] if level is not None else 0.0
        if level is None:
            self._warned.clear()
        elif level not in self._warned:
            self._warned.add(level)
            message = (
                f"PSA API usage at {ratio:.0%} of the hourly limit ({used:.0f} of {limit:.0f} requests); "
                + ("slowing down" if level == self.LEVELS[0] else "pacing requests a little")
            )
            log.warning(message)
            client.warnings.append(message)


# --- retries and error translation ----------------------------------------------------------------


def _judge(outcome: object) -> Retry | None:
    """Which failures may be repeated, and whether they prove nothing was applied (the module
    docstring's retry policy, for :meth:`calferry.http.RetryPolicy.run`)."""
    if isinstance(outcome, PsaRateLimited):
        return Retry(applied=False, wait=outcome.retry_after)  # refused before it was handled
    if isinstance(outcome, PsaValidationError):
        # Autotask answers 500 for bad data and for its own failures alike: a read is safe to ask again.
        return Retry(applied=True) if (outcome.status or 0) >= 500 else None
    if not isinstance(outcome, PsaUnavailable):
        return None
    if isinstance(outcome.__cause__, httpx.ConnectError):
        # nothing listens there (or no such host): say so soon rather than after a minute
        return Retry(applied=False, tries=REFUSED_RETRIES)
    return Retry(applied=not isinstance(outcome.__cause__, httpx.ConnectTimeout))


def _decode(response: httpx.Response, label: str) -> dict[str, Any]:
    if response.status_code == 200:
        try:
            answer = response.json()
        except ValueError as exc:
            raise PsaUnavailable(f"the PSA sent an unreadable answer to {label}", status=200) from exc
        return answer if isinstance(answer, dict) else {"items": answer}
    raise _error_for(response, label)


def _error_for(response: httpx.Response, label: str) -> PsaError | PermissionDenied | NotFound:
    """Autotask's answer as one of ``calferry.errors``; its own words are kept, secrets never echoed."""
    status = response.status_code
    messages = _messages(response)
    text = "; ".join(messages) or response.reason_phrase or f"HTTP {status}"
    if status == 401:
        return PsaAuthError(
            "the PSA refused the API secret", status=status, hint="run `calferry login` again"
        )
    refusal = next((words for key, words in _CREDENTIAL_WORDINGS.items() if key in text.lower()), None)
    if refusal is not None:
        return PsaAuthError(f"{refusal[0]} ({text})", status=status, hint=refusal[1])
    if status == 404 or _GONE_WORDING in text.lower():
        return NotFound(f"the PSA has no such item ({label}): {text}", side="psa")
    if "impersonat" in text.lower():
        return ImpersonationRefused(f"the PSA refused to let the API user act as you: {text}", side="psa")
    if status == 403 or any(words in text.lower() for words in _PERMISSION_WORDINGS):
        return PermissionDenied(f"the PSA refused {label}: {text}", side="psa")
    if status == 429 or any(words in text.lower() for words in _LIMIT_WORDINGS):
        return PsaRateLimited(
            f"the PSA limits requests: {text}", retry_after=retry_after(response.headers), status=status
        )
    if status >= 500 and (status != 500 or not messages):
        return PsaUnavailable(f"the PSA failed on {label}: {text}", status=status)
    return PsaValidationError(f"the PSA rejected {label}: {text}", messages=messages, status=status)


def _messages(response: httpx.Response) -> list[str]:
    """``errors`` items as strings or ``{message, field}``; also ``message``/``detail`` keys."""
    try:
        answer = response.json()
    except ValueError:
        return []
    if not isinstance(answer, dict):
        return []
    raw = answer.get("errors") or []
    out = [_one_message(item) for item in (raw if isinstance(raw, list) else [raw])]
    for key in ("message", "Message", "detail"):
        if isinstance(answer.get(key), str):
            out.append(answer[key])
    return [m for m in out if m]


def _one_message(item: Any) -> str:
    if isinstance(item, Mapping):
        message = str(item.get("message") or item.get("Message") or item.get("msg") or "")
        field = item.get("field") or item.get("Field")
        return f"{field}: {message}" if field else message
    return str(item)


# --- small helpers -----------------------------------------------------------------------------


def _label(url: str) -> str:
    """A URL path as a stats label: numeric segments become ``{id}``."""
    return "/".join("{id}" if part.isdigit() else part for part in url.split("/"))


def _field(data: Mapping[str, Any], name: str) -> Any:
    """A field by name, case-insensitively (Autotask field names are)."""
    lowered = name.lower()
    return next((v for k, v in data.items() if k.lower() == lowered), None)


def _wire(data: Mapping[str, Any]) -> dict[str, Any]:
    """Datetimes as UTC with ``Z``, as the API wants; the rest unchanged."""
    return {k: format_utc(v) if isinstance(v, datetime) else v for k, v in data.items()}


def _distinct(parts: Iterable[Iterator[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    seen: set[Any] = set()
    for rows in parts:
        for row in rows:
            if row.get("id") not in seen:
                seen.add(row.get("id"))
                yield row


ZONE_TTL = 12 * 3600.0
"""Seconds a looked-up zone is trusted (django-autotask's 12 hours): tenants are moved between zones."""


@dataclass(frozen=True)
class _ZoneSource:
    """Where a client's zone came from, so that it can be looked up again."""

    user: str
    url: str
    clock: Callable[[], float]


def _stranger(response: httpx.Response) -> bool:
    """An answer a zone gives a tenant it does not hold: 404, or the credentials refused (401, or a
    500 in Autotask's words for an unknown user or code)."""
    if response.status_code in (401, 404):
        return True
    text = "; ".join(_messages(response)).lower()
    return response.status_code == 500 and any(words in text for words in _CREDENTIAL_WORDINGS)


def _zone_file() -> Path:
    return paths.data_dir("psa") / "zone.json"


def cached_zone(user: str, zone_url: str, now: float) -> str | None:
    """The cached zone, if looked up less than ``ZONE_TTL`` ago."""
    try:
        cache = json.loads(_zone_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    entry = cache.get(f"{zone_url}|{user.lower()}") if isinstance(cache, dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
        return None
    at = entry.get("at")
    fresh = isinstance(at, int | float) and 0 <= now - at < ZONE_TTL
    return str(entry["url"]) if fresh else None


def _lookup_zone(user: str, zone_url: str, http: httpx.Client | None, now: float) -> str:
    """``zoneInformation?user=``: the zone's ``url`` (no version in it) plus ``V1.0/``."""
    client = http or httpx.Client(timeout=30.0)
    url = zone_url.rstrip("/") + "/zoneInformation"
    try:
        response = client.get(url, params={"user": user})
    except httpx.HTTPError as exc:
        raise PsaUnavailable(f"the Autotask zone look-up did not answer: {type(exc).__name__}") from exc
    finally:
        if http is None:
            client.close()
    if _zone_unavailable(response):
        raise PsaUnavailable(
            f"the Autotask zone look-up failed (HTTP {response.status_code})",
            status=response.status_code,
            hint="try again later",
        )
    if response.status_code != 200:
        raise PsaAuthError(
            f"Autotask knows no API user {user!r} (zone look-up answered {response.status_code})",
            status=response.status_code,
            hint="check psa.zone_user in the config",
        )
    try:
        base = _versioned(str(response.json()["url"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise PsaUnavailable("the Autotask zone look-up sent an unreadable answer") from exc
    _save_zone(user, zone_url, base, now)
    return base


def _zone_unavailable(response: httpx.Response) -> bool:
    """A 5xx is the service failing, except Autotask's answer to an unknown user: a 500 with ``errors``."""
    status = response.status_code
    return status >= 500 and (status != 500 or not _messages(response))


def _versioned(url: str) -> str:
    trimmed = url.rstrip("/")
    return trimmed + "/" if trimmed.lower().endswith("/v1.0") else trimmed + "/V1.0/"


def _save_zone(user: str, zone_url: str, base: str, now: float) -> None:
    path = _zone_file()
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    if not isinstance(cache, dict):
        cache = {}
    cache[f"{zone_url}|{user.lower()}"] = {"url": base, "at": now}
    path.write_text(json.dumps(cache, indent=2), encoding="utf-8")
