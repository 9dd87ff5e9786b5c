"""``calferry org status``: one document with what the admin page shows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from calferry.model import PsaKind
from calferry.org import schema
from calferry.org.budget import PgBudget
from calferry.org.store import OrgStore

__all__ = ["org_status"]


def org_status(store: OrgStore) -> dict[str, Any]:
    settings = store.settings()
    budget = PgBudget(store.engine, share=settings.budget_share).state()
    return {
        "schema_version": schema.current_version(store.engine),
        "settings": settings.to_json(),
        "technicians": [t.to_json() for t in store.technicians()],
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
    }


def _jobs(store: OrgStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT status, count(*) FROM procrastinate_jobs GROUP BY status")).all()
    return {str(status): int(count) for status, count in rows}
