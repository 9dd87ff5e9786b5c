"""Autotask query JSON -> SQLAlchemy, with Autotask's limits and paging tokens.

``{"filter": [cond, ...], "IncludeFields": [...], "MaxRecords": n}``; the top-level conditions are
ANDed; a condition is ``{"op", "field", "value"}`` or a group ``{"op": "and"|"or", "items": [...]}``.
Keys (``filter``, ``op``, ``Field``, ...) and field names are case-insensitive, as .NET binds them. ORs are counted as Autotask counts them: every condition
inside an ``or`` group and every value of an ``in``/``notIn`` list counts once (limit 500).

A query is measured (without recursion) before it is translated, so no filter can exhaust the stack or
the database's expression depth: at most 500 conditions, groups nested at most 10 deep, and a text value
of a pattern operator (``beginsWith``, ``endsWith``, ``contains``) at most 4,000 characters (SQL Server's
limit for a LIKE pattern on Autotask's Unicode columns).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, not_, or_

from calferry.psa.server.entities import STR, Entity
from calferry.psa.server.problems import ApiError
from calferry.psa.server.values import coerce, storable_text

PAGE_SIZE = 500
MAX_ORS = 500
OR_LIMIT_MESSAGE = "Queries are limited to 500 or fewer 'OR' conditions."
MAX_CONDITIONS = 500
CONDITION_LIMIT_MESSAGE = "Queries are limited to 500 or fewer conditions."
MAX_DEPTH = 10
DEPTH_LIMIT_MESSAGE = "Queries are limited to 10 or fewer levels of nested 'and'/'or' groups."
MAX_PATTERN = 4000
MAX_RECORDS_MESSAGE = "maxCountOfRecordsToReturn must be between 1 and 500"
COMPARISONS = {"eq", "noteq", "gt", "gte", "lt", "lte"}
TEXT_OPS = {"beginswith", "endswith", "contains"}
LIST_OPS = {"in", "notin"}
NULL_OPS = {"exist", "notexist"}


@dataclass(frozen=True)
class Query:
    """A parsed query: the SQL condition, the fields to answer, the page size and a fingerprint."""

    where: ColumnElement[bool]
    include: tuple[str, ...] | None
    page_size: int
    fingerprint: str


def parse(entity: Entity, table: Table, body: Any) -> Query:
    """Validate and translate a query body; ``ApiError`` with Autotask's wording otherwise."""
    if not isinstance(body, dict):
        raise ApiError("The query must be a JSON object with a 'filter'.")
    keys = {str(k).lower(): v for k, v in body.items()}
    conditions = keys.get("filter")
    if isinstance(conditions, dict):
        conditions = [conditions]
    if not isinstance(conditions, list) or not conditions:
        raise ApiError("A query needs a non-empty 'filter' array.")
    _check_size(conditions)
    where = and_(*(_condition(entity, table, c) for c in conditions))
    return Query(
        where=where,
        include=_include(entity, keys.get("includefields")),
        page_size=_page_size(keys.get("maxrecords")),
        fingerprint=hashlib.sha256(json.dumps(conditions, sort_keys=True).encode()).hexdigest()[:16],
    )


def _page_size(value: Any) -> int:
    if value is None:
        return PAGE_SIZE
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= PAGE_SIZE:
        raise ApiError(MAX_RECORDS_MESSAGE)
    return value


def _include(entity: Entity, value: Any) -> tuple[str, ...] | None:
    if value is None or value == []:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError("IncludeFields must be an array of field names.")
    names = []
    for name in value:
        spec = entity.field(name)
        if spec is None:
            raise ApiError(f"IncludeFields: {entity.name} has no field '{name}'.")
        names.append(spec.name)
    return tuple(names)


def _check_size(conditions: list[Any]) -> None:
    """Depth, conditions and ORs, measured with an explicit stack (no recursion); the OR limit first."""
    leaves = ors = deepest = 0
    stack: list[tuple[list[Any], int, bool]] = [(conditions, 0, False)]
    while stack:
        items, depth, inside_or = stack.pop()
        deepest = max(deepest, depth)
        for raw in items:
            cond = _lower_keys(raw)
            op = str(cond.get("op", "")).lower() if isinstance(cond, dict) else ""
            children = cond.get("items") if isinstance(cond, dict) else None
            if op in {"and", "or"} and isinstance(children, list):
                stack.append((children, depth + 1, op == "or"))
                continue
            leaves += 1
            value = cond.get("value") if isinstance(cond, dict) else None
            if op in LIST_OPS and isinstance(value, list):
                ors += len(value)
            elif inside_or:
                ors += 1
    if deepest > MAX_DEPTH:
        raise ApiError(DEPTH_LIMIT_MESSAGE)
    if ors > MAX_ORS:
        raise ApiError(OR_LIMIT_MESSAGE)
    if leaves > MAX_CONDITIONS:
        raise ApiError(CONDITION_LIMIT_MESSAGE)


