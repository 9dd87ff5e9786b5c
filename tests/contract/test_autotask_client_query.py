"""The typed filter builder and the UTC wire format, without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from calferry.psa.query import (
    Condition,
    Group,
    Split,
    and_,
    begins_with,
    body,
    contains,
    ends_with,
    eq,
    exist,
    format_utc,
    gt,
    gte,
    in_,
    lt,
    lte,
    not_exist,
    not_in,
    noteq,
    or_,
    parse_utc,
    split,
)


def test_every_operator_has_its_autotask_name_and_value_shape() -> None:
    built = [
        eq("a", 1), noteq("a", 1), gt("a", 1), gte("a", 1), lt("a", 1), lte("a", 1),
        begins_with("a", "x"), ends_with("a", "x"), contains("a", "x"), exist("a"), not_exist("a"),
        in_("a", [1, 2]), not_in("a", [3]),
    ]  # fmt: skip
    ops = [c.to_json()["op"] for c in built]
    assert ops == [
        "eq", "noteq", "gt", "gte", "lt", "lte", "beginsWith", "endsWith", "contains",
        "exist", "notExist", "in", "notIn",
    ]  # fmt: skip
    assert "value" not in exist("a").to_json() and "value" not in not_exist("a").to_json()
    assert in_("a", [1, 2, 2]).to_json()["value"] == [1, 2]


def test_nesting_and_top_level_and_becomes_the_filter_array() -> None:
    flt = and_(eq("resourceID", 4), or_(eq("title", "x"), and_(gt("id", 1), lt("id", 9))))
    sent = body(flt, include_fields=["title"], max_records=10)
    assert sent["filter"][0] == {"op": "eq", "field": "resourceID", "value": 4}
    assert sent["filter"][1]["op"] == "or"
    assert sent["filter"][1]["items"][1] == {
        "op": "and",
        "items": [{"op": "gt", "field": "id", "value": 1}, {"op": "lt", "field": "id", "value": 9}],
    }
    assert sent["IncludeFields"] == ["id", "title"]  # id is required past 500 rows
    assert sent["MaxRecords"] == 10


def test_datetimes_in_filters_go_out_as_utc_with_z() -> None:
    berlin = timezone(timedelta(hours=2))
    sent = body(lt("startDateTime", datetime(2026, 6, 1, 10, 0, tzinfo=berlin)))
    assert sent["filter"][0]["value"] == "2026-06-01T08:00:00Z"


def test_in_lists_split_into_chunks_of_500_united() -> None:
    plan = split(and_(eq("resourceID", 1), in_("id", range(1100))))
    assert isinstance(plan, Split) and plan.mode == "any"
    sizes = [len(_list_of(part)) for part in plan.parts]
    assert sizes == [500, 500, 100]
    assert sorted(v for part in plan.parts for v in _list_of(part)) == list(range(1100))


def test_not_in_lists_split_into_chunks_intersected() -> None:
    plan = split(not_in("id", range(501)))
    assert isinstance(plan, Split) and plan.mode == "all" and len(plan.parts) == 2


def test_short_lists_are_left_alone() -> None:
    flt = and_(in_("id", range(500)), or_(not_in("x", [1])))
    assert split(flt) is flt


def test_two_long_lists_split_each_nested_inside_groups() -> None:
    plan = split(or_(in_("a", range(600)), and_(eq("b", 1), in_("c", range(700)))))
    assert isinstance(plan, Split)
    leaves = list(_leaves(plan))
    assert len(leaves) == 4
    for leaf in leaves:
        assert all(len(c.value) <= 500 for c in _conditions(leaf) if c.op in ("in", "notIn"))


@given(st.datetimes(timezones=st.timezones(), min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)))
def test_format_then_parse_is_the_same_instant_to_the_millisecond(value: datetime) -> None:
    text = format_utc(value)
    assert text.endswith("Z")
    back = parse_utc(text)
    assert back.tzinfo == UTC
    assert abs(back - value) < timedelta(milliseconds=1)


def test_answers_without_offset_are_utc_and_seven_digit_fractions_parse() -> None:
    assert parse_utc("2016-03-30T13:10:35.5631234") == datetime(2016, 3, 30, 13, 10, 35, 563123, tzinfo=UTC)
    assert parse_utc("2026-01-01T10:00:00+02:00") == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    assert parse_utc("2026-01-01T10:00:00Z") == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def _list_of(part: object) -> list[int]:
    conditions = [c for c in _conditions(part) if c.op == "in"]  # type: ignore[arg-type]
    return list(conditions[0].value)


def _conditions(flt: Condition | Group) -> list[Condition]:
    if isinstance(flt, Condition):
        return [flt]
    return [c for item in flt.items for c in _conditions(item)]


def _leaves(plan: object) -> list[Condition | Group]:
    if isinstance(plan, Split):
        return [leaf for part in plan.parts for leaf in _leaves(part)]
    return [plan]  # type: ignore[list-item]
