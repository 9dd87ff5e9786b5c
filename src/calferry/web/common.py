"""What every page shares: the templates, the service of the request, form parsing and error pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.responses import Response

from calferry import localtime
from calferry.errors import LookupFailed, UserError
from calferry.model import ActionType, Company, Contact, ServiceCallWork
from calferry.web.security import CSRF_FIELD, csrf_token
from calferry.web.views import psa_name, tone

if TYPE_CHECKING:
    from calferry.psa.base import PsaDirectory
    from calferry.service import Service

ServiceFactory = Callable[[], AbstractContextManager["Service"]]
"""Opens the service for one request (and closes it after): e.g. ``lambda: calferry.wiring.open_service(load_settings())``."""

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

NAV = (
    ("calendar", "/calendar", "Calendar"),
    ("get", "/get", "Get from PSA"),
    ("add", "/add", "Add to PSA"),
    ("conflicts", "/conflicts", "Conflicts"),
    ("log", "/log", "Audit log"),
    ("options", "/options", "Options"),
)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    """Render ``name`` with the navigation, the CSRF token, the technician's zone and ``context``.

    The zone is the one the request's service learnt (:func:`service`); a page that opened none shows
    no times unless it passes ``zone`` itself.
    """
    context.setdefault("zone", getattr(request.state, "zone", None))
    context.update(nav=NAV, csrf_field=CSRF_FIELD, csrf_token=csrf_token(request))
    return templates.TemplateResponse(request, name, context, status_code=status_code)


@contextmanager
def service(request: Request) -> Iterator[Service]:
    """The service for this request, opened by the app's factory and closed afterwards; the page's
    times are then shown in the technician's zone."""
    factory: ServiceFactory = request.app.state.service_factory
    with factory() as svc:
        request.state.zone = svc.time_zone()
        yield svc


@dataclass(frozen=True)
class Choices:
    """What a form offers to pick from: the PSA's companies and To-Do action types, and for the chosen
    company its contacts and open tickets and tasks."""

    companies: tuple[Company, ...] = ()
    tickets: tuple[ServiceCallWork, ...] = ()
    tasks: tuple[ServiceCallWork, ...] = ()
    action_types: tuple[ActionType, ...] = ()
    contacts: tuple[Contact, ...] = ()
    company: Company | None = None
    """The company the contacts, tickets and tasks are of (None: none chosen, or not known)."""


def psa_choices(
    psa: PsaDirectory, *, company: str = "", work: bool = False, action_types: bool = False
) -> Choices:
    """The pick lists: companies; ``action_types``: the To-Do action types; for ``company`` (a name or
    id) its contacts, and with ``work`` its open tickets and tasks. None when the PSA cannot say,
    because the fields still take a name typed in and the page must not fail over a convenience."""
    try:
        found = Choices(
            companies=tuple(psa.active_companies()),
            action_types=tuple(psa.todo_action_types()) if action_types else (),
        )
        chosen = _company(psa, company)
        if chosen is None:
            return found
        if work:
            tickets = tuple(psa.open_work("ticket", company_id=chosen.id))
            tasks = tuple(psa.open_work("task", company_id=chosen.id))
            return replace(found, company=chosen, tickets=tickets, tasks=tasks)
        return replace(found, company=chosen, contacts=tuple(psa.contacts_of(chosen.id)))
    except UserError:
        return Choices()


def contacts_of(psa: PsaDirectory, company: str) -> tuple[Contact, ...]:
    """The contacts of the company typed in (none for a name the PSA does not know)."""
    chosen = _company(psa, company)
    return () if chosen is None else tuple(psa.contacts_of(chosen.id))


def _company(psa: PsaDirectory, name: str) -> Company | None:
    """The company typed in, if the PSA knows it (a wrong name is reported when the form is saved)."""
    if not name.strip():
        return None
    try:
        return psa.company(int(name) if name.strip().isdigit() else name.strip())
    except LookupFailed:
        return None


def error_page(request: Request, error: UserError) -> Response:
    """A user error as a page: its message, its hint, and a way back."""
    status = 409 if error.exit_code in (3, 7) else 400
    return render(request, "error.html", status_code=status, error=error, active="")


@pass_context
def when(context: Context, value: date | datetime | None) -> str:
    """``{{ t|when }}``: one moment in the page's zone (``Fri 4 Dec 10:00``; a date as ``Fri 4 Dec``)."""
    return localtime.at(value, context.get("zone") or "UTC")


@pass_context
def span(context: Context, start: date | datetime | None, end: date | datetime | None) -> str:
    """``{{ start|span(end) }}``: ``Fri 4 Dec 10:00–11:00`` or ``Fri 4 Dec, all day``."""
    return localtime.span(start, end, context.get("zone") or "UTC")


@pass_context
def stamp(context: Context, value: datetime) -> str:
    """``{{ t|stamp }}``: an audit moment with year and seconds, in the page's zone."""
    return localtime.stamp(value, context.get("zone") or "UTC")


def sentence(text: str) -> str:
    """``{{ reason|sentence }}``: a reason made for the middle of a line, shown on its own (capitalised)."""
    return text[:1].upper() + text[1:]


templates.env.filters.update(
    when=when, span=span, stamp=stamp, tone=tone, psa_name=psa_name, sentence=sentence
)
