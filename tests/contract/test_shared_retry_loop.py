"""B2/B3: the Autotask client, Microsoft Graph's HTTP layer and the CalDAV adapter all repeat requests
through the one loop, :meth:`calferry.http.RetryPolicy.run`: a throttled read is asked again after the
server's ``Retry-After``; a create whose answer may have been lost after it was carried out is not.

Each client meets its real server or stand-in: ``calferry psa serve`` with its fault plan, the Graph
stand-in with its faults, and Radicale behind a niquests adapter that fakes only what Radicale cannot
answer (a 429, a gateway failure after the request was carried out).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
from niquests.adapters import HTTPAdapter
from niquests.packages.urllib3 import HTTPResponse

from calferry.errors import PersonalCalendarError, PersonalUnavailable, PsaUnavailable
from calferry.http import REFUSED_RETRIES, LocalGate, Mode, Ran, Retry, RetryPolicy
from calferry.model import PersonalItem, Window
from calferry.personal.caldav import CalDavCalendar, dav_client
from calferry.personal.graph_http import Http
from calferry.personal.radicale import DEFAULT_USER
from calferry.psa.query import gte
from calferry.psa.server.faults import FaultPlan
from tests.contract.test_autotask_client import make_client, resource_id
from tests.fixtures.graph_standin import TOKEN, GraphStandin

T = TypeVar("T")
NINE = datetime(2031, 3, 3, 9, tzinfo=UTC)
WINDOW = Window(NINE - timedelta(days=1), NINE + timedelta(days=1))


@dataclass(frozen=True)
class RecordingPolicy(RetryPolicy):
    """The shared loop, noting the mode of every call that went through it."""

    modes: list[tuple[str, Mode]] = field(default_factory=list, compare=False)

    def run(
        self, send: Callable[[], T], judge: Callable[[T | Exception], Retry | None], **options: Any
    ) -> Ran[T]:
        self.modes.append((options.get("label", ""), options["mode"]))
        return super().run(send, judge, **options)


def _policy() -> RecordingPolicy:
    return RecordingPolicy(attempts=4, base_delay=0.001, jitter=0.0)


def _ends_fault(plan: Any, waits: list[float]) -> Callable[[float], None]:
    """A sleep that records the wait and ends the server's misbehaviour: the repeat gets through."""

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        plan.rate = 0.0

    return sleep


# --- Autotask, against calferry psa serve -------------------------------------------------------


def test_autotask_repeats_a_throttled_read_once_after_its_retry_after(psa_server_factory: Any) -> None:
    plan = FaultPlan(rate=1.0, kinds=("429",), retry_after=4)
    server = psa_server_factory(faults=plan)
    policy, waits = _policy(), list[float]()
    with make_client(server, retry=policy, sleep=_ends_fault(plan, waits), threshold_every=10**6) as client:
        plan.rate = 0.0
        client.threshold()  # the first look at the budget, out of the way
        plan.rate = 1.0
        assert client.count("ActionTypes", gte("id", 0)) > 0
    assert waits == [4.0]
    assert client.stats["POST ActionTypes/query/count"] == 2
    assert ("POST ActionTypes/query/count", "read") in policy.modes


def test_autotask_does_not_repeat_a_create_whose_answer_was_lost(psa_server_factory: Any) -> None:
    plan = FaultPlan(rate=0.0, kinds=("lost-answer",))
    server = psa_server_factory(faults=plan)
    policy, waits = _policy(), list[float]()
    with make_client(server, retry=policy, sleep=waits.append) as client:
        rid = resource_id(client, "tech.ny")
        plan.rate = 1.0
        with pytest.raises(PsaUnavailable):
            client.create("Appointments", {"title": "Once", "startDateTime": NINE,
                                           "endDateTime": NINE + timedelta(hours=1), "resourceID": rid})  # fmt: skip
        plan.rate = 0.0
        assert client.count("Appointments", gte("id", 0)) > 0
    assert client.stats["POST Appointments"] == 1 and waits == []
    assert ("POST Appointments", "write") in policy.modes


# --- Microsoft Graph, against the stand-in ------------------------------------------------------


@pytest.fixture
def graph_http(graph_standin: GraphStandin) -> Iterator[tuple[Http, RecordingPolicy]]:
    policy = _policy()
    with httpx.Client(base_url=graph_standin.url + "/") as client:
        yield (
            Http(client, graph_standin.url, lambda: TOKEN, retry=policy, sleep=graph_standin.slept.append),
            policy,
        )


def _event(subject: str, **extra: Any) -> dict[str, Any]:
    start, end = (t.strftime("%Y-%m-%dT%H:%M:%S") for t in (NINE, NINE + timedelta(hours=1)))
    return {"subject": subject, "start": {"dateTime": start, "timeZone": "UTC"},
            "end": {"dateTime": end, "timeZone": "UTC"}, **extra}  # fmt: skip


def _posts(graph_standin: GraphStandin) -> int:
    return sum(1 for method, path in graph_standin.mailbox.stats.requests if method == "POST")


def test_graph_repeats_a_throttled_read_once_after_its_retry_after(
    graph_standin: GraphStandin, graph_http: tuple[Http, RecordingPolicy]
) -> None:
    http, policy = graph_http
    http.use_mailbox("tech@calferry.test")
    graph_standin.mailbox.faults.throttle_requests = 1
    graph_standin.mailbox.faults.retry_after = "3"
    answer, lost = http.send("GET", "me/calendar", params={"$select": "owner"})
    assert answer.status_code == 200 and lost is False
    assert graph_standin.slept == [3.0]
    assert ("GET me/calendar", "read") in policy.modes


