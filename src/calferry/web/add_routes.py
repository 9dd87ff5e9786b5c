"""Add to the PSA (R30-R32): Appointment, To-Do and Service Call forms; the automatic Get follows (R31)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from calferry.config import load_settings
from calferry.errors import InputError, PsaUnavailable, UserError
from calferry.model import PsaKind
from calferry.service import AddForm
from calferry.web.common import Choices, contacts_of, psa_choices, render, service
from calferry.web.views import result_rows, result_summary
from calferry.wiring import open_psa

router = APIRouter()

KINDS = ("appointment", "todo", "service-call")
FIELDS = ("title", "company", "contact", "action_type", "start", "end", "tickets", "tasks", "description")


PICKED = ("ticket", "task")
"""The checkbox names of the open tickets and tasks listed on the Service Call form."""


@router.get("/add")
def add_page(request: Request, kind: str = "appointment", company: str = "") -> Response:
    kind = _kind(kind)
    return _form(request, kind, {"company": company}, {}, None, _choices(request, kind, company))


@router.get("/contacts")
def contacts(request: Request, company: str = "") -> JSONResponse:
    """The names of a company's contacts, for the contact suggestions once a company is chosen. Asked of
    the PSA alone, without the run lock: a suggestion must never hold up a Save."""
    try:
        psa = open_psa(load_settings())
    except UserError:
        return JSONResponse({"contacts": []})
    try:
        found = contacts_of(psa, company)
    except UserError:
        found = ()
    finally:
        psa.close()
    return JSONResponse({"contacts": [c.name for c in found]})


@router.post("/add")
async def add(request: Request) -> Response:
    form = await request.form()
    kind = _kind(str(form.get("kind", "")))
    entered = {name: str(form.get(name, "")) for name in FIELDS}
    picked = {name: [str(v) for v in form.getlist(name)] for name in PICKED}
    if form.get("refresh"):  # the company changed: offer its contacts, tickets and tasks; add nothing yet
        return _form(request, kind, entered, picked, None, _choices(request, kind, entered["company"]))
    try:
        with service(request) as svc:
            result = svc.add(_add_form(kind, entered, picked))
    except UserError as exc:
        choices = (
            Choices() if isinstance(exc, PsaUnavailable) else _choices(request, kind, entered["company"])
        )
        return _form(request, kind, entered, picked, str(exc), choices, status_code=400)
    created, fetched = result.results[:1], result.results[1:]
    return render(
        request, "result.html", active="add", heading="Added to the PSA", result=result,
        summary=result_summary(result), actions=result_rows(created), get_actions=result_rows(fetched),
    )  # fmt: skip


def _choices(request: Request, kind: str, company: str) -> Choices:
    """The companies to pick from, and for the chosen company its contacts (To-Do) or its open tickets
    and tasks (service call), if the PSA says; on the way the page learns the technician's zone, in
    which the times are entered."""
    try:
        with service(request) as svc:
            if kind == "appointment":
                return Choices()
            return psa_choices(
                svc.directory(), company=company, work=kind == "service-call", action_types=kind == "todo"
            )
    except UserError:
        return Choices()


def _add_form(kind: str, entered: dict[str, str], picked: dict[str, list[str]]) -> AddForm:
    """The form's text as the service reads it; empty optional fields become None; the ticked
    tickets and tasks come before the ones typed in."""
    return AddForm(
        PsaKind(kind),
        title=entered["title"].strip(),
        start=_local_time(entered["start"], "start"),
        end=_local_time(entered["end"], "end"),
        description=entered["description"],
        company=entered["company"].strip() or None,
        contact=entered["contact"].strip() or None,
        action_type=entered["action_type"].strip() or None,
        tickets=(*picked["ticket"], *_lines(entered["tickets"])),
        tasks=(*picked["task"], *_lines(entered["tasks"])),
    )


def _local_time(text: str, name: str) -> datetime:
    """A ``datetime-local`` value: a wall-clock time the service reads in the technician's zone
    (the PSA resource's, as the CLI does), whatever the zone of the machine or the browser."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"the {name} is required: give a date and time") from None


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}; choose appointment, todo or service-call")
    return kind


def _form(
    request: Request,
    kind: str,
    entered: dict[str, str],
    picked: dict[str, list[str]],
    error: str | None,
    choices: Choices,
    status_code: int = 200,
) -> Response:
    return render(
        request, "add.html", status_code=status_code, active="add", kind=kind, form=entered, error=error,
        default_action_type=load_settings().calendar.default_action_type, choices=choices,
        picked={name: set(picked.get(name, ())) for name in PICKED},
    )  # fmt: skip
