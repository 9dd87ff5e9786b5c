"""Hostile requests to the PSA server (issue 12 item 6): each answers a documented shape, costs only itself,
and never reaches the database with a value it cannot hold."""

from __future__ import annotations

import logging

import httpx
import pytest

from calferry.psa.server import store
from calferry.psa.server.gate import INTERNAL_ERROR

ALL = {"filter": [{"op": "gte", "field": "id", "value": 0}]}
APPOINTMENT = {
    "title": "Visit",
    "startDateTime": "2030-03-01T09:00:00Z",
    "endDateTime": "2030-03-01T10:00:00Z",
    "resourceID": 3,
}


def _errors(answer: httpx.Response, status: int) -> list[str]:
    assert answer.status_code == status, answer.text
    errors = answer.json()["errors"]
    assert errors and INTERNAL_ERROR not in errors
    return errors


def _count(client: httpx.Client, entity: str) -> int:
    return int(client.post(f"{entity}/query/count", json=ALL).json()["queryCount"])


@pytest.mark.parametrize("item_id", [str(2**63), "9" * 4301, "-1", "12abc"])
def test_ids_no_database_can_hold_answer_404(psa_server, item_id):
    with psa_server.client() as client:
        _errors(client.get(f"Appointments/{item_id}"), 404)
        _errors(client.delete(f"Appointments/{item_id}"), 404)
        _errors(client.post(f"Companies/{item_id}/ToDos", json={}), 404)
        _errors(client.patch("Appointments", json={"id": 2**63, "title": "x"}), 404)


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", 2**63), ("id", -(2**63) - 1), ("id", "9" * 4301), ("actionType", 2**31), ("companyID", 1.5)],
)
def test_out_of_range_filter_values_are_refused_naming_the_field(psa_server, field, value):
    body = {"filter": [{"op": "eq", "field": field, "value": value}]}
    with psa_server.client() as client:
        errors = _errors(client.post("CompanyToDos/query", json=body), 500)
        in_list = {"filter": [{"op": "in", "field": field, "value": [1, value]}]}
        _errors(client.post("CompanyToDos/query", json=in_list), 500)
    assert f"CompanyToDos.{field}" in errors[0]


@pytest.mark.parametrize(
    "change",
    [
        {"resourceID": 2**64},
        {"title": "nul \x00 inside"},
        {"startDateTime": "0001-01-01T00:00:00+05:00"},
        {"endDateTime": "9999-12-31T23:00:00-05:00"},
    ],
)
def test_unstorable_write_values_are_refused_and_nothing_is_written(psa_server, change):
    with psa_server.client() as client:
        before = _count(client, "Appointments")
        errors = _errors(client.post("Appointments", json=APPOINTMENT | change), 500)
        assert _count(client, "Appointments") == before
    assert f"Appointments.{next(iter(change))}" in errors[0]


@pytest.mark.parametrize(
    "raw",
    [
        '{"title": "lone \\ud800 surrogate", "resourceID": 3}',
        '{"filter": [{"op": "eq", "field": "title", "value": "\\udfff"}]}',
        '{"filter": [{"op": "gt", "field": "id", "value": NaN}]}',
        '{"filter": [{"op": "gt", "field": "duration", "value": 1e999}]}',
        '{"filter": [{"op": "gt", "field": "id", "value": ' + "9" * 5000 + "}]}",
    ],
)
def test_json_no_database_can_store_is_refused(psa_server, raw):
    url = "Appointments" if raw.startswith('{"title"') else "ServiceCalls/query"
    with psa_server.client() as client:
        answer = client.post(url, content=raw.encode(), headers={"Content-Type": "application/json"})
    assert answer.status_code in (400, 500)
    assert answer.json()["errors"] and INTERNAL_ERROR not in answer.json()["errors"]


def test_non_ascii_credentials_are_refused_as_autotask_refuses_wrong_ones(psa_server):
    """Bytes outside ASCII are simply wrong credentials: a wrong secret 401, a wrong user or code 500."""
    for header, status in (("Secret", 401), ("UserName", 500), ("ApiIntegrationCode", 500)):
        headers = psa_server.headers | {header: "dém-ø".encode()}
        answer = httpx.get(f"{psa_server.base_url}ThresholdInformation", headers=headers)
        assert "Traceback" not in _errors(answer, status)[0]


