"""What the task pane asks of calferry: the mapping step for one Outlook item, and its Send.

The pane names the item by its REST id; calferry reads it through its own Graph adapter (one truth:
the same rules R13-R22 as the page and the CLI, private items anonymised by the engine) and sends it
through :meth:`calferry.service.Service.send`, which writes the stamps as always. Messages here are
for the technician: no rule codes.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from calferry.errors import InputError, UserError
from calferry.model import ItemKey, Link, Outcome, PsaKind
from calferry.plan import ActionKind
from calferry.service import ActionResult, RunResult, Service

KIND_NAMES = {PsaKind.APPOINTMENT: "Appointment", PsaKind.TODO: "To-Do", PsaKind.SERVICE_CALL: "Service Call"}
_RULE_CODE = re.compile(r"^R\d+\s+|\s*\(R\d+\)")


@dataclass(frozen=True)
class PaneItem:
    """The mapping step for one item: what it is, and what it was sent as (then locked, R17)."""

    ref: str
    subject: str
    recurring: bool
    private: bool
    kind: str
    company: str
    action_type: str
    sent_as: str | None
    series: bool = False
    """The whole series is open (not one occurrence): Save sends its occurrences in the Get window (R20)."""

    @property
    def locked(self) -> bool:
        return self.sent_as is not None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "locked": self.locked}


@dataclass(frozen=True)
class SendOutcome:
    """A Save's result in words, with the PSA item it concerns."""

    ok: bool
    message: str
    kind: str | None = None
    psa_id: int | None = None


def key_for(svc: Service, graph_id: str) -> ItemKey:
    """The item the pane names; only an Outlook (Graph) calendar knows Outlook's ids."""
    return svc.key_of(graph_id)


def describe(svc: Service, graph_id: str) -> PaneItem:
    """R14 defaults for a new item; R17 the last send's kind, company and action type, locked."""
    key = key_for(svc, graph_id)
    item = svc.personal_item(key)
    link = svc.link_for(key)
    default_action = _default_action(svc)
    base = PaneItem(
        ref=key.ref, subject=item.subject, recurring=item.recurring, private=item.private,
        kind=PsaKind.APPOINTMENT.value, company="", action_type=default_action, sent_as=None,
    )  # fmt: skip
    if key.recurrence_id is None and item.recurring:
        return replace(base, series=True)
    if link is None:
        return base
    return PaneItem(
        ref=key.ref, subject=item.subject, recurring=item.recurring, private=item.private,
        kind=link.psa.kind.value, company=_company_name(svc, link),
        action_type=_action_name(svc, link) or default_action, sent_as=_psa_name(link.psa.kind, link.psa.id),
    )  # fmt: skip


def send(svc: Service, graph_id: str, kind: str, company: str, action_type: str) -> SendOutcome:
    """Send the item: as before when it was sent already (R17), else with the choices made (R14, R15)."""
    key = key_for(svc, graph_id)
    if svc.link_for(key) is not None:
        return outcome(svc.send([key.ref]))
    item = svc.personal_item(key)
    if key.recurrence_id is None and item.recurring:
        return series_outcome(svc.send(series_uid=key.uid))
    chosen = PsaKind.APPOINTMENT if item.recurring else _kind(kind)
    if chosen is PsaKind.APPOINTMENT:
        return outcome(svc.send([key.ref], kind=chosen))
    if not company.strip():
        raise InputError("a To-Do needs a company: choose one, then Save again")
    return outcome(
        svc.send([key.ref], kind=chosen, company=company.strip(), action_type=action_type.strip() or None)
    )


def outcome(result: RunResult) -> SendOutcome:
    """The last action's outcome as the pane shows it."""
    if not result.results:
        return SendOutcome(False, "Nothing was sent.")
    done = result.results[-1]
    action = done.action
    kind = action.psa_kind
    psa_id = done.psa_id if done.psa_id is not None else action.psa_id
    if done.outcome is Outcome.FAILED:
        return SendOutcome(False, sentence(done.error or "the send failed"))
    name = "the PSA item" if kind is None or psa_id is None else _psa_name(kind, psa_id)
    sent = SendOutcome(True, "", None if kind is None else kind.value, psa_id)
    if action.kind is ActionKind.CREATE:
        return replace(sent, message=f"Sent as {name}")
    if action.kind is ActionKind.UPDATE:
        return replace(sent, message=f"Sent again: {name} updated")
    if action.unchanged:
        return replace(sent, message=f"{name} is already up to date.")
    return SendOutcome(False, sentence(action.reason))


def series_outcome(result: RunResult) -> SendOutcome:
    """A series' Save: how many occurrences went, and the first reason one did not."""
    fates = [_fate(r) for r in result.results]
    missed = [r for r, fate in zip(result.results, fates, strict=True) if fate == "missed"]
    words = [f"Sent the series: {fates.count('sent')} occurrence(s) as Appointments"]
    if fates.count("current"):
        words.append(f"{fates.count('current')} already up to date")
    if missed:
        why = sentence(missed[0].error or missed[0].action.reason).rstrip(".")
        words.append(f"{len(missed)} not sent ({why})")
    return SendOutcome(not missed, ", ".join(words) + ".", PsaKind.APPOINTMENT.value)


def _fate(result: ActionResult) -> str:
    if result.outcome is Outcome.FAILED:
        return "missed"
    if result.action.kind is ActionKind.SKIP:
        return "current" if result.action.unchanged else "missed"
    return "sent"


def _kind(text: str) -> PsaKind:
    try:
        kind = PsaKind(text)
    except ValueError:
        raise InputError(f"unknown kind {text!r}: choose Appointment or To-Do") from None
    if kind is PsaKind.SERVICE_CALL:
        raise InputError("a calendar item is sent as an Appointment or a To-Do")
    return kind


def _psa_name(kind: PsaKind, psa_id: int) -> str:
    return f"{KIND_NAMES[kind]} #{psa_id}"


def _company_name(svc: Service, link: Link) -> str:
    return "" if link.company_id is None else svc.directory().company(link.company_id).name


def _action_name(svc: Service, link: Link) -> str:
    return "" if link.action_type_id is None else svc.directory().action_type(link.action_type_id).name


def _default_action(svc: Service) -> str:
    """R14: the options' default action type, by name (the option may hold its id)."""
    default = svc.default_action_type()
    try:
        return svc.directory().action_type(default).name
    except UserError:
        return default  # shown as set; the PSA says what is wrong with it on Save


def sentence(reason: str) -> str:
    """A reason as a sentence for the technician: without the rule code that leads it in logs."""
    text = _RULE_CODE.sub("", reason).strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
