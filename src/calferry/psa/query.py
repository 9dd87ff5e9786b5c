"""Typed Autotask query filters: conditions, and/or groups, and the 500-value split of ``in`` lists.

Autotask refuses a query with more than 500 OR conditions, and an ``in`` list counts one per value.
``split`` turns a filter with longer lists into several filters whose results, merged, equal the
original's: ``in`` chunks are united, ``notIn`` chunks intersected (both hold at any depth, because the
filter language has no negation above a condition).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

MAX_LIST = 500
"""Most values one ``in``/``notIn`` condition may carry."""

Operator = Literal[
    "eq", "noteq", "gt", "gte", "lt", "lte", "beginsWith", "endsWith", "contains",
    "exist", "notExist", "in", "notIn",
]  # fmt: skip
_NO_VALUE = ("exist", "notExist")
_LISTS = ("in", "notIn")


@dataclass(frozen=True)
class Condition:
    """One ``{"op", "field", "value"}`` test; ``udf`` marks a user-defined field."""

    op: Operator
    field: str
    value: Any = None
    udf: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "field": self.field}
        if self.op not in _NO_VALUE:
            out["value"] = _wire_value(self.value)
        if self.udf:
            out["udf"] = True
        return out


@dataclass(frozen=True)
class Group:
    """``{"op": "and"|"or", "items": [...]}``, nestable."""

    op: Literal["and", "or"]
    items: tuple[Filter, ...]

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "items": [item.to_json() for item in self.items]}


Filter = Condition | Group


def format_utc(value: datetime) -> str:
    """A datetime as Autotask wants it: UTC, ``YYYY-MM-DDTHH:MM:SS[.fff]Z`` (naive means UTC)."""
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond // 1000:03d}"
    return text + "Z"


_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def parse_utc(text: str) -> datetime:
    """An Autotask timestamp as an aware UTC datetime; no offset means UTC (REST speaks UTC only)."""
    cleaned = _FRACTION.sub(r"\1", text.strip().replace("Z", "+00:00").replace("z", "+00:00"), count=1)
    value = datetime.fromisoformat(cleaned)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _wire_value(value: Any) -> Any:
    """Datetimes go out as UTC with ``Z``; lists element-wise; the rest as JSON has it."""
    if isinstance(value, datetime):
        return format_utc(value)
    if isinstance(value, list | tuple):
        return [_wire_value(v) for v in value]
    return value


def eq(field: str, value: Any) -> Condition:
    return Condition("eq", field, value)


def noteq(field: str, value: Any) -> Condition:
    return Condition("noteq", field, value)


def gt(field: str, value: Any) -> Condition:
    return Condition("gt", field, value)


def gte(field: str, value: Any) -> Condition:
    return Condition("gte", field, value)


def lt(field: str, value: Any) -> Condition:
    return Condition("lt", field, value)


def lte(field: str, value: Any) -> Condition:
    return Condition("lte", field, value)


def begins_with(field: str, value: str) -> Condition:
    return Condition("beginsWith", field, value)


def ends_with(field: str, value: str) -> Condition:
    return Condition("endsWith", field, value)


def contains(field: str, value: str) -> Condition:
    return Condition("contains", field, value)


def exist(field: str) -> Condition:
    return Condition("exist", field)


def not_exist(field: str) -> Condition:
    return Condition("notExist", field)


def in_(field: str, values: Iterable[Any]) -> Condition:
    return Condition("in", field, list(dict.fromkeys(values)))


def not_in(field: str, values: Iterable[Any]) -> Condition:
    return Condition("notIn", field, list(dict.fromkeys(values)))


def and_(*items: Filter) -> Group:
    return Group("and", items)


def or_(*items: Filter) -> Group:
    return Group("or", items)


ALL = gte("id", 0)
"""Autotask needs a filter; this one matches every row."""


def overlapping(start_field: str, end_field: str, start: datetime, end: datetime) -> Group:
    """Rows whose [start, end) meets the window: ``start lt end AND end gt start``."""
    return and_(lt(start_field, end), gt(end_field, start))


def body(
    flt: Filter, include_fields: Sequence[str] | None = None, max_records: int | None = None
) -> dict[str, Any]:
    """The JSON body of ``POST {Entity}/query``; a top-level ``and`` becomes the filter array."""
    items = flt.items if isinstance(flt, Group) and flt.op == "and" else (flt,)
    out: dict[str, Any] = {"filter": [item.to_json() for item in items]}
    if include_fields:
        fields = list(dict.fromkeys(include_fields))
        out["IncludeFields"] = fields if "id" in fields else ["id", *fields]
    if max_records is not None:
        out["MaxRecords"] = max_records
    return out


@dataclass(frozen=True)
class Split:
    """How to run one filter as several: ``parts`` are united (``any``) or intersected (``all``)."""

    mode: Literal["any", "all"]
    parts: tuple[Filter | Split, ...]


def split(flt: Filter, limit: int = MAX_LIST) -> Filter | Split:
    """``flt`` itself when every list fits, else a ``Split`` tree of filters that do."""
    path = _long_list(flt, limit)
    if path is None:
        return flt
    cond = _at(flt, path)
    assert isinstance(cond, Condition)
    values = list(cond.value)
    chunks = [values[i : i + limit] for i in range(0, len(values), limit)]
    parts = tuple(split(_replace_at(flt, path, replace(cond, value=chunk)), limit) for chunk in chunks)
    return Split("any" if cond.op == "in" else "all", parts)


def _long_list(flt: Filter, limit: int) -> tuple[int, ...] | None:
    """The index path to the first ``in``/``notIn`` condition with more than ``limit`` values."""
    if isinstance(flt, Condition):
        return () if flt.op in _LISTS and len(flt.value) > limit else None
    for index, item in enumerate(flt.items):
        found = _long_list(item, limit)
        if found is not None:
            return (index, *found)
    return None


def _at(flt: Filter, path: tuple[int, ...]) -> Filter:
    for index in path:
        assert isinstance(flt, Group)
        flt = flt.items[index]
    return flt


def _replace_at(flt: Filter, path: tuple[int, ...], new: Filter) -> Filter:
    if not path:
        return new
    assert isinstance(flt, Group)
    head, rest = path[0], path[1:]
    items = list(flt.items)
    items[head] = _replace_at(items[head], rest, new)
    return Group(flt.op, tuple(items))