def test_a_body_over_10_mb_is_413_declared_or_streamed(psa_server):
    big = b" " * (10 * 1024 * 1024 + 1)
    with psa_server.client() as client:
        declared = client.post("Appointments/query", content=big)
        streamed = client.post("Appointments/query", content=iter([big[:4096], big[4096:]]))
        still_fine = client.post("Appointments/query", json=ALL)
    assert "10 MB" in _errors(declared, 413)[0]
    _errors(streamed, 413)
    assert still_fine.status_code == 200


def test_contains_value_over_4000_characters_is_refused(psa_server):
    ok = {"filter": [{"op": "contains", "field": "title", "value": "%" * 4000}]}
    long = {"filter": [{"op": "contains", "field": "title", "value": "a" * 50_001}]}
    with psa_server.client() as client:
        assert client.post("Appointments/query", json=ok).status_code == 200
        errors = _errors(client.post("Appointments/query", json=long), 500)
    assert "at most 4000" in errors[0]
    assert len(errors[0]) < 600  # the error does not echo the 50 kB back


def test_filter_size_and_depth_limits_answer_autotask_style(psa_server):
    leaf = {"op": "gte", "field": "id", "value": 0}
    many = {"filter": [{"op": "and", "items": [leaf] * 10_000}]}
    deep, too_deep = leaf, leaf
    for level in range(10):
        deep, too_deep = {"op": "and", "items": [deep]}, {"op": "and", "items": [too_deep]}
        if level == 9:
            too_deep = {"op": "or", "items": [too_deep]}
    with psa_server.client() as client:
        assert _errors(client.post("Appointments/query", json=many), 500) == [
            "Queries are limited to 500 or fewer conditions."
        ]
        assert client.post("Appointments/query", json={"filter": [deep]}).status_code == 200
        assert "nested" in _errors(client.post("Appointments/query", json={"filter": [too_deep]}), 500)[0]
        search = httpx.QueryParams({"search": "[" * 20_000})
        _errors(client.get(f"Appointments/query?{search}"), 500)


@pytest.mark.parametrize(
    "token",
    [
        "eyJlIjoiQXBwb2ludG1lbnRzIiwiZiI6IngiLCJuIjoxZTk5OTl9",  # {"e":..,"n":1e9999}
        "W10",  # []
        "%%%",
    ],
)
def test_tampered_paging_tokens_are_refused(psa_server, token):
    with psa_server.client() as client:
        _errors(client.post(f"Appointments/query/next?paging={token}", json=ALL), 500)


@pytest.mark.parametrize("value", ["9" * 30, "²", "-3", ""])
def test_junk_impersonation_header_is_refused_or_ignored(psa_server, value):
    with psa_server.client() as client:
        before = _count(client, "Appointments")
        answer = client.post(
            "Appointments", json=APPOINTMENT, headers={"ImpersonationResourceId": value.encode("latin-1")}
        )
        after = _count(client, "Appointments")
    if value.strip():
        _errors(answer, 500)
        assert after == before
    else:
        assert answer.status_code == 200


def test_zone_lookup_of_a_hostile_user_name_is_autotasks_500(psa_server):
    for user in ("a%00b", "%FF%FE", "x" * 60_000):
        answer = httpx.get(f"{psa_server.base_url}zoneInformation?user={user}")
        _errors(answer, 500)


def test_an_unexpected_error_answers_500_with_one_log_line(psa_server, monkeypatch, caplog):
    def broken(*_args, **_kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "count", broken)
    with caplog.at_level(logging.ERROR, logger="calferry.psa.server"):
        answer = httpx.post(
            f"{psa_server.base_url}Appointments/query/count", json=ALL, headers=psa_server.headers
        )
    assert answer.status_code == 500
    assert answer.json() == {"errors": [INTERNAL_ERROR]}
    [record] = [r for r in caplog.records if r.name == "calferry.psa.server"]
    assert "RuntimeError: disk on fire" in record.getMessage()
    assert record.exc_info is None
