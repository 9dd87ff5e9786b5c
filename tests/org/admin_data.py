"""Rows the admin page and ``org status`` read, written as the fan-out writes them: links, audit
entries, the engine's list of open conflicts, and Autotask requests per hour."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import text

from calferry.org.store import OrgStore

PASSWORD = "correct horse battery"


def link(store: OrgStore, technician_id: int, uid: str, psa_id: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO links (technician_id, personal_uid, psa_kind, psa_id, origin) "
                "VALUES (:t, :u, 'appointment', :p, 'psa')"
            ),
            {"t": technician_id, "u": uid, "p": psa_id},
        )


def audit(
    store: OrgStore, technician_id: int, at: datetime, ref: str, outcome: str = "done", message: str = ""
) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit (technician_id, at, run_id, action, ref, psa_kind, psa_id, outcome, message) "
                "VALUES (:t, :at, 'run-1', 'update', :r, 'appointment', 7, :o, :m)"
            ),
            {"t": technician_id, "at": at, "r": ref, "o": outcome, "m": message},
        )


def open_conflicts(store: OrgStore, technician_id: int, refs: list[str]) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO technician_state (technician_id, key, value) VALUES (:t, 'conflicts', :v)"),
            {"t": technician_id, "v": json.dumps(refs)},
        )


def requests_at(store: OrgStore, hours_ago: int, requests: int) -> None:
    """``requests`` Autotask requests counted ``hours_ago`` whole hours before this one (database clock)."""
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO budget_hours (name, hour, requests) VALUES "
                "('autotask', date_trunc('hour', now()) - :ago, :n)"
            ),
            {"ago": timedelta(hours=hours_ago), "n": requests},
        )
