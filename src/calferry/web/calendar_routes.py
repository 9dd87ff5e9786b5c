"""The calendar page: personal items of a range with their transfer state; select some to send."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from calferry import localtime
from calferry.errors import InputError
from calferry.web.common import render, service

router = APIRouter()

NOTICES = {"nothing-selected": "Tick the items to send first: nothing was selected."}
"""Messages another page sends the calendar page back with, by key."""


@router.get("/")
def home() -> Response:
    return RedirectResponse("/calendar", status_code=303)


@router.get("/calendar")
def calendar_page(
    request: Request,
    start: str | None = None,
    end: str | None = None,
    ref: list[str] = Query(default=[]),
    notice: str = "",
) -> Response:
    with service(request) as svc:
        first, last = week_range(start, end, localtime.today(svc.now(), svc.time_zone()))
        rows = svc.items(first, last)
    week = timedelta(days=7)
    return render(
        request,
        "calendar.html",
        active="calendar",
        rows=rows,
        picked=set(ref),
        start=first,
        end=last,
        prev_start=first - week,
        prev_end=last - week,
        next_start=first + week,
        next_end=last + week,
        notice=NOTICES.get(notice),
    )


def week_range(start: str | None, end: str | None, today: date) -> tuple[date, date]:
    """The days asked for, or the week of ``today`` (the technician's), Monday to Sunday."""
    try:
        first = date.fromisoformat(start) if start else localtime.week_of(today)[0]
        last = date.fromisoformat(end) if end else first + timedelta(days=6)
    except (ValueError, OverflowError) as exc:
        raise InputError(f"not a date: {exc}") from None
    localtime.check_days(first, last)
    return first, last
