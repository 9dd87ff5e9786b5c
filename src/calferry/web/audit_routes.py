"""The Conflicts page (R5-B: keep personal or take the PSA version, per item) and the audit log (B4)."""

from __future__ import annotations

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from calferry.service import LOG_MAX, Records
from calferry.web.common import render, service
from calferry.web.views import result_rows, result_summary

router = APIRouter()


@router.get("/conflicts")
def conflicts_page(request: Request) -> Response:
    with service(request) as svc:
        rows = [s for s in svc.items() if s.state == "conflict"]
    return render(request, "conflicts.html", active="conflicts", rows=rows)


@router.post("/conflicts")
def resolve(request: Request, ref: str = Form(...), keep: str = Form(...)) -> Response:
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
def log_page(request: Request, limit: int = Query(100, ge=1, le=LOG_MAX)) -> Response:
    """The audit log needs only the link store: it shows even while the calendar or the PSA is down."""
    with Records.open() as records:
        entries = records.log(limit)
        zone = records.time_zone()
    return render(request, "log.html", active="log", entries=entries, zone=zone)
