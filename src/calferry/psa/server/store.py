"""Reads and writes on the generated tables: validation from the entity table, then the entity rules.

Every write runs in one transaction: validate, check permissions, write, stamp the change markers.
A refused write leaves nothing behind (R33).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from calferry.psa.server import rules
from calferry.psa.server.entities import INTERNAL, Entity, entity
from calferry.psa.server.models import TABLES
from calferry.psa.server.problems import NO_MATCHING_RECORDS, ApiError
from calferry.psa.server.query import PageToken, Query
from calferry.psa.server.values import coerce, to_wire

Row = dict[str, Any]


@dataclass(frozen=True)
class Page:
    items: list[Row]
    prev: PageToken | None
    next: PageToken | None


def wire(row: Row, include: tuple[str, ...] | None = None) -> Row:
    """A stored row as Autotask answers it: UTC times with ``Z``, only the ``include``d fields if given
    (never the internal ones), and ``userDefinedFields`` always there (Autotask keeps it in IncludeFields
    answers too)."""
    names = include if include is not None else tuple(name for name in row if name not in INTERNAL)
    return {name: to_wire(row[name]) for name in names} | {"userDefinedFields": []}


def fetch(conn: Connection, ent: Entity, item_id: int) -> Row | None:
    table = TABLES[ent.name]
    found = conn.execute(select(table).where(table.c.id == item_id)).mappings().first()
    return dict(found) if found is not None else None


def get(engine: Engine, ent: Entity, item_id: int) -> Row | None:
    with engine.connect() as conn:
        return fetch(conn, ent, item_id)


def count(engine: Engine, ent: Entity, query: Query) -> int:
    table = TABLES[ent.name]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(query.where)).scalar_one())


def page(engine: Engine, ent: Entity, query: Query, token: PageToken | None) -> Page:
    """One page in id order; the n+1th row tells whether another page follows."""
    table = TABLES[ent.name]
    size = token.page_size if token else query.page_size
    stmt = select(table).where(query.where)
    if token is not None and token.after is not None:
        stmt = stmt.where(table.c.id > token.after)
    if token is not None and token.before is not None:
        stmt = stmt.where(table.c.id < token.before).order_by(table.c.id.desc())
    else:
        stmt = stmt.order_by(table.c.id)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(stmt.limit(size + 1)).mappings()]
    more = len(rows) > size
    rows = sorted(rows[:size], key=lambda r: r["id"])
    return Page(rows, *_neighbours(ent, query, size, token, rows, more))


def _neighbours(
    ent: Entity, query: Query, size: int, token: PageToken | None, rows: list[Row], more: bool
) -> tuple[PageToken | None, PageToken | None]:
    def make(after: int | None = None, before: int | None = None) -> PageToken:
        return PageToken(ent.name, query.fingerprint, size, after=after, before=before)

    if token is not None and token.before is not None:  # came backwards: the page we left follows
        first = rows[0]["id"] if rows else token.before
        return (make(before=first) if more else None), make(
            after=rows[-1]["id"] if rows else token.before - 1
        )
    nxt = make(after=rows[-1]["id"]) if more else None
    if token is None:
        return None, nxt
    return make(before=rows[0]["id"] if rows else (token.after or 0) + 1), nxt


@dataclass(frozen=True)
class Write:
    """One write request: who, which entity, through which parent URL (if any), at what time."""

    entity: Entity
    actor: rules.Actor
    now: datetime
    parent_key: str | None = None
    parent_id: int | None = None


def create(engine: Engine, w: Write, body: Any) -> int:
    values = _values(w, body, replace=False)
    values.pop("id", None)
    row = {f.name: None for f in w.entity.fields if f.name != "id"} | values
    with engine.begin() as conn:
        _validate(conn, w, row, before=None)
        rules.stamp_create(conn, w.entity, row, w.actor, w.now)
        key = conn.execute(TABLES[w.entity.name].insert().values(**row)).inserted_primary_key
        assert key is not None
        return int(key[0])


def update(engine: Engine, w: Write, body: Any, *, replace: bool) -> int:
    """PATCH changes only what was sent; PUT (``replace``) sets omitted writable fields to null."""
    item_id = _body_id(w.entity, body)
    values = _values(w, body, replace=replace)
    with engine.begin() as conn:
        before = _existing(conn, w, item_id)
        row = before | values
        _validate(conn, w, row, before=before)
        rules.stamp_update(w.entity, row, w.now)
        table = TABLES[w.entity.name]
        conn.execute(
            table.update().where(table.c.id == item_id).values(**{k: row[k] for k in row if k != "id"})
        )
    return item_id


def delete(engine: Engine, w: Write, item_id: int) -> int:
    with engine.begin() as conn:
        before = _existing(conn, w, item_id, deleting=True)
        rules.check(conn, w.entity, before, w.actor, rules.DELETE, before=before)
        _delete_children(conn, w.entity.name, [item_id])
        table = TABLES[w.entity.name]
        conn.execute(table.delete().where(table.c.id == item_id))
    return item_id


def _delete_children(conn: Connection, parent: str, ids: list[int]) -> None:
    """Deleting a service call (or its ticket/task link) takes its children with it."""
    for child in rules.CASCADES.get(parent, ()):
        ent = entity(child)
        assert ent is not None and ent.parent is not None
        table = TABLES[child]
        key = table.c[ent.parent.key]
        child_ids = list(conn.execute(select(table.c.id).where(key.in_(ids))).scalars())
        if child_ids:
            _delete_children(conn, child, child_ids)
            conn.execute(table.delete().where(table.c.id.in_(child_ids)))


def _body_id(ent: Entity, body: Any) -> int:
    if not isinstance(body, dict):
        raise ApiError(f"The body must be a JSON object of {ent.name} fields.")
    item_id = next((v for k, v in body.items() if k.lower() == "id"), None)
    if isinstance(item_id, bool) or not isinstance(item_id, int):
        raise ApiError(f"An update of {ent.name} needs the item's integer 'id' in the body.")
    if not 0 <= item_id < 2**63:
        raise ApiError(f"{ent.name} {item_id} does not exist.", status=404)
    return item_id


def _existing(conn: Connection, w: Write, item_id: int, *, deleting: bool = False) -> Row:
    """The stored row; a missing one (or one under another parent) is refused as Autotask does:
    a DELETE gets 500 "No matching records found", an update 404."""
    row = fetch(conn, w.entity, item_id)
    if row is not None and (w.parent_key is None or row[w.parent_key] == w.parent_id):
        return row
    if deleting:
        raise ApiError(NO_MATCHING_RECORDS)
    if row is None:
        raise ApiError(f"{w.entity.name} {item_id} does not exist.", status=404)
    raise ApiError(f"{w.entity.name} {item_id} does not belong to {w.parent_key} {w.parent_id}.", status=404)


def _values(w: Write, body: Any, *, replace: bool) -> Row:
    """The writable fields sent (read-only ones ignored, unknown ones refused), typed strictly."""
    if not isinstance(body, dict):
        raise ApiError(f"The body must be a JSON object of {w.entity.name} fields.")
    values: Row = {}
    if replace:
        values = {f.name: None for f in w.entity.fields if not f.read_only}
    for key, raw in body.items():
        spec = w.entity.field(key)
        if spec is None:
            if key.lower() == "userdefinedfields":
                continue
            raise ApiError(f"{w.entity.name} has no field '{key}'.")
        if not spec.read_only:
            values[spec.name] = coerce(w.entity.name, spec, raw)
    if w.parent_key is not None:
        sent = values.get(w.parent_key)
        if sent is not None and sent != w.parent_id:
            raise ApiError(f"{w.parent_key} {sent} in the body differs from the URL's {w.parent_id}.")
        values[w.parent_key] = w.parent_id
    return values


def _validate(conn: Connection, w: Write, row: Row, *, before: Row | None) -> None:
    ent = w.entity
    missing = [f.name for f in ent.fields if f.required and not f.read_only and row.get(f.name) is None]
    if missing:
        raise ApiError(*(f"{ent.name}: the field '{name}' is required." for name in missing))
    for spec in ent.fields:
        value = row.get(spec.name)
        if (
            spec.reference
            and value is not None
            and not spec.read_only
            and _absent(conn, spec.reference, value)
        ):
            raise ApiError(f"{ent.name}.{spec.name}: {spec.reference} {value} does not exist.")
    rules.check(conn, ent, row, w.actor, rules.UPDATE if before else rules.CREATE, before=before)


def _absent(conn: Connection, target: str, item_id: int) -> bool:
    table = TABLES[target]
    return conn.execute(select(table.c.id).where(table.c.id == item_id)).first() is None
