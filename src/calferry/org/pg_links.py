"""One technician's link store in the org database: links, journal, audit log and run state in PostgreSQL.

The engine's :class:`calferry.links.LinkRecords`, kept in the org's ``links``, ``journal``, ``audit`` and
``technician_state`` rows of one ``technician_id``, so any worker on any machine runs any technician and
finds what the last run (on another machine, or killed half-way) left: its links, and its pending intents
for the journal's recovery (B2). It behaves as the SQLite :class:`calferry.links.LinkStore` does (the
same tests run on both): values go in and come out as they do there, the JSON columns hold the same text.
Save one: PostgreSQL's text cannot hold a NUL character, so an id with one is refused (``InputError``, that
item alone, before anything is written) and the audit log shows U+FFFD in its place.

One run per technician at a time (:class:`PgRunLock`): a PostgreSQL session advisory lock, which a worker
that dies gives up with its connection. The store holds one connection of the engine's pool for its life
(as the SQLite store holds its file) and its lock another, so a run takes two; like the SQLite store it is
used by one thread.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from calferry.errors import InputError, LockBusy
from calferry.links import (
    AUDIT_COLUMNS,
    LINK_COLUMNS,
    AuditEntry,
    Intent,
    LinkRecords,
    RunGuard,
    intent_from,
    intent_texts,
    link_from,
    link_row,
    log_filter,
    log_params,
    state_text,
)
from calferry.model import ItemKey, Link, Outcome, PsaKind

__all__ = ["PgLinkStore", "PgRunLock"]

_LOCKS = 0x6C6E_6B73
""""lnks": the high half of a technician's run lock key (the low half is their number); one-key advisory
locks never meet the two-key ones of the budget's thread slots."""

_ONE_TECHNICIAN = "technician_id = :t"
_UPSERT_LINK = (
    f"INSERT INTO links (technician_id, {', '.join(LINK_COLUMNS)}) "
    f"VALUES (:t, {', '.join(':' + c for c in LINK_COLUMNS)}) "
    "ON CONFLICT (technician_id, personal_uid, recurrence_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in LINK_COLUMNS[2:])
)


class PgRunLock(RunGuard):
    """One run of a technician at a time, across every worker on every machine.

    A session advisory lock on a connection of its own, taken without waiting: a second holder (another
    worker, or another lock object in this process) gets ``LockBusy`` as with the SQLite run lock.
    """

    def __init__(self, engine: Engine, technician_id: int) -> None:
        self.engine = engine
        self.technician_id = technician_id
        self._key = (_LOCKS << 32) | (technician_id & 0xFFFF_FFFF)
        self._conn: Connection | None = None

    def acquire(self) -> None:
        conn = self.engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar_one()
            conn.commit()
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            raise LockBusy(
                f"another calferry run is syncing technician {self.technician_id}",
                hint="it finishes on its own; the next run starts after it",
            )
        self._conn = conn

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            conn.commit()
        except SQLAlchemyError:
            conn.invalidate()  # the connection is gone, and PostgreSQL freed the lock with it
        finally:
            conn.close()


