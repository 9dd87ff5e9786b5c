"""The Conflicts page (R5-B: keep personal or take the PSA version, per item) and the audit log (B4)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from calferry.errors import UserError
from calferry.mapping import PersonalFields
from calferry.model import PersonalItem
from calferry.plan import ItemState, TransferState
from calferry.service import LOG_MAX, Service
from calferry.web.common import render, service
from calferry.web.views import result_rows, result_summary
from calferry.wiring import open_records

router = APIRouter()


@dataclass(frozen=True)
class ConflictRow:
    """One conflict: the item as it is in your calendar and as the PSA's version would make it."""

    state: ItemState
    mine: PersonalItem | None = None
    theirs: PersonalFields | None = None
    error: str | None = None


@router.get("/conflicts")
def conflicts_page(request: Request) -> Response:
    with service(request) as svc:
        rows = [_versions(svc, s) for s in svc.items() if s.state is TransferState.CONFLICT]
    return render(request, "conflicts.html", active="conflicts", rows=rows)


def _versions(svc: Service, state: ItemState) -> ConflictRow:
    """Both versions; a side that cannot be read now says why, and the row stays."""
    try:
        mine, theirs = svc.conflict_versions(state.ref)
    except UserError as exc:
        return ConflictRow(state, error=str(exc))
    return ConflictRow(state, mine, theirs)


@router.post("/conflicts")
def resolve(
    request: Request, ref: str = Form(...), keep: str = Form(...), confirmed: str = Form("")
) -> Response:
    """Keep yours at once; taking the PSA's version overwrites your edit, so it is asked first."""
    if keep == "psa" and confirmed != "yes":
        with service(request) as svc:
            state = next((s for s in svc.items() if s.ref == ref), None)
            row = _versions(svc, state) if state is not None else None
        return render(request, "conflicts.html", active="conflicts", rows=[], confirm=row, ref=ref)
    with service(request) as svc:
        result = svc.resolve_conflict(ref, keep)
    heading = (
        "Conflict resolved: your version sent"
        if keep == "personal"
        else "Conflict resolved: PSA version kept"
    )
    return render(
        request, "result.html", active="conflicts", heading=heading, result=result,
        summary=result_summary(result), actions=result_rows(result.results), get_actions=None,
    )  # fmt: skip


@router.get("/log")
def log_page(
    request: Request,
    limit: int = Query(100, ge=1, le=LOG_MAX),
    offset: int = Query(0, ge=0, le=10**9),
    q: str = "",
) -> Response:
    """The audit log needs only the link store: it shows even while the calendar or the PSA is down.
    A page of ``limit`` entries after the newest ``offset``, only those mentioning ``q`` if given."""
    with open_records() as records:
        entries = records.log(limit + 1, offset, q.strip())  # one more: is there an older page?
        zone = records.time_zone()
    return render(
        request, "log.html", active="log", entries=entries[:limit], limit=limit, offset=offset, q=q.strip(),
        older=len(entries) > limit, zone=zone,
    )  # fmt: skip
