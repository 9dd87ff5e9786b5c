"""Plans and run results turned into rows a template can show (no logic beyond wording)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from calferry.model import Outcome, PsaKind, When
from calferry.plan import Action, Plan
from calferry.service import ActionResult, RunResult


@dataclass(frozen=True)
class ActionRow:
    """One line of a preview or result table."""

    action: str
    ref: str
    subject: str
    psa_kind: str | None
    psa_id: int | None
    reason: str
    outcome: Outcome | None = None
    error: str | None = None
    start: When | None = None
    end: When | None = None


KIND_NAMES = {PsaKind.APPOINTMENT.value: "Appointment", PsaKind.TODO.value: "To-Do"}
KIND_NAMES[PsaKind.SERVICE_CALL.value] = "Service Call"
"""The PSA's own names of its kinds, as its screens show them."""


def psa_name(kind: PsaKind | str | None, psa_id: int | None = None) -> str:
    """``{{ kind|psa_name(id) }}``: the PSA item as the PSA names it (``To-Do #5``); the kind alone
    before the item exists; nothing for an item not in the PSA."""
    if not kind:
        return ""
    value = kind.value if isinstance(kind, PsaKind) else kind
    name = KIND_NAMES.get(value, value)
    return f"{name} #{psa_id}" if psa_id else name


def plan_rows(plan: Plan) -> list[ActionRow]:
    return [_row(a) for a in plan.actions]


def result_rows(results: list[ActionResult]) -> list[ActionRow]:
    return [_row(r.action, r) for r in results]


def _row(action: Action, result: ActionResult | None = None) -> ActionRow:
    psa_id = result.psa_id if result is not None and result.psa_id is not None else action.psa_id
    start, end = _times(action)
    return ActionRow(
        action=action.kind.value,
        ref=action.ref,
        subject=_subject(action),
        psa_kind=None if action.psa_kind is None else action.psa_kind.value,
        psa_id=psa_id,
        reason=action.reason,
        outcome=None if result is None else result.outcome,
        error=None if result is None else result.error,
        start=start,
        end=end,
    )


def _times(action: Action) -> tuple[When | None, When | None]:
    """When the item is: as Get writes it, else as the PSA holds it (a delete or skip may know neither)."""
    source = action.fields if action.fields is not None else action.psa_item
    return getattr(source, "start", None), getattr(source, "end", None)


def _subject(action: Action) -> str:
    """What a person recognises: the item's subject or title (a PSA item being added has only the
    latter), else the ref."""
    return action.title or getattr(action.psa_item, "title", None) or action.ref or "(new PSA item)"


def plan_summary(plan: Plan) -> str:
    counts = Counter(a.kind.value for a in plan.actions)
    return _sentence(counts) or "Nothing to do: your calendar is up to date."


def result_summary(result: RunResult) -> str:
    counts = Counter(r.outcome.value for r in result.results)
    return _sentence(counts) or "Nothing was changed."


def tone(result: RunResult) -> str:
    """How a run's summary looks: ``error`` if something failed, ``attention`` if a conflict waits to be
    settled, else ``ok`` (green means nothing is left to do)."""
    if result.failed:
        return "error"
    return "attention" if result.outcomes().get(Outcome.CONFLICT) else "ok"


def _sentence(counts: Counter[str]) -> str:
    return ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
