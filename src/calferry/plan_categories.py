"""The category send (B10, R3): which items the technician marked for sending, and the categories each
carries afterwards.

In the org service nobody sits at a mapping page: a technician sends an item by giving it a category
(default ``Send to Autotask``). That per-item act is the manual transfer R3 asks for; an item without it
never leaves the calendar. Afterwards the category becomes ``Sent to Autotask``, or ``Autotask error``
when the send failed or was refused (the reason goes to the audit log and the technician's row).

Series: an occurrence carries the send category either from the series (the master's categories) or as
an exception of its own. The series' category sends its occurrences inside the window, each as its own
appointment (R20); then the category is rewritten on the series and on each sent occurrence (the stamp
made each one an exception with its own copy of the categories). An exception's category sends that
occurrence alone. Occurrences outside the window are not sent: giving the series the category again
later sends them (those sent already are updated or left as they are, never duplicated, R17/R20).

Pure: no I/O, no clock. The service reads the items, plans the send (:func:`calferry.plan.plan_send`),
applies it, reads the items again and plans the category writes here from the outcomes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from calferry.mapping import personal_hash
from calferry.model import Outcome, PersonalItem
from calferry.plan import Action, ActionKind, Plan, Target

__all__ = [
    "CategoryNames",
    "SendError",
    "SendOutcome",
    "kept_errors",
    "marked",
    "outcome_of",
    "plan_categories",
    "planned_outcomes",
    "send_errors",
]

_SENT_OUTCOMES = (Outcome.DONE, Outcome.ADOPTED, Outcome.UNCHANGED)
"""The applier's outcomes of a send that leave the item in the PSA as the calendar has it."""


@dataclass(frozen=True)
class CategoryNames:
    """The three category names (org settings ``send_category``, ``sent_category``, ``error_category``).

    Compared without regard to case or surrounding blanks, as Outlook compares category names.
    """

    send: str = "Send to Autotask"
    sent: str = "Sent to Autotask"
    error: str = "Autotask error"

    def marked(self, categories: Iterable[str]) -> bool:
        """R3: the technician asked for this item to be sent."""
        return any(_same(c, self.send) for c in categories)

    def erring(self, categories: Iterable[str]) -> bool:
        return any(_same(c, self.error) for c in categories)

    def after(self, categories: Sequence[str], sent: bool) -> tuple[str, ...]:
        """The item's categories after a send: its own kept in order, ours replaced by the outcome's."""
        ours = (self.send, self.sent, self.error)
        kept = tuple(c for c in categories if not any(_same(c, name) for name in ours))
        return (*kept, self.sent if sent else self.error)


def _same(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def marked(items: Iterable[PersonalItem], names: CategoryNames) -> list[PersonalItem]:
    """R3/R13: exactly the items carrying the send category; nothing else is ever sent."""
    return [item for item in items if names.marked(item.categories)]


@dataclass(frozen=True)
class SendOutcome:
    """What a send did to one item: ``sent`` True or False, or None when another device is sending it
    right now (its categories are then left for that device, B9)."""

    ref: str
    sent: bool | None
    reason: str = ""


def outcome_of(action: Action, outcome: Outcome, error: str | None) -> SendOutcome:
    """One send action's result, from the applier's outcome and error."""
    if outcome in _SENT_OUTCOMES or (outcome is Outcome.SKIPPED and action.unchanged):
        # R17: in the PSA as the calendar has it (an unchanged re-send is sent too)
        return SendOutcome(action.ref, True)
    if outcome is Outcome.LEFT:
        # B9: another device is making its PSA copy; that device writes the category
        return SendOutcome(action.ref, None)
    # R7, R14, R33 and the PSA's refusals: not sent, and why
    return SendOutcome(action.ref, False, error or action.reason)


def planned_outcomes(plan: Plan) -> list[SendOutcome]:
    """A preview's outcomes: skips are what they say, writes are assumed to succeed."""
    return [
        outcome_of(a, Outcome.SKIPPED if a.kind is ActionKind.SKIP else Outcome.DONE, None)
        for a in plan.actions
    ]


def plan_categories(
    items: Sequence[PersonalItem],
    masters: Mapping[str, PersonalItem],
    outcomes: Iterable[SendOutcome],
    names: CategoryNames,
    now: datetime,
) -> Plan:
    """The category writes after a send: ``items`` are the marked items as they are now, ``masters``
    the series masters of the recurring ones (by uid), ``outcomes`` the send's, by item ref."""
    by_ref = {o.ref: o for o in outcomes}
    series = {uid: m for uid, m in masters.items() if names.marked(m.categories)}
    actions = [
        _series_action(master, [by_ref[i.ref] for i in items if i.uid == uid and i.ref in by_ref], names)
        for uid, master in sorted(series.items())
    ]
    # each sent occurrence carries its own stamp, so its own copy of the categories, too (R20)
    actions.extend(_action(item, by_ref[item.ref], names) for item in items if item.ref in by_ref)
    chosen = tuple(a for a in actions if a is not None)
    return Plan("categorize", chosen, now)


def _series_action(
    master: PersonalItem, outcomes: Sequence[SendOutcome], names: CategoryNames
) -> Action | None:
    failed = [o for o in outcomes if o.sent is False]
    if failed:
        # R20: an occurrence not sent puts the series in error, with every reason once
        reasons = "; ".join(dict.fromkeys(o.reason for o in failed))
        return _action(master, SendOutcome(master.uid, False, reasons), names)
    if not outcomes or any(o.sent is None for o in outcomes):
        return None  # B9: nothing of it in the window, or another device is sending it: left as it is
    # R20: every occurrence in the window sent: the series says so
    return _action(master, SendOutcome(master.uid, True), names)


def _action(item: PersonalItem, outcome: SendOutcome, names: CategoryNames) -> Action | None:
    if outcome.sent is None:
        return None
    after = names.after(item.categories, outcome.sent)
    if after == tuple(item.categories):
        return None  # already says so
    reason = (
        f"sent: its category becomes {names.sent}"
        if outcome.sent
        else f"not sent ({outcome.reason}): its category becomes {names.error}"
    )
    return Action(
        ActionKind.UPDATE, item.ref, None, None, reason, Target.PERSONAL, personal_version=item.version,
        personal_hash=personal_hash(item), categories=after, rule="R3", subject=item.subject,
    )  # fmt: skip


@dataclass(frozen=True)
class SendError:
    """An item the category send could not send, as the technician's row shows it."""

    ref: str
    subject: str
    reason: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "subject": self.subject, "reason": self.reason, "at": self.at.isoformat()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SendError:
        return cls(data["ref"], data.get("subject", ""), data["reason"], datetime.fromisoformat(data["at"]))


def send_errors(
    items: Iterable[PersonalItem], outcomes: Iterable[SendOutcome], at: datetime
) -> tuple[SendError, ...]:
    """The items a run could not send, named by their subject, with the reason."""
    subjects = {i.ref: i.subject for i in items}
    return tuple(SendError(o.ref, subjects.get(o.ref, ""), o.reason, at) for o in outcomes if o.sent is False)


def kept_errors(
    previous: Iterable[SendError], new: Iterable[SendError], erring: Collection[str], tried: Collection[str]
) -> list[SendError]:
    """The row's errors after a run: this run's, and earlier ones of items that still carry the error
    category (``erring``, refs and series uids) and were not tried again; an item whose error category
    the technician removed, or that left the window, drops off."""
    fresh = list(new)
    again = set(tried) | {e.ref for e in fresh}
    return [e for e in previous if e.ref in erring and e.ref not in again] + fresh
