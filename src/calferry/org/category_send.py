"""The category send in a technician's run (B10, R3): after their Get, the items they gave the send
category are sent, and what could not be sent is kept on their row with the reason.

The engine decides and writes (:meth:`calferry.service.Service.send_by_category`); this module only
keeps the row's list of errors: this run's, plus earlier ones whose items still carry the error category
(:func:`calferry.plan_categories.kept_errors`), so the admin sees what waits for the technician.
"""

from __future__ import annotations

from sqlalchemy import text

from calferry.org.refs import jsonb
from calferry.org.store import OrgSettings, OrgStore, Technician
from calferry.plan_categories import SendError, kept_errors
from calferry.service import Service

__all__ = ["send_marked"]


def send_marked(store: OrgStore, technician: Technician, org: OrgSettings, service: Service) -> None:
    """Send what the technician marked; their row keeps the items not sent and why."""
    report = service.send_by_category(org.category_names)
    previous = [SendError.from_json(e) for e in store.technician(technician.id).send_errors]
    errors = kept_errors(previous, report.errors, report.erring, report.tried)
    if errors != previous:
        with store.engine.begin() as conn:
            conn.execute(
                text("UPDATE technicians SET send_errors = CAST(:e AS JSONB) WHERE id = :i"),
                {"e": jsonb([e.to_json() for e in errors]), "i": technician.id},
            )
