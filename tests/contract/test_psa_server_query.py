"""Query semantics of the PSA server: operators, grouping, limits, IncludeFields, paging, UTC."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from calferry.psa.server.seed import bulk_appointments

ALL = [{"op": "gte", "field": "id", "value": 0}]


def _query(client: httpx.Client, entity: str, *conditions, **extra) -> httpx.Response:
    return client.post(f"{entity}/query", json={"filter": list(conditions), **extra})


def _titles(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [item["title"] for item in answer.json()["items"]]


def _appointment(client: httpx.Client, title: str, start: str, end: str, resource: int) -> int:
    body = {"title": title, "startDateTime": start, "endDateTime": end, "resourceID": resource}
    answer = client.post("Appointments", json=body)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["itemId"])


@pytest.fixture
def tech(psa_server) -> int:
    with psa_server.client() as client:
        flt = {"op": "eq", "field": "email", "value": "tech.ny@demo.calferry.local"}
        return int(_query(client, "Resources", flt).json()["items"][0]["id"])


@pytest.fixture
def three(psa_server, tech) -> httpx.Client:
    """A client, with three known appointments titled Alpha, Beta, Gamma on 2030-01-01..03 (UTC)."""
    client = psa_server.client()
    for n, title in enumerate(("Alpha", "Beta", "Gamma")):
        _appointment(client, title, f"2030-01-0{n + 1}T09:00:00Z", f"2030-01-0{n + 1}T10:00:00Z", tech)
    yield client
    client.close()


IN_2030 = {"op": "gte", "field": "startDateTime", "value": "2030-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"op": "eq", "field": "title", "value": "beta"}, ["Beta"]),
        ({"op": "noteq", "field": "title", "value": "Beta"}, ["Alpha", "Gamma"]),
        ({"op": "gt", "field": "startDateTime", "value": "2030-01-02T09:00:00Z"}, ["Gamma"]),
        ({"op": "gte", "field": "startDateTime", "value": "2030-01-02T09:00:00Z"}, ["Beta", "Gamma"]),
        ({"op": "lt", "field": "startDateTime", "value": "2030-01-02T09:00:00Z"}, ["Alpha"]),
        ({"op": "lte", "field": "startDateTime", "value": "2030-01-02T09:00:00Z"}, ["Alpha", "Beta"]),
        ({"op": "beginsWith", "field": "title", "value": "al"}, ["Alpha"]),
        ({"op": "endsWith", "field": "title", "value": "MMA"}, ["Gamma"]),
        ({"op": "contains", "field": "title", "value": "et"}, ["Beta"]),
        ({"op": "exist", "field": "description"}, []),
        ({"op": "notExist", "field": "description"}, ["Alpha", "Beta", "Gamma"]),
        ({"op": "in", "field": "title", "value": ["Alpha", "Gamma"]}, ["Alpha", "Gamma"]),
        ({"op": "notIn", "field": "title", "value": ["Alpha", "Gamma"]}, ["Beta"]),
    ],
)
def test_every_filter_operator(three, condition, expected):
    assert _titles(_query(three, "Appointments", IN_2030, condition)) == expected


def test_and_or_groups_nest(three):
    group = {
        "op": "or",
        "items": [
            {"op": "eq", "field": "title", "value": "Alpha"},
            {"op": "and", "items": [{"op": "contains", "field": "title", "value": "a"},
                                    {"op": "gt", "field": "startDateTime", "value": "2030-01-02T12:00:00Z"}]},
        ],
    }  # fmt: skip
    assert _titles(_query(three, "Appointments", IN_2030, group)) == ["Alpha", "Gamma"]


def test_field_names_and_keys_are_case_insensitive(three):
    answer = three.post(
        "Appointments/query",
        json={"Filter": [{"op": "EQ", "field": "TITLE", "value": "Gamma"}], "includefields": ["Title"]},
    )
    assert answer.json()["items"] == [{"title": "Gamma", "userDefinedFields": []}]


def test_offsets_are_converted_and_no_offset_means_utc(three, tech):
    item_id = _appointment(three, "Zoned", "2030-02-01T10:00:00+01:00", "2030-02-01T11:00:00", tech)
    item = three.get(f"Appointments/{item_id}").json()["item"]
    assert item["startDateTime"] == "2030-02-01T09:00:00Z"
    assert item["endDateTime"] == "2030-02-01T11:00:00Z"
    found = _query(
        three, "Appointments", {"op": "eq", "field": "startDateTime", "value": "2030-02-01T04:00:00-05:00"}
    )
    assert _titles(found) == ["Zoned"]


@pytest.mark.parametrize("value", [1, "true", None, 0])
def test_booleans_are_strict(psa_server, value):
    with psa_server.client() as client:
        answer = _query(client, "ActionTypes", {"op": "eq", "field": "isActive", "value": value})
    assert answer.status_code == 500
    assert answer.json()["errors"]


def test_boolean_filter_with_true(psa_server):
    with psa_server.client() as client:
        answer = _query(client, "ActionTypes", {"op": "eq", "field": "isSystemActionType", "value": False})
    assert [i["name"] for i in answer.json()["items"]] == ["Email"]


@pytest.mark.parametrize(
    ("entity", "field"),
    [
        ("Tickets", "creatorType"),
        ("Tickets", "lastActivityPersonType"),
        ("Tasks", "remainingHours"),
        ("Resources", "defaultServiceDeskRoleID"),
    ],
)
def test_non_queryable_fields_are_refused(psa_server, entity, field):
    with psa_server.client() as client:
        answer = _query(client, entity, {"op": "eq", "field": field, "value": 1})
    assert answer.status_code == 500
    assert "not queryable" in answer.json()["errors"][0]


def test_unknown_field_and_missing_filter_are_errors(psa_server):
    with psa_server.client() as client:
        unknown = _query(client, "Appointments", {"op": "eq", "field": "colour", "value": 1})
        empty = client.post("Appointments/query", json={"filter": []})
    assert unknown.status_code == empty.status_code == 500
    assert "colour" in unknown.json()["errors"][0]


@pytest.mark.parametrize("max_records", [0, 501, -1, True])
def test_max_records_outside_1_to_500_is_refused(psa_server, max_records):
    with psa_server.client() as client:
        answer = _query(client, "Appointments", *ALL, MaxRecords=max_records)
    assert answer.status_code == 500
    assert answer.json()["errors"] == ["maxCountOfRecordsToReturn must be between 1 and 500"]


def test_max_records_sets_the_page_size(psa_server):
    with psa_server.client() as client:
        answer = _query(client, "Appointments", *ALL, MaxRecords=3).json()
    assert answer["pageDetails"]["count"] == 3 and answer["pageDetails"]["requestCount"] == 3
    assert answer["pageDetails"]["nextPageUrl"]


def _ors(n: int) -> dict:
    return {"op": "or", "items": [{"op": "eq", "field": "id", "value": k} for k in range(n)]}


@pytest.mark.parametrize(
    ("condition", "ok"),
    [
        (_ors(500), True),
        (_ors(501), False),
        ({"op": "in", "field": "id", "value": list(range(500))}, True),
        ({"op": "in", "field": "id", "value": list(range(501))}, False),
        (
            {
                "op": "or",
                "items": [*_ors(300)["items"], {"op": "in", "field": "id", "value": list(range(201))}],
            },
            False,
        ),
    ],
)
def test_the_500_or_limit_counts_in_values(psa_server, condition, ok):
    with psa_server.client() as client:
        answer = _query(client, "Appointments", condition)
    if ok:
        assert answer.status_code == 200
    else:
        assert answer.status_code == 500
        assert answer.json()["errors"] == ["Queries are limited to 500 or fewer 'OR' conditions."]


def test_include_fields_answers_only_those(three):
    answer = _query(three, "Appointments", IN_2030, IncludeFields=["id", "updateDateTime"]).json()
    assert all(set(item) == {"id", "updateDateTime", "userDefinedFields"} for item in answer["items"])


@pytest.fixture
def many(psa_server, tech) -> httpx.Client:
    """1,205 extra appointments for the technician in 2031 (bulk-inserted), and a client."""
    bulk_appointments(psa_server.state.engine, 1205, tech, datetime(2031, 1, 1, tzinfo=UTC))
    client = psa_server.client()
    yield client
    client.close()


IN_2031 = {"filter": [{"op": "gte", "field": "startDateTime", "value": "2031-01-01T00:00:00Z"}]}


def test_paging_follows_next_page_url_with_post_and_same_body(many):
    first = many.post("Appointments/query", json=IN_2031).json()
    assert first["pageDetails"]["count"] == 500 and first["pageDetails"]["requestCount"] == 500
    assert first["pageDetails"]["prevPageUrl"] is None
    pages, ids, answer = 1, [i["id"] for i in first["items"]], first
    while answer["pageDetails"]["nextPageUrl"]:
        next_url = answer["pageDetails"]["nextPageUrl"]
        assert next_url.startswith("http://") and "/Appointments/query/next?paging=" in next_url
        answer = many.post(next_url, json=IN_2031).json()
        ids += [i["id"] for i in answer["items"]]
        pages += 1
    assert pages == 3 and len(ids) == 1205
    assert ids == sorted(ids) and len(set(ids)) == 1205
    assert many.post("Appointments/query/count", json=IN_2031).json() == {"queryCount": 1205}


def test_prev_page_url_leads_back(many):
    first = many.post("Appointments/query", json=IN_2031).json()
    second = many.post(first["pageDetails"]["nextPageUrl"], json=IN_2031).json()
    back = many.post(second["pageDetails"]["prevPageUrl"], json=IN_2031).json()
    assert [i["id"] for i in back["items"]] == [i["id"] for i in first["items"]]
    assert back["pageDetails"]["prevPageUrl"] is None
    assert back["pageDetails"]["nextPageUrl"]


def test_a_get_search_query_pages_by_get(many):
    """Autotask's page URLs of a GET ``?search=`` query carry the search and are followed with GET."""
    answer = many.get("Appointments/query", params={"search": json.dumps(IN_2031)}).json()
    ids, urls = [i["id"] for i in answer["items"]], []
    while answer["pageDetails"]["nextPageUrl"]:
        urls.append(answer["pageDetails"]["nextPageUrl"])
        answer = many.get(urls[-1]).json()
        ids += [i["id"] for i in answer["items"]]
    back = many.get(answer["pageDetails"]["prevPageUrl"]).json()
    assert len(ids) == 1205 and ids == sorted(set(ids))
    assert all("search=" in url and "paging=" in url for url in urls)
    assert [i["id"] for i in back["items"]] == ids[500:1000]


