"""The Calendar Item Mapping page (R14-R17): one row per selected item; Save sends them.

Each row is sent on its own, so an error (no company, no permission, PSA unreachable) is shown next to
the row it concerns while the other rows are applied, and the form keeps what was entered.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from calferry import localtime
from calferry.errors import PsaUnavailable, UserError
from calferry.model import ItemKey, Link, Outcome, When
from calferry.plan import Action, ActionKind, ItemState
from calferry.service import RunResult, Service
from calferry.web.calendar_routes import week_range
from calferry.web.common import Choices, psa_choices, render, service
from calferry.web.views import psa_name

router = APIRouter()


@dataclass(frozen=True)
class MappingRow:
    """One item on the mapping page: what it is, what was chosen, and what became of it."""

    ref: str
    subject: str
    start: When | None = None
    end: When | None = None
    recurring: bool = False
    kind: str = "appointment"
    company: str = ""
    contact: str = ""
    action_type: str = ""
    error: str | None = None
    result: str | None = None
    warnings: tuple[str, ...] = field(default=())
    unreachable: bool = False
    locked: bool = False
    """Sent before (R17): its kind and company stay as they were."""
    contacts: tuple[str, ...] = field(default=())
    """Contact suggestions: the names of the row's company's contacts."""


@router.get("/send")
def mapping_page(
    request: Request, ref: list[str] = Query(default=[]), start: str | None = None, end: str | None = None
) -> Response:
    if not ref:  # R13: nothing ticked: back to the calendar, which says so
        query = urlencode({"start": start or "", "end": end or "", "notice": "nothing-selected"})
        return RedirectResponse(f"/calendar?{query}", status_code=303)
    with service(request) as svc:
        first, last = week_range(start, end, localtime.today(svc.now(), svc.time_zone()))
        states = {s.ref: s for s in svc.items(first, last)}
        rows = [_prefilled(svc, r, states.get(r)) for r in ref]
        choices = psa_choices(svc.directory(), action_types=True)
    return render(
        request, "send.html", active="calendar", rows=rows, applied=False, start=first, end=last,
        choices=choices,
    )  # fmt: skip


@router.post("/send")
async def save_mapping(request: Request) -> Response:
    form = await request.form()
    with service(request) as svc:
        today = localtime.today(svc.now(), svc.time_zone())
        first, last = week_range(_text(form, "start"), _text(form, "end"), today)
        states = {s.ref: s for s in svc.items(first, last)}
        rows = [_sent(svc, row) for row in _entered(form, states)]
        offline = any(row.unreachable for row in rows)  # asking again would only wait for it once more
        choices = Choices() if offline else psa_choices(svc.directory(), action_types=True)
    failures = sum(1 for row in rows if row.error)
    return render(
        request, "send.html", status_code=200, active="calendar", rows=rows, applied=True,
        failures=failures, start=first, end=last, choices=choices,
    )  # fmt: skip


def _prefilled(svc: Service, ref: str, state: ItemState | None) -> MappingRow:
    """R14 defaults, or R17: what the last send chose (from the link, through the service's preview),
    by name."""
    row = _described(ref, state)
    default_action = svc.default_action_type()
    try:
        action = svc.preview_send([ref]).actions[0]
    except UserError as exc:
        return replace(row, action_type=default_action, error=str(exc))
    link = action.link or svc.link_for(ItemKey.from_ref(ref))  # an unchanged item's skip has none
    named = _names(svc, link, default_action)
    return replace(
        row,
        kind="appointment" if row.recurring or action.psa_kind is None else action.psa_kind.value,
        company=named.company,
        contact=named.contact,
        action_type=named.action_type,
        contacts=named.contacts,
    )


@dataclass(frozen=True)
class _Named:
    company: str
    contact: str
    action_type: str
    contacts: tuple[str, ...]


def _names(svc: Service, link: Link | None, default_action: str) -> _Named:
    """The last send's company, contact and action type by name, with the company's contacts to
    suggest; the ids (or the option as written) when the PSA cannot say: the page must not fail over a
    name."""
    company_id, contact_id = (link.company_id, link.contact_id) if link else (None, None)
    company, contact, action_type = _id_text(company_id), _id_text(contact_id), default_action
    contacts: tuple[str, ...] = ()
    try:
        directory = svc.directory()
        action_type = directory.action_type((link.action_type_id if link else None) or default_action).name
        if company_id is not None:
            company = directory.company(company_id).name
            contacts = tuple(c.name for c in directory.contacts_of(company_id))
            if contact_id is not None:
                contact = directory.contact(contact_id, company_id).name
    except UserError:
        pass
    return _Named(company, contact, action_type, contacts)


def _described(ref: str, state: ItemState | None) -> MappingRow:
    if state is None:
        return MappingRow(ref=ref, subject=ref)
    return MappingRow(
        ref=ref,
        subject=state.subject or "(no subject)",
        start=state.start,
        end=state.end,
        recurring=state.recurring,
        locked=state.psa_kind is not None,
    )


def _entered(form: FormData, states: dict[str, ItemState]) -> list[MappingRow]:
    """The rows as submitted; the fields come in row order, one of each per row."""
    columns = [form.getlist(name) for name in ("ref", "kind", "company", "contact", "action_type")]
    rows = []
    for ref, kind, company, contact, action_type in zip(*columns, strict=False):
        state = states.get(str(ref))
        base = _described(str(ref), state)
        locked = state.psa_kind.value if state is not None and state.psa_kind is not None else None
        rows.append(
            replace(
                base,
                kind="appointment" if base.recurring else locked or str(kind),
                company=str(company).strip(),
                contact=str(contact).strip(),
                action_type=str(action_type).strip(),
            )
        )
    return rows


def _sent(svc: Service, row: MappingRow) -> MappingRow:
    """Send one row; its error (or the PSA id it got) stays with it."""
    todo = row.kind == "todo"
    try:
        result = svc.send(
            [row.ref],
            kind=row.kind,
            company=(row.company or None) if todo and not row.locked else None,  # locked: the last send's
            contact=(row.contact or None) if todo else None,
            action_type=(row.action_type or None) if todo else None,
        )
    except UserError as exc:
        return replace(row, error=str(exc), unreachable=isinstance(exc, PsaUnavailable))
    return _outcome(row, result)


def _outcome(row: MappingRow, result: RunResult) -> MappingRow:
    mine = [r for r in result.results if r.action.ref == row.ref] or result.results
    if not mine:
        return replace(row, error="nothing was sent")
    done = mine[-1]
    warnings = tuple(result.warnings)
    if done.outcome is Outcome.FAILED:
        return replace(row, error=done.error or "failed", warnings=warnings)
    if done.action.kind is ActionKind.SKIP:
        if done.action.unchanged:  # R17: nothing to update is no failure
            return replace(
                row,
                result=f"Unchanged since the last send: {_psa_name(done.action)} in the PSA",
                warnings=warnings,
            )
        return replace(row, error=done.action.reason, warnings=warnings)
    if done.outcome is Outcome.LEFT:  # B9: another device is sending it right now
        return replace(row, result="Another device is sending it; left to that device", warnings=warnings)
    if done.outcome is Outcome.ADOPTED:  # B9: sent from another device (or before the store was lost)
        return replace(
            row, result=f"Already sent as {_psa_name(done.action, done.psa_id)}", warnings=warnings
        )
    created = done.action.kind is ActionKind.CREATE
    name = _psa_name(done.action, done.psa_id)
    sent = f"Sent as {name}" if created else f"Updated {name} in the PSA"
    return replace(row, result=sent, warnings=warnings, locked=not row.recurring)  # sent: R17 from now on


def _psa_name(action: Action, psa_id: int | None = None) -> str:
    """``To-Do #5``: the PSA item as the PSA names it."""
    return psa_name(action.psa_kind, psa_id if psa_id is not None else action.psa_id) or "the PSA item"


def _id_text(value: int | None) -> str:
    return "" if value is None else str(value)


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) and value else None