def test_graph_repeats_a_post_only_when_it_carries_a_transaction_id(
    graph_standin: GraphStandin, graph_http: tuple[Http, RecordingPolicy]
) -> None:
    http, policy = graph_http
    http.use_mailbox("tech@calferry.test")
    graph_standin.mailbox.faults.time_out_after["POST"] = 1  # carried out, then answered 504
    answer, lost = http.send("POST", "me/calendar/events", json=_event("Plain"))
    assert answer.status_code == 504 and lost is False and _posts(graph_standin) == 1
    graph_standin.mailbox.faults.time_out_after["POST"] = 1
    answer, lost = http.send(
        "POST", "me/calendar/events", json=_event("Keyed", transactionId=str(uuid.uuid4()))
    )
    assert answer.status_code == 201 and lost is True and _posts(graph_standin) == 3
    subjects = sorted(e["subject"] for e in graph_standin.mailbox.events.values())
    assert subjects == ["Keyed", "Plain"]  # the repeat met its own effect: still one "Keyed"
    assert [mode for _, mode in policy.modes] == ["write", "read"]


# --- CalDAV, against Radicale behind a fault-injecting adapter ------------------------------------


class FaultyAdapter(HTTPAdapter):
    """Passes every request on to the real server, except the next ones ``faults`` names by method:
    ``429`` (answered at once, with Retry-After), ``502`` (answered at once: never reached the
    server), ``504-after`` (carried out by the server, then answered 504, the answer lost)."""

    def __init__(self) -> None:
        super().__init__()
        self.faults: dict[str, list[str]] = {}
        self.sent: list[str] = []

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self.sent.append(str(request.method))
        fault = (self.faults.get(str(request.method)) or [""]).pop(0)
        if fault in ("429", "502"):
            return _answer(self, request, int(fault), {"Retry-After": "3"} if fault == "429" else {})
        response = super().send(request, *args, **kwargs)
        if fault == "504-after":
            _ = response.content
            return _answer(self, request, 504, {})
        return response


def _answer(adapter: HTTPAdapter, request: Any, status: int, headers: dict[str, str]) -> Any:
    """An answer made here, as the adapter would build one from the wire."""
    raw = HTTPResponse(body=b"", headers=headers, status=status, reason="injected", preload_content=False)
    return adapter.build_response(request, raw)


@dataclass
class Faulty:
    calendar: CalDavCalendar
    adapter: FaultyAdapter
    policy: RecordingPolicy
    waits: list[float]
    slots: list[str]


class RecordingGate(LocalGate):
    def __init__(self, slots: list[str]) -> None:
        super().__init__(4)
        self.slots = slots

    def slot(self, *key: str, weight: int = 1) -> Any:
        self.slots.append(" ".join(key))
        return super().slot(*key, weight=weight)


@pytest.fixture
def faulty(radicale_calendar_url: str) -> Iterator[Faulty]:
    client, adapter = dav_client(radicale_calendar_url, DEFAULT_USER), FaultyAdapter()
    client.session.mount("http://", adapter)
    policy, waits, slots = _policy(), list[float](), list[str]()
    calendar = CalDavCalendar(
        radicale_calendar_url,
        DEFAULT_USER,
        client=client,
        retry=policy,
        gate=RecordingGate(slots),
        sleep=waits.append,
    )
    yield Faulty(calendar, adapter, policy, waits, slots)
    calendar.close()


def test_caldav_repeats_a_throttled_read_once_after_its_retry_after(faulty: Faulty) -> None:
    faulty.calendar.create(
        PersonalItem("read@calferry.test", NINE, NINE + timedelta(hours=1), subject="Read")
    )
    faulty.adapter.faults["REPORT"] = ["429"]
    assert [i.subject for i in faulty.calendar.snapshot(WINDOW).items] == ["Read"]
    assert faulty.waits == [3.0] and faulty.adapter.sent.count("REPORT") == 2
    assert any(label.startswith("REPORT") and mode == "read" for label, mode in faulty.policy.modes)
    server = urlsplit(faulty.calendar.url)
    assert set(faulty.slots) == {f"http://{server.netloc}"}  # every request took the server's slot


def test_caldav_does_not_repeat_a_create_whose_answer_was_lost(faulty: Faulty) -> None:
    item = PersonalItem("once@calferry.test", NINE, NINE + timedelta(hours=1), subject="Once")
    faulty.adapter.faults["PUT"] = ["504-after"]
    with pytest.raises(PersonalCalendarError):
        faulty.calendar.create(item)
    assert faulty.adapter.sent.count("PUT") == 1 and faulty.waits == []
    assert faulty.calendar.get(item.key).subject == "Once"  # it was carried out: a repeat would conflict


def test_caldav_repeats_an_update_conditioned_on_its_etag(faulty: Faulty) -> None:
    created = faulty.calendar.create(
        PersonalItem("edit@calferry.test", NINE, NINE + timedelta(hours=1), subject="A")
    )
    faulty.adapter.faults["PUT"] = ["502"]
    faulty.calendar.update(PersonalItem(created.uid, NINE, NINE + timedelta(hours=1), subject="B",
                                        version=created.version))  # fmt: skip
    assert faulty.calendar.get(created.key).subject == "B"
    assert faulty.adapter.sent.count("PUT") == 3 and len(faulty.waits) == 1


def test_caldav_asks_a_server_that_refuses_connections_only_briefly() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/calferry/calendar/"
    waits: list[float] = []
    with pytest.raises(PersonalUnavailable, match="connection refused"):
        CalDavCalendar(url, retry=RetryPolicy(), sleep=waits.append)
    assert len(waits) == REFUSED_RETRIES and sum(waits) < 2
