"""What the admin sees of each technician, read from the org database: the admin page and
``calferry org status --json`` both come from here, so the two always agree.

- Per technician: items linked (their rows in ``links``), conflicts waiting for their choice (the
  ``conflicts`` list of their ``technician_state``, as the engine keeps it), and errors (their ``audit``
  entries that failed in the last 24 hours) beside the row's last error.
- Their audit log, newest first, a page at a time; their open conflicts and recent errors in full.
- Autotask requests per hour over the last 24 hours (``budget_hours``), against the hourly threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from calferry.links import AuditEntry
from calferry.org.budget import PgBudget
from calferry.org.store import OrgStore, Technician, _technician

__all__ = [
    "ERROR_HOURS",
    "HourCount",
    "OpenConflict",
    "RequestSeries",
    "TechnicianOverview",
    "requests_per_hour",
    "technician_audit",
    "technician_conflicts",
    "technician_errors",
    "technician_overview",
    "technicians_overview",
]

ERROR_HOURS = 24
"""How far back a technician's failed transfers count as their errors."""
_SINCE = timedelta(hours=ERROR_HOURS)

_OVERVIEW = """
SELECT t.*,
  (SELECT count(*) FROM links l WHERE l.technician_id = t.id) AS items_linked,
  coalesce((SELECT jsonb_array_length(s.value::jsonb) FROM technician_state s WHERE s.technician_id = t.id
            AND s.key = 'conflicts' AND jsonb_typeof(s.value::jsonb) = 'array'), 0) AS conflicts,
  (SELECT count(*) FROM audit a WHERE a.technician_id = t.id AND a.outcome = 'failed'
            AND a.at > now() - :since) AS errors
FROM technicians t
"""


@dataclass(frozen=True)
class TechnicianOverview:
    """A technician's row with the counts the admin watches."""

    technician: Technician
    items_linked: int
    conflicts: int
    errors: int

    def to_json(self) -> dict[str, Any]:
        return {
            **self.technician.to_json(),
            "items_linked": self.items_linked,
            "conflicts": self.conflicts,
            "errors": self.errors,
        }


def _overview(row: Mapping[Any, Any]) -> TechnicianOverview:
    return TechnicianOverview(
        _technician(row), int(row["items_linked"]), int(row["conflicts"]), int(row["errors"])
    )


def technicians_overview(store: OrgStore) -> list[TechnicianOverview]:
    with store.engine.connect() as conn:
        rows = conn.execute(text(_OVERVIEW + " ORDER BY t.id"), {"since": _SINCE}).mappings()
        return [_overview(r) for r in rows]


def technician_overview(store: OrgStore, technician_id: int) -> TechnicianOverview:
    """One technician's row; ``NotFound`` for a number nobody has."""
    store.technician(technician_id)
    with store.engine.connect() as conn:
        row = conn.execute(
            text(_OVERVIEW + " WHERE t.id = :i"), {"since": _SINCE, "i": technician_id}
        ).mappings()
        return _overview(next(iter(row)))


def _entry(row: Mapping[Any, Any]) -> AuditEntry:
    """An ``audit`` row as the link store's entry (columns a newer schema adds are taken when present)."""
    return AuditEntry(
        at=row["at"], run_id=row["run_id"], action=row["action"], ref=row["ref"], psa_kind=row["psa_kind"],
        psa_id=row["psa_id"], outcome=row["outcome"], message=row["message"] or "",
        subject=row.get("subject") or "", rule=row.get("rule") or "",
    )  # fmt: skip


def technician_audit(store: OrgStore, technician_id: int, limit: int, offset: int = 0) -> list[AuditEntry]:
    """A page of their audit log, newest first."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM audit WHERE technician_id = :i ORDER BY at DESC, id DESC LIMIT :l OFFSET :o"),
            {"i": technician_id, "l": limit, "o": offset},
        ).mappings()
        return [_entry(r) for r in rows]


def technician_errors(store: OrgStore, technician_id: int, limit: int = 50) -> list[AuditEntry]:
    """Their failed transfers of the last 24 hours, newest first."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT * FROM audit WHERE technician_id = :i AND outcome = 'failed' AND at > now() - :since "
                "ORDER BY at DESC, id DESC LIMIT :l"
            ),
            {"i": technician_id, "since": _SINCE, "l": limit},
        ).mappings()
        return [_entry(r) for r in rows]


@dataclass(frozen=True)
class OpenConflict:
    """A conflict waiting for the technician's choice, with what the newest audit entry said of it."""

    ref: str
    at: datetime | None = None
    subject: str = ""
    message: str = ""
    psa_kind: str | None = None
    psa_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref, "at": self.at.isoformat() if self.at else None, "subject": self.subject,
            "message": self.message, "psa_kind": self.psa_kind, "psa_id": self.psa_id,
        }  # fmt: skip


def technician_conflicts(store: OrgStore, technician_id: int) -> list[OpenConflict]:
    """Their conflicts waiting for a choice (the engine's list), each with its newest audit entry."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT DISTINCT ON (c.ref) c.ref, a.at, a.message, a.psa_kind, a.psa_id, to_jsonb(a) AS entry "
                "FROM technician_state s CROSS JOIN LATERAL jsonb_array_elements_text(CASE "
                "jsonb_typeof(s.value::jsonb) WHEN 'array' THEN s.value::jsonb ELSE '[]'::jsonb END) AS c(ref) "
                "LEFT JOIN audit a ON a.technician_id = s.technician_id AND a.ref = c.ref "
                "AND a.outcome = 'conflict' "
                "WHERE s.technician_id = :i AND s.key = 'conflicts' ORDER BY c.ref, a.at DESC NULLS LAST"
            ),
            {"i": technician_id},
        ).mappings()
        return [_open_conflict(r) for r in rows]


def _open_conflict(row: Mapping[Any, Any]) -> OpenConflict:
    subject = (row["entry"] or {}).get("subject") or ""
    return OpenConflict(
        row["ref"], row["at"], str(subject), row["message"] or "", row["psa_kind"], row["psa_id"]
    )


@dataclass(frozen=True)
class HourCount:
    hour: datetime
    requests: int


@dataclass(frozen=True)
class RequestSeries:
    """Autotask requests per hour, oldest first, with the hourly threshold and calferry's share of it."""

    hours: tuple[HourCount, ...]
    threshold: int
    share: float

    @property
    def capacity(self) -> float:
        return self.threshold * self.share

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "share": self.share,
            "capacity": self.capacity,
            "hours": [{"hour": h.hour.isoformat(), "requests": h.requests} for h in self.hours],
        }


def requests_per_hour(store: OrgStore, hours: int = 24) -> RequestSeries:
    """The last ``hours`` whole hours up to this one (by the database's clock), a zero for a quiet hour."""
    share = store.settings().budget_share
    budget = PgBudget(store.engine, share=share)
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT h.hour, coalesce(b.requests, 0) FROM generate_series(date_trunc('hour', now()) - "
                ":span, date_trunc('hour', now()), interval '1 hour') AS h(hour) LEFT JOIN budget_hours b "
                "ON b.hour = h.hour AND b.name = :n ORDER BY h.hour"
            ),
            {"span": timedelta(hours=hours - 1), "n": budget.name},
        ).all()
    return RequestSeries(tuple(HourCount(h, int(n)) for h, n in rows), budget.state().threshold, share)