def _lower_keys(cond: Any) -> Any:
    return {str(k).lower(): v for k, v in cond.items()} if isinstance(cond, dict) else cond


def _condition(entity: Entity, table: Table, raw: Any) -> ColumnElement[bool]:
    cond = _lower_keys(raw)
    if not isinstance(cond, dict):
        raise ApiError(f"A filter condition must be an object, got {cond!r}.")
    op = str(cond.get("op", "")).lower()
    if op in {"and", "or"}:
        items = cond.get("items")
        if not isinstance(items, list) or not items:
            raise ApiError(f"A '{op}' group needs a non-empty 'items' array.")
        parts = [_condition(entity, table, item) for item in items]
        return and_(*parts) if op == "and" else or_(*parts)
    if cond.get("udf"):
        raise ApiError(f"{entity.name} has no user-defined field '{cond.get('field')}'.")
    return _leaf(entity, table, op, cond)


def _leaf(entity: Entity, table: Table, op: str, cond: dict[str, Any]) -> ColumnElement[bool]:
    name = cond.get("field")
    spec = entity.field(name) if isinstance(name, str) else None
    if spec is None:
        raise ApiError(f"{entity.name} has no field '{name}'.")
    if not spec.queryable:
        raise ApiError(f"The field '{spec.name}' of {entity.name} is not queryable.")
    column = table.c[spec.name]
    if op in NULL_OPS:
        return column.is_not(None) if op == "exist" else column.is_(None)
    value = cond.get("value")
    if op in LIST_OPS:
        if not isinstance(value, list) or not value:
            raise ApiError(f"'{op}' needs a non-empty array value for '{spec.name}'.")
        values = [coerce(entity.name, spec, v) for v in value]
        return column.in_(values) if op == "in" else not_(column.in_(values))
    if value is None:
        raise ApiError(f"'{op}' on '{spec.name}' needs a value.")
    typed = coerce(entity.name, spec, value) if spec.type != STR else _text(spec.name, value)
    if op in COMPARISONS:
        return _compare(column, op, typed, spec.type == STR)
    if op in TEXT_OPS and spec.type == STR:
        if len(typed) > MAX_PATTERN:
            raise ApiError(
                f"The value for '{cond.get('op')}' on '{spec.name}' is {len(typed)} characters long; "
                f"a pattern may have at most {MAX_PATTERN}."
            )
        return _like(column, op, typed)
    raise ApiError(f"Unknown or unsuitable operator '{cond.get('op')}' for '{spec.name}'.")


def _text(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ApiError(f"'{name}' takes a text value, got {value!r}.")
    try:
        return storable_text(str(value))
    except ValueError as exc:
        raise ApiError(f"'{name}': {exc}.") from None


def _compare(column: Any, op: str, value: Any, is_text: bool) -> ColumnElement[bool]:
    """Text compares case-insensitively, as on Autotask's SQL Server collation."""
    left, right = (func.lower(column), value.lower()) if is_text else (column, value)
    if op == "eq":
        return left == right  # type: ignore[no-any-return]
    if op == "noteq":
        return or_(left != right, column.is_(None))
    if op == "gt":
        return left > right  # type: ignore[no-any-return]
    if op == "gte":
        return left >= right  # type: ignore[no-any-return]
    if op == "lt":
        return left < right  # type: ignore[no-any-return]
    return left <= right  # type: ignore[no-any-return]


def _like(column: Any, op: str, value: str) -> ColumnElement[bool]:
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = {"beginswith": f"{escaped}%", "endswith": f"%{escaped}", "contains": f"%{escaped}%"}[op]
    return func.lower(column).like(pattern, escape="\\")


@dataclass(frozen=True)
class PageToken:
    """Where a page starts: after id ``after`` (next) or before id ``before`` (previous)."""

    entity: str
    fingerprint: str
    page_size: int
    after: int | None = None
    before: int | None = None

    def encode(self) -> str:
        data = {
            "e": self.entity,
            "f": self.fingerprint,
            "n": self.page_size,
            "a": self.after,
            "b": self.before,
        }
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, entity: Entity, query: Query) -> PageToken:
        """The token for this entity and this very filter; a token from another query is refused."""
        try:
            data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            token = cls(data["e"], data["f"], data["n"], _bound(data["a"]), _bound(data["b"]))
        except (ValueError, KeyError, TypeError, RecursionError):
            raise ApiError("The paging token is not valid.") from None
        if type(token.page_size) is not int or not 1 <= token.page_size <= PAGE_SIZE:
            raise ApiError("The paging token is not valid.")
        if token.entity != entity.name or token.fingerprint != query.fingerprint:
            raise ApiError("The paging token does not belong to this query; send the same body again.")
        return token


def _bound(value: Any) -> int | None:
    """A token's id bound: None or an id the database can hold (the token comes back from a client)."""
    if value is None:
        return None
    if type(value) is not int or not 0 <= value < 2**63:
        raise ValueError("not an id")
    return value
