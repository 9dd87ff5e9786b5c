"""``calferry org status``: one document with what the admin page shows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from calferry.model import PsaKind
from calferry.org import schema
from calferry.org.budget import PgBudget
from calferry.org.overview import (
    requests_per_hour,
    technician_audit,
    technician_conflicts,
    technician_errors,
    technician_overview,
    technicians_overview,
)
from calferry.org.store import OrgStore

__all__ = ["org_status", "technician_status"]


def org_status(store: OrgStore) -> dict[str, Any]:
    settings = store.settings()
    budget = PgBudget(store.engine, share=settings.budget_share).state()
    return {
        "schema_version": schema.current_version(store.engine),
        "settings": settings.to_json(),
        "technicians": [t.to_json() for t in technicians_overview(store)],
        "budget": {
            "threshold": budget.threshold,
            "capacity": budget.capacity,
            "tokens": round(budget.tokens, 2),
            "requests_this_hour": budget.requests_this_hour,
        },
        "watermarks": {
            kind.value: (w.isoformat() if (w := store.watermark(kind)) else None) for kind in PsaKind
        },
        "jobs": _jobs(store),
        "requests_per_hour": requests_per_hour(store).to_json(),
    }


def technician_status(store: OrgStore, technician_id: int, limit: int, offset: int) -> dict[str, Any]:
    """One technician as their admin page shows them: the row, open conflicts, errors, a page of audit."""
    entries = technician_audit(store, technician_id, limit + 1, offset)  # one more: is there an older page?
    return {
        "technician": technician_overview(store, technician_id).to_json(),
        "conflicts": [c.to_json() for c in technician_conflicts(store, technician_id)],
        "errors": [e.to_json() for e in technician_errors(store, technician_id)],
        "audit": [e.to_json() for e in entries[:limit]],
        "offset": offset,
        "limit": limit,
        "older": len(entries) > limit,
    }


def _jobs(store: OrgStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT status, count(*) FROM procrastinate_jobs GROUP BY status")).all()
    return {str(status): int(count) for status, count in rows}
