"""The records a technician's run needs beside its items, as the central poll last read them.

A to-do names its company, contact and action type; a company its country; a service call its company,
tickets and tasks; a technician's run needs their resource and the zone of its location. Read once per
cycle by the poll (:mod:`calferry.org.ref_poll`) for everyone, they are kept here by Autotask entity and
id: ``row`` is the record as the PSA sent it, or NULL when the PSA has no such record (a resource that is
gone), so that an id found missing is not asked for again every cycle. ``fetched_at`` (the database's
clock) says when it was read, for the poll's refresh of old records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, text

__all__ = ["RefCache", "jsonb"]

Row = dict[str, Any]
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""What PostgreSQL's JSONB cannot hold: NUL, and a surrogate without its pair."""


def jsonb(value: Any) -> str:
    """``value`` as JSON text PostgreSQL's JSONB accepts: a PSA record with a NUL or a lone surrogate in
    its text (which JSON carries, and JSONB refuses) is kept with U+FFFD there, rather than failing the
    poll for every technician."""
    return json.dumps(_storable(value), default=str)


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, Mapping):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value


class RefCache:
    """The ``psa_refs`` table of the org database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def rows(self, entity: str, ids: Iterable[int]) -> dict[int, Row | None]:
        """The known records among ``ids`` (None: the PSA has none with that id); unknown ids are absent."""
        wanted = sorted({int(i) for i in ids})
        if not wanted:
            return {}
        with self.engine.connect() as conn:
            found = conn.execute(
                text("SELECT psa_id, row FROM psa_refs WHERE entity = :e AND psa_id = ANY(:ids)"),
                {"e": entity, "ids": wanted},
            )
            return {int(psa_id): row for psa_id, row in found}

    def all_rows(self, entity: str) -> list[Row]:
        """Every record of ``entity`` the PSA has (action types: the run offers them all)."""
        with self.engine.connect() as conn:
            found = conn.execute(
                text("SELECT row FROM psa_refs WHERE entity = :e AND row IS NOT NULL ORDER BY psa_id"),
                {"e": entity},
            )
            return [row for (row,) in found]

    def put(self, entity: str, rows: Mapping[int, Row | None]) -> None:
        """Keep these records (None: the PSA has no such id), read just now."""
        if not rows:
            return
        params = [
            {"e": entity, "i": int(psa_id), "r": None if row is None else jsonb(row)}
            for psa_id, row in rows.items()
        ]
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO psa_refs (entity, psa_id, row, fetched_at) "
                    "VALUES (:e, :i, CAST(:r AS JSONB), now()) ON CONFLICT (entity, psa_id) "
                    "DO UPDATE SET row = EXCLUDED.row, fetched_at = EXCLUDED.fetched_at"
                ),
                params,
            )

    def stale(self, entity: str, age: timedelta, limit: int) -> list[int]:
        """Up to ``limit`` ids of ``entity`` read longer than ``age`` ago, the oldest first."""
        with self.engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT psa_id FROM psa_refs WHERE entity = :e AND fetched_at < now() - :age "
                    "ORDER BY fetched_at, psa_id LIMIT :n"
                ),
                {"e": entity, "age": age, "n": limit},
            )
            return [int(psa_id) for (psa_id,) in found]
