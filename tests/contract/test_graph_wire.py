"""The record of the real Graph wire (tests/wire/graph/) against the adapter's parser and the Graph stand-in.

Every recorded answer is read by the adapter as calferry expects, and the stand-in, asked for the same
kind of answer, gives the same shape: the same fields present or missing where calferry reads them,
the same status and error code. When one of the three changes, a test here says which.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from calferry.model import format_recurrence_id
from calferry.personal import graph
from tests.fixtures.graph_standin import TOKEN, GraphStandin

WIRE = Path(__file__).parent.parent / "wire" / "graph"
RECORDS = sorted(p.name for p in WIRE.glob("*.json"))
NINE = datetime(2026, 11, 2, 9, tzinfo=UTC)
WINDOW = {"startDateTime": "2026-11-01T00:00:00Z", "endDateTime": "2026-12-01T00:00:00Z"}
Answer = tuple[int, dict[str, Any]]


def _record(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((WIRE / name).read_text())
    return data


def _get(standin: GraphStandin, url: str, params: dict[str, str] | None = None, **headers: str) -> Answer:
    answer = httpx.get(url, params=params, headers={"Authorization": f"Bearer {TOKEN}", **headers})
    return answer.status_code, answer.json()


def _send(standin: GraphStandin, method: str, path: str, body: Any, **headers: str) -> Answer:
    answer = httpx.request(
        method, f"{standin.url}/{path}", json=body, headers={"Authorization": f"Bearer {TOKEN}", **headers}
    )
    return answer.status_code, answer.json() if answer.content else {}


def _delta_link(standin: GraphStandin) -> str:
    status, page = _get(standin, f"{standin.url}/me/calendarView/delta", WINDOW)
    assert status == 200
    return str(page["@odata.deltaLink"])


def _series(standin: GraphStandin) -> dict[str, Any]:
    return standin.seed_series("Stand-up", NINE, NINE + timedelta(minutes=15), 3)


# --- how the stand-in is asked for each kind of answer ----------------------------------------------


def _default_projection(standin: GraphStandin) -> Answer:
    _series(standin)
    return _get(standin, f"{standin.url}/me/calendarView", WINDOW)


def _selected(standin: GraphStandin) -> Answer:
    master = _series(standin)
    occurrence = standin.mailbox.occurrence_id(master["id"], NINE + timedelta(days=7))
    standin.mailbox.patch(
        occurrence,
        {"subject": "moved", "start": {"dateTime": "2026-11-10T09:00:00", "timeZone": "UTC"}},
        None,
    )
    select = "id,type,seriesMasterId,originalStart,start,end,subject"
    return _get(standin, f"{standin.url}/me/events/{master['id']}/instances", {**WINDOW, "$select": select})


def _delta_series(standin: GraphStandin) -> Answer:
    master = _series(standin)
    link = _delta_link(standin)
    standin.mailbox.patch(master["id"], {"subject": "Daily stand-up"}, None)
    return _get(standin, link)


def _delta_removed(standin: GraphStandin) -> Answer:
    _, made = _send(standin, "POST", "me/calendar/events", _single_body())
    link = _delta_link(standin)
    later = {"dateTime": "2027-03-01T09:00:00", "timeZone": "UTC"}
    _send(standin, "PATCH", f"me/events/{made['id']}", {"start": later, "end": later})
    return _get(standin, link)


def _single_body() -> dict[str, Any]:
    return {
        "subject": "Dentist",
        "start": {"dateTime": "2026-11-03T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-03T10:00:00", "timeZone": "UTC"},
    }


def _expired(status: int, code: str) -> Callable[[GraphStandin], Answer]:
    def ask(standin: GraphStandin) -> Answer:
        link = _delta_link(standin)
        standin.mailbox.expire_delta_tokens(status, code)
        return _get(standin, link)

    return ask


def _crossing(standin: GraphStandin) -> Answer:
    master = _series(standin)
    second = standin.mailbox.occurrence_id(master["id"], NINE + timedelta(days=7))
    past = {"dateTime": "2026-11-17T09:00:00", "timeZone": "UTC"}
    return _send(standin, "PATCH", f"me/events/{second}", {"start": past, "end": past})


def _stale(standin: GraphStandin) -> Answer:
    _, made = _send(standin, "POST", "me/calendar/events", _single_body())
    _send(standin, "PATCH", f"me/events/{made['id']}", {"subject": "changed in Outlook"})
    return _send(
        standin, "PATCH", f"me/events/{made['id']}", {"subject": "x"}, **{"If-Match": made["@odata.etag"]}
    )


def _throttled_member(standin: GraphStandin) -> Answer:
    standin.mailbox.faults.throttle_batch_members = 1
    request = {"id": "0", "method": "GET", "url": "/me/calendar"}
    return _send(standin, "POST", "$batch", {"requests": [request]})


ASK: dict[str, Callable[[GraphStandin], Answer]] = {
    "calendarview_occurrence_default_projection.json": _default_projection,
    "instances_selected_original_start.json": _selected,
    "delta_series_master_and_sparse_occurrence.json": _delta_series,
    "delta_removed_outside_window.json": _delta_removed,
    "error_sync_state_not_found.json": _expired(410, "SyncStateNotFound"),
    "error_invalid_delta_token.json": _expired(400, "InvalidDeltaToken"),
    "error_occurrence_crossing_boundary.json": _crossing,
    "error_irresolvable_conflict.json": _stale,
    "batch_member_throttled.json": _throttled_member,
}


# --- the tests --------------------------------------------------------------------------------------


def test_every_record_says_its_source_and_has_a_way_to_ask_the_stand_in() -> None:
    assert RECORDS and set(RECORDS) == set(ASK)
    for name in RECORDS:
        record = _record(name)
        assert record["source"].strip() and record["shows"].strip()


@pytest.mark.parametrize("name", RECORDS)
def test_the_adapter_reads_each_record(name: str) -> None:
    record = _record(name)
    if "calferry_error" in record:
        body = record["body"]
        status, body = (
            (body["responses"][0]["status"], body["responses"][0]["body"])
            if "responses" in body
            else (record["status"], body)
        )
        assert type(graph.translate(status, body)).__name__ == record["calferry_error"]
        return
    entries = [e for e in record["body"]["value"] if "@removed" not in e]
    calendar = graph.GraphCalendar(token_provider=lambda: "unused", base_url="http://127.0.0.1:9/v1.0")
    events, _ = calendar._classify(record["body"]["value"])
    assert (
        not {e["id"] for e in entries if e.get("type") in ("seriesMaster", "occurrence", "exception")}
        & events
    )
    for entry in entries:
        if entry.get("type") == "seriesMaster" or set(entry) <= {
            "@odata.type",
            "id",
            "type",
            "seriesMasterId",
            "start",
            "end",
        }:
            continue  # a series is re-listed, a sparse occurrence re-read: neither is parsed as it comes
        item = graph.parse_event(entry)
        if "recurrence_id" in record.get("expect", {}):
            assert item.recurrence_id is not None
            assert format_recurrence_id(item.recurrence_id) == record["expect"]["recurrence_id"]
    calendar.close()


@pytest.mark.parametrize("name", RECORDS)
def test_the_stand_in_answers_in_the_recorded_shape(graph_standin: GraphStandin, name: str) -> None:
    record = _record(name)
    status, body = ASK[name](graph_standin)
    assert status == record["status"]
    if "calferry_error" in record and "responses" not in body:
        assert body["error"]["code"] == record["body"]["error"]["code"]
        return
    wire, ours = _first(record["body"], record["entry_type"]), _first(body, record["entry_type"])
    for key in record["compare"]:
        assert (key in wire) == (key in ours), f"{key}: recorded {key in wire}, stand-in {key in ours}"
    if record["entry_type"] == "occurrence" and "seriesMaster" in {
        e.get("type") for e in record["body"]["value"]
    }:
        assert "seriesMaster" in {e.get("type") for e in body["value"]}


def _first(body: dict[str, Any], entry_type: str) -> dict[str, Any]:
    if entry_type == "batch_member":
        return dict(body["responses"][0])
    if entry_type == "removed":
        return next(e for e in body["value"] if "@removed" in e)
    return next(e for e in body["value"] if e.get("type") == entry_type)