class PgLinkStore(LinkRecords):
    """The link store of technician ``technician_id`` in the org database ``engine`` (already migrated)."""

    def __init__(self, engine: Engine, technician_id: int) -> None:
        self.engine = engine
        self.technician_id = technician_id
        self._conn = engine.connect()

    def lock(self) -> PgRunLock:
        return PgRunLock(self.engine, self.technician_id)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Every statement inside commits together or not at all; a transaction inside one is part of it."""
        if self._conn.in_transaction():
            yield
            return
        with self._conn.begin():
            yield

    def _rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """The rows of one statement on this technician's records (``:t`` is their number)."""
        with self.transaction():
            result = self._conn.execute(text(sql), {"t": self.technician_id, **params})
            return [dict(row) for row in result.mappings()] if result.returns_rows else []

    # --- links -------------------------------------------------------------------------------

    def links(self) -> list[Link]:
        rows = self._rows(f"SELECT * FROM links WHERE {_ONE_TECHNICIAN} ORDER BY personal_uid, recurrence_id")
        return [link_from(row) for row in rows]

    def link_for(self, key: ItemKey) -> Link | None:
        rows = self._rows(
            f"SELECT * FROM links WHERE {_ONE_TECHNICIAN} AND personal_uid = :u AND recurrence_id = :r",
            u=_kept(key.uid),
            r=_kept(key.recurrence_id or ""),
        )
        return link_from(rows[0]) if rows else None

    def save(self, link: Link) -> None:
        values = {c: _kept(v) for c, v in zip(LINK_COLUMNS, link_row(link), strict=True)}
        with self.transaction():
            self._rows(
                f"DELETE FROM links WHERE {_ONE_TECHNICIAN} AND psa_kind = :k AND psa_id = :i",
                k=link.psa.kind.value,
                i=link.psa.id,
            )
            self._rows(_UPSERT_LINK, **values)

    def remove(self, key: ItemKey) -> None:
        self._rows(
            f"DELETE FROM links WHERE {_ONE_TECHNICIAN} AND personal_uid = :u AND recurrence_id = :r",
            u=_kept(key.uid),
            r=_kept(key.recurrence_id or ""),
        )

    # --- journal -----------------------------------------------------------------------------

    def journal(
        self,
        run_id: str,
        action: str,
        ref: str,
        psa_kind: PsaKind | None,
        fingerprint: dict[str, Any],
        payload: dict[str, Any],
    ) -> int:
        fingerprint_text, payload_text = intent_texts(fingerprint, payload)
        (row,) = self._rows(
            "INSERT INTO journal (technician_id, run_id, action, ref, psa_kind, fingerprint, payload, state) "
            "VALUES (:t, :run, :action, :ref, :kind, :fingerprint, :payload, 'pending') RETURNING intent_id",
            run=run_id,
            action=action,
            ref=_kept(ref),
            kind=None if psa_kind is None else psa_kind.value,
            fingerprint=fingerprint_text,
            payload=payload_text,
        )
        return int(row["intent_id"])

    def settle(self, intent_id: int, state: Outcome, psa_id: int | None = None) -> None:
        self._rows(
            "UPDATE journal SET state = :s, psa_id = COALESCE(CAST(:p AS BIGINT), psa_id), updated = now() "
            f"WHERE {_ONE_TECHNICIAN} AND intent_id = :i",
            s=state,
            p=psa_id,
            i=intent_id,
        )

    def pending(self) -> list[Intent]:
        rows = self._rows(
            f"SELECT * FROM journal WHERE {_ONE_TECHNICIAN} AND state = 'pending' ORDER BY intent_id"
        )
        return [intent_from(row) for row in rows]

    # --- audit log (B4) ----------------------------------------------------------------------

    def audit(self, entry: AuditEntry) -> None:
        self._rows(
            f"INSERT INTO audit (technician_id, {', '.join(AUDIT_COLUMNS)}) "
            f"VALUES (:t, {', '.join(':' + c for c in AUDIT_COLUMNS)})",
            **{c: _shown(v) for c, v in asdict(entry).items()},
        )

    def log(self, limit: int = 50, offset: int = 0, search: str = "") -> list[AuditEntry]:
        rows = self._rows(
            f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit WHERE {_ONE_TECHNICIAN} AND {log_filter('ILIKE')} "
            "ORDER BY id DESC LIMIT :limit OFFSET :offset",
            **log_params(_shown(search)),
            limit=limit,
            offset=offset,
        )
        return [AuditEntry(**{**row, "at": row["at"].astimezone(UTC)}) for row in rows]

    # --- run state ---------------------------------------------------------------------------

    def get_state(self, key: str) -> Any:
        rows = self._rows(
            f"SELECT value FROM technician_state WHERE {_ONE_TECHNICIAN} AND key = :k", k=_kept(key)
        )
        return json.loads(rows[0]["value"]) if rows else None

    def set_state(self, key: str, value: Any) -> None:
        self._rows(
            "INSERT INTO technician_state (technician_id, key, value) VALUES (:t, :k, :v) "
            "ON CONFLICT (technician_id, key) DO UPDATE SET value = EXCLUDED.value",
            k=_kept(key),
            v=state_text(value),
        )

    def counts(self) -> dict[str, int]:
        rows = self._rows(
            f"SELECT psa_kind, origin, count(*) AS n FROM links WHERE {_ONE_TECHNICIAN} GROUP BY psa_kind, origin"
        )
        return {f"{row['psa_kind']}/{row['origin']}": int(row["n"]) for row in rows}


def _kept(value: Any) -> Any:
    """A value that identifies something, as PostgreSQL can keep it: its text cannot hold a NUL
    character, so an item whose id has one is refused (that item only, before anything is written)."""
    if isinstance(value, str) and "\x00" in value:
        raise InputError(
            f"the calendar item {value.replace(chr(0), '?')!r} has a NUL character in its id; "
            "it cannot be synced"
        )
    return value


def _shown(value: Any) -> Any:
    """A value the audit log shows a person: a NUL character (which PostgreSQL's text cannot hold)
    becomes U+FFFD, the character that stands for one that could not be kept."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value
