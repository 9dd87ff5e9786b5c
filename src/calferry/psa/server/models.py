"""SQLAlchemy tables, generated from ``entities.ENTITIES`` (one table per entity, columns named as on the wire).

SQLite by default, PostgreSQL (or anything SQLAlchemy speaks) by URL. Indexes come from each entity's
``indexes`` plus one per reference field, so window and parent queries stay fast at 100,000 rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    text,
)

from calferry.psa.server.entities import BOOL, DOUBLE, DT, ENTITIES, INT, LONG, STR, Entity, Field

metadata = MetaData()

_ID_TYPE = BigInteger().with_variant(Integer, "sqlite")  # SQLite only auto-numbers INTEGER PRIMARY KEY


def _column_type(spec: Field) -> Any:
    if spec.type == STR:
        return String(spec.length) if spec.length and spec.length <= 2000 else Text()
    return {LONG: BigInteger(), INT: Integer(), DT: DateTime(), BOOL: Boolean(), DOUBLE: Float()}[spec.type]


def _table(entity: Entity) -> Table:
    columns = [
        Column("id", _ID_TYPE, primary_key=True, autoincrement=True)
        if spec.name == "id"
        else Column(spec.name, _column_type(spec), nullable=True)
        for spec in (*entity.fields, *entity.internal)
    ]
    table = Table(entity.name, metadata, *columns)
    indexed = {cols for cols in entity.indexes}
    indexed |= {(f.name,) for f in entity.fields if f.reference and not any(c[0] == f.name for c in indexed)}
    for cols in sorted(indexed):
        Index(f"ix_{entity.name}_{'_'.join(cols)}", *(table.c[c] for c in cols))
    return table


TABLES: dict[str, Table] = {e.name: _table(e) for e in ENTITIES}


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout so the thread pool can share the file."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=10, max_overflow=10)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_schema(engine: Engine) -> None:
    """Create missing tables, and add the columns a database made by an older version lacks."""
    metadata.create_all(engine)
    existing = inspect(engine)
    with engine.begin() as conn:
        for name, table in TABLES.items():
            have = {c["name"] for c in existing.get_columns(name)}
            for column in table.columns:
                if column.name not in have:
                    kind = column.type.compile(dialect=engine.dialect)
                    conn.execute(text(f'ALTER TABLE "{name}" ADD COLUMN "{column.name}" {kind}'))


def clear(engine: Engine) -> None:
    """Delete every row (children first): a fresh database for the next test, without re-creating tables."""
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


def sync_sequences(engine: Engine) -> None:
    """After inserts with explicit ids (ActionTypes 0..5), move PostgreSQL's id sequences past them."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for name in TABLES:
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
                    f'COALESCE((SELECT MAX(id) FROM "{name}"), 0) + 1, false)'
                )
            )
