"""The org store's schema: forward-only numbered migrations in PostgreSQL.

``schema_version`` holds one row, the number of steps applied; step N brings it from N to N + 1.
Append steps, never edit one: a database in the field has run the old text. Every worker may call
:func:`migrate` at start; a transaction-scoped advisory lock makes the second one wait and then find
nothing to do. The job queue's own tables (procrastinate's schema) are one of the steps, so one
``migrate`` readies the whole database.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, text

__all__ = ["MIGRATIONS", "current_version", "migrate"]

_MIGRATE_LOCK = 0x6361_6C66  # "calf": the advisory lock key serialising migrations

_STORE = """
CREATE TABLE technicians (
    id BIGSERIAL PRIMARY KEY,
    resource_id BIGINT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    backend TEXT NOT NULL CHECK (backend IN ('caldav', 'graph')),
    calendar TEXT NOT NULL,
    username TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_reason TEXT NOT NULL DEFAULT '',
    last_run TIMESTAMPTZ,
    next_run TIMESTAMPTZ,
    last_error TEXT NOT NULL DEFAULT '',
    created TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX technicians_email ON technicians (lower(email));

CREATE TABLE links (
    technician_id BIGINT NOT NULL REFERENCES technicians (id),
    personal_uid TEXT NOT NULL,
    recurrence_id TEXT NOT NULL DEFAULT '',
    psa_kind TEXT NOT NULL,
    psa_id BIGINT NOT NULL,
    origin TEXT NOT NULL,
    series_uid TEXT,
    company_id BIGINT,
    contact_id BIGINT,
    action_type_id BIGINT,
    personal_version TEXT,
    personal_hash TEXT,
    psa_version TEXT,
    psa_hash TEXT,
    PRIMARY KEY (technician_id, personal_uid, recurrence_id),
    UNIQUE (technician_id, psa_kind, psa_id)
);
CREATE TABLE journal (
    intent_id BIGSERIAL PRIMARY KEY,
    technician_id BIGINT NOT NULL REFERENCES technicians (id),
    run_id TEXT NOT NULL,
    action TEXT NOT NULL,
    ref TEXT NOT NULL,
    psa_kind TEXT,
    fingerprint JSONB NOT NULL,
    payload JSONB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    psa_id BIGINT,
    created TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX journal_pending ON journal (technician_id) WHERE state = 'pending';
CREATE TABLE audit (
    id BIGSERIAL PRIMARY KEY,
    technician_id BIGINT NOT NULL REFERENCES technicians (id),
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    run_id TEXT NOT NULL,
    action TEXT NOT NULL,
    ref TEXT NOT NULL,
    psa_kind TEXT,
    psa_id BIGINT,
    outcome TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_technician ON audit (technician_id, at DESC);
CREATE TABLE technician_state (
    technician_id BIGINT NOT NULL REFERENCES technicians (id),
    key TEXT NOT NULL,
    value JSONB NOT NULL,
    PRIMARY KEY (technician_id, key)
);

CREATE TABLE psa_cache (
    kind TEXT NOT NULL,
    psa_id BIGINT NOT NULL,
    resource_id BIGINT NOT NULL,
    updated TIMESTAMPTZ,
    start_at TIMESTAMPTZ NOT NULL,
    end_at TIMESTAMPTZ NOT NULL,
    hash TEXT NOT NULL,
    row JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (kind, psa_id, resource_id)
);
CREATE INDEX psa_cache_window ON psa_cache (kind, end_at, start_at);
CREATE INDEX psa_cache_resource ON psa_cache (resource_id);
CREATE TABLE poll_watermarks (
    kind TEXT PRIMARY KEY,
    updated TIMESTAMPTZ,
    window_end TIMESTAMPTZ,
    polled_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE budget (
    name TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    refilled_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    threshold INTEGER NOT NULL,
    reported_used INTEGER,
    reported_at TIMESTAMPTZ
);
CREATE TABLE budget_hours (
    name TEXT NOT NULL,
    hour TIMESTAMPTZ NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, hour)
);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value JSONB NOT NULL
);
"""


def _script(conn: Connection, sql: str) -> None:
    """Run a multi-statement script as it is (no parameters, so a literal ``%`` stays a ``%``)."""
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute(sql)


def _store(conn: Connection) -> None:
    _script(conn, _STORE)


def _job_queue(conn: Connection) -> None:
    """procrastinate's tables and functions, as the installed version ships them."""
    from procrastinate.schema import SchemaManager

    _script(conn, SchemaManager.get_schema())


_REFERENCES = """
CREATE TABLE psa_refs (
    entity TEXT NOT NULL,
    psa_id BIGINT NOT NULL,
    row JSONB,
    fetched_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (entity, psa_id)
);
CREATE INDEX psa_refs_age ON psa_refs (entity, fetched_at);
DELETE FROM psa_cache WHERE kind IN ('todo', 'service-call');
DELETE FROM poll_watermarks WHERE kind IN ('todo', 'service-call');
"""


def _psa_references(conn: Connection) -> None:
    """The records a technician's run needs beside its items (``calferry.org.refs``). To-dos and service
    calls cached before it are read again whole by the next poll, so that their references and a
    service call's tickets and tasks are read with them."""
    _script(conn, _REFERENCES)


def _link_records(conn: Connection) -> None:
    """What a technician's link store keeps beyond the first tables (``calferry.org.pg_links``): the audit
    entry's subject and rule; the journal's fingerprint and payload and the run state as the JSON text
    the engine wrote (JSONB refuses a ``\\u0000`` a calendar may hold and reorders keys); the log's
    newest-first page by technician."""
    _script(
        conn,
        """
        ALTER TABLE audit ADD COLUMN subject TEXT NOT NULL DEFAULT '',
            ADD COLUMN rule TEXT NOT NULL DEFAULT '';
        ALTER TABLE journal ALTER COLUMN fingerprint TYPE TEXT USING fingerprint::text,
            ALTER COLUMN payload TYPE TEXT USING payload::text;
        ALTER TABLE technician_state ALTER COLUMN value TYPE TEXT USING value::text;
        CREATE INDEX audit_newest ON audit (technician_id, id DESC);
        """,
    )


def _send_errors(conn: Connection) -> None:
    """The category send's errors on the technician's row: items not sent, and why."""
    conn.exec_driver_sql("ALTER TABLE technicians ADD COLUMN send_errors JSONB NOT NULL DEFAULT '[]'")


_ADMINS = """
CREATE TABLE admins (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    changed TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE admin_sessions (
    id_hash TEXT PRIMARY KEY,
    admin TEXT NOT NULL REFERENCES admins (name) ON DELETE CASCADE,
    created TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires TIMESTAMPTZ NOT NULL
);
CREATE TABLE admin_signin_failures (
    address TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX admin_signin_failures_by_address ON admin_signin_failures (address, at);
"""


def _admins(conn: Connection) -> None:
    """The admin page: the admin's argon2 hash, sessions (by the hash of their id), bad sign-ins."""
    _script(conn, _ADMINS)


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (
    _store,
    _job_queue,
    _psa_references,
    _link_records,
    _send_errors,
    _admins,
)
"""Forward-only steps; append, never edit."""


def current_version(engine: Engine) -> int:
    """Steps applied so far; 0 for an empty database."""
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT to_regclass('schema_version') IS NOT NULL")).scalar_one()
        if not exists:
            return 0
        return int(conn.execute(text("SELECT version FROM schema_version")).scalar_one())


def migrate(engine: Engine) -> int:
    """Apply the missing steps, each in the one transaction of the whole call; the new version."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATE_LOCK})
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        version = conn.execute(text("SELECT version FROM schema_version")).scalar()
        if version is None:
            conn.exec_driver_sql("INSERT INTO schema_version VALUES (0)")
            version = 0
        if version > len(MIGRATIONS):
            from calferry.errors import ConfigError

            raise ConfigError(
                f"the org database is at schema version {version}, newer than this calferry knows "
                f"({len(MIGRATIONS)})",
                hint="upgrade calferry on this machine to the version the other workers run",
            )
        for step in MIGRATIONS[version:]:
            step(conn)
        conn.execute(text("UPDATE schema_version SET version = :v"), {"v": len(MIGRATIONS)})
    return len(MIGRATIONS)