def test_next_page_url_with_get_is_405(many):
    first = many.post("Appointments/query", json=IN_2031).json()
    answer = many.get(first["pageDetails"]["nextPageUrl"])
    assert answer.status_code == 405
    assert answer.json()["errors"]


def test_next_page_with_another_body_is_refused(many):
    first = many.post("Appointments/query", json=IN_2031).json()
    other = {"filter": [{"op": "gte", "field": "id", "value": 0}]}
    answer = many.post(first["pageDetails"]["nextPageUrl"], json=other)
    assert answer.status_code == 500
    assert "paging token" in answer.json()["errors"][0]


def test_include_fields_without_id_is_refused_past_500(many):
    answer = many.post("Appointments/query", json=IN_2031 | {"IncludeFields": ["title"]})
    assert answer.status_code == 500
    assert "id" in answer.json()["errors"][0]
    small = many.post("Appointments/query", json=IN_2031 | {"IncludeFields": ["title"], "MaxRecords": 500})
    assert small.status_code == 500  # still more than one page
    with_id = many.post("Appointments/query", json=IN_2031 | {"IncludeFields": ["id", "title"]})
    assert with_id.status_code == 200


def test_answers_use_utc_with_z(psa_server):
    with psa_server.client() as client:
        items = _query(client, "Appointments", *ALL).json()["items"]
    for item in items:
        for key in ("startDateTime", "endDateTime", "createDateTime", "updateDateTime"):
            assert item[key].endswith("Z")
            assert datetime.fromisoformat(item[key]).tzinfo == UTC
