"""Decide what a Send, a Get, an Add, a series delete or a conflict's resolution would do, without doing
it (B1): snapshots + links + options -> Plan; and where an item stands (:func:`item_state`).

Pure: no I/O, no clock, no globals. ``now`` and the options are arguments, so a plan can be shown
(``--dry-run``, the web preview), saved as JSON (``--plan FILE``) and applied exactly later by
:mod:`calferry.apply`, which re-checks every expected version and turns a stale action into a failure
instead of overwriting anything.

Every branch of the decision tables below carries a one-line comment naming its case and rule, and a
unit test named after that rule (``tests/unit/test_plan.py``, ``tests/unit/test_plan_decisions.py``).

One module past 500 lines on purpose: every decision of the engine (Send, Get, Add, series delete,
resolve, item state) reads as one table, and they share the action vocabulary, the link index and the
copy and claim checks. The JSON codec (:mod:`calferry.plan_codec`) and the versions and fingerprint
(:mod:`calferry.identity`) live apart, because the applier needs them without the decisions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from calferry import localtime
from calferry.contracts import PsaSnapshot
from calferry.errors import InputError, MappingError, NotFound, SideLooksEmpty, TooManyDeletions
from calferry.identity import psa_version
from calferry.mapping import (
    PersonalFields,
    SendChoice,
    apply_psa_fields,
    personal_hash,
    personal_to_psa,
    psa_fingerprint,
    psa_hash,
    psa_to_personal,
)
from calferry.model import (
    ItemKey,
    Link,
    Origin,
    PersonalItem,
    PersonalKind,
    Policy,
    PsaAppointment,
    PsaItem,
    PsaKind,
    PsaRef,
    PsaServiceCall,
    PsaToDo,
    Resource,
    ServiceCallWork,
    Stamp,
    When,
    Window,
    psa_kind_of,
)
from calferry.plan_codec import decode, encode

UNCHANGED = "unchanged since the last send; nothing to update"
"""The words of a Send's skip that is no failure (:attr:`Action.unchanged` marks it)."""
NO_SERVICE_CALL = "a service call cannot be sent from your calendar"
KIND_NAMES = {
    PsaKind.APPOINTMENT: "an Appointment",
    PsaKind.TODO: "a To-Do",
    PsaKind.SERVICE_CALL: "a Service Call",
}
"""A PSA kind in a sentence."""


class ActionKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    SKIP = "skip"
    CONFLICT = "conflict"


class Target(StrEnum):
    """The side an action writes; NONE for skips and conflicts."""

    PSA = "psa"
    PERSONAL = "personal"
    NONE = "none"


@dataclass(frozen=True)
class Action:
    """One decision, with everything the applier needs to carry it out exactly.

    ``ref`` is the personal ref (``uid`` or ``uid@recurrence-id``); empty for a PSA item created by Add.
    ``link`` is the link to save once the write succeeded (the applier fills in fresh versions and hashes).
    ``personal_version``/``psa_version`` are the versions the plan was made from: a saved plan whose item
    moved meanwhile fails that action instead of overwriting (a moved version with the same
    ``personal_hash`` is noise, e.g. a sibling occurrence was stamped). ``verify_gone`` marks a personal delete that
    happens only if the PSA confirms the item is gone (R25: an item that merely left the window stays).
    ``if_present`` marks a personal update of a copy not listed in the window (it lies outside it, or
    was deleted there): done only if the copy is still there, and a conflict if it was edited since the
    last transfer and ``personal_hash`` (the link's) is set (R5-B; psa-wins leaves it unset).
    """

    kind: ActionKind
    ref: str
    psa_kind: PsaKind | None
    psa_id: int | None
    reason: str
    target: Target = Target.NONE
    psa_item: PsaItem | None = None
    fields: PersonalFields | None = None
    link: Link | None = None
    personal_version: str | None = None
    personal_hash: str | None = None
    psa_version: str | None = None
    verify_gone: bool = False
    if_present: bool = False
    warnings: tuple[str, ...] = ()
    rule: str = ""
    """The rule behind the decision (``R17``), for ``--json``, the audit log and tests; ``reason`` is in words."""
    subject: str = ""
    """The personal item's subject when the plan saw it (the audit log and the pages name items by it)."""
    categories: tuple[str, ...] | None = None
    """A personal update of the categories alone (the category send, :mod:`calferry.plan_categories`)."""
    unchanged: bool = False
    """R17: a Send's skip because nothing changed since the last send, so nothing is left to do (no
    failure). The faces test this flag, never the words of ``reason``."""

    @property
    def key(self) -> ItemKey:
        return ItemKey.from_ref(self.ref)

    @property
    def title(self) -> str:
        """What a person recognises the item by: its subject, what Get writes, else the PSA item's title."""
        if self.subject:
            return self.subject
        if self.fields is not None:
            return self.fields.subject
        return str(getattr(self.psa_item, "title", "") or "")

    def to_json(self) -> dict[str, Any]:
        """The contract keys first (scripts rely on them), then the exact payload."""
        payload = {f.name: encode(getattr(self, f.name)) for f in fields(self) if f.name not in _HEAD}
        return {
            "action": self.kind.value,
            "ref": self.ref,
            "psa_kind": None if self.psa_kind is None else self.psa_kind.value,
            "psa_id": self.psa_id,
            "reason": self.reason,
            "rule": self.rule,
            "payload": payload,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Action:
        payload = {k: decode(v, (Target,)) for k, v in data.get("payload", {}).items()}
        payload["target"] = Target(payload.get("target", "none"))
        return cls(
            kind=ActionKind(data["action"]),
            ref=data["ref"],
            psa_kind=None if data.get("psa_kind") is None else PsaKind(data["psa_kind"]),
            psa_id=data.get("psa_id"),
            reason=data["reason"],
            rule=data.get("rule", ""),
            **payload,
        )


_HEAD = ("kind", "ref", "psa_kind", "psa_id", "reason", "rule")


@dataclass(frozen=True)
class Plan:
    """What one run would do: ``operation`` is send, get, add, delete-series or resolve."""

    operation: str
    actions: tuple[Action, ...]
    created: datetime | None = None
    warnings: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        return dict(Counter(a.kind.value for a in self.actions))

    def to_json(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "created": None if self.created is None else self.created.isoformat(),
            "actions": [a.to_json() for a in self.actions],
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        created = data.get("created")
        return cls(
            operation=data["operation"],
            actions=tuple(Action.from_json(a) for a in data["actions"]),
            created=None if created is None else datetime.fromisoformat(created),
            warnings=tuple(data.get("warnings", ())),
        )


# --- Send (personal -> PSA): R3, R7, R13-R22 ---------------------------------------------------


@dataclass(frozen=True)
class SendOptions:
    """The mapping page (R14): what the person chose; None means "the default or the last send" (R17)."""

    kind: PsaKind | None = None
    company_id: int | None = None
    contact_id: int | None = None
    action_type_id: int | None = None
    default_action_type_id: int | None = None


def plan_send(
    items: Sequence[PersonalItem],
    links: Iterable[Link],
    resource: Resource,
    options: SendOptions,
    now: datetime,
    psa_versions: Mapping[PsaRef, str | None] | None = None,
) -> Plan:
    """R13: only the selected items (already fetched by the caller) are considered; nothing else is sent.

    ``psa_versions`` are the current versions of linked PSA items (those the caller looked up): an item
    unchanged on both sides since the last send is skipped instead of updated with what it already has.
    """
    by_key, by_psa = _index(links)
    versions = psa_versions or {}
    actions = [
        replace(
            _send_one(item, by_key.get(item.key), by_psa, resource, options, versions), subject=item.subject
        )
        for item in items
    ]
    return Plan("send", tuple(actions), now, _all_warnings(actions))


def _send_one(
    item: PersonalItem,
    link: Link | None,
    by_psa: Mapping[PsaRef, Link],
    resource: Resource,
    options: SendOptions,
    psa_versions: Mapping[PsaRef, str | None],
) -> Action:
    copied = _copied_stamp(item, by_psa)
    if copied is not None:
        # B: a stamp found on two items (copy/paste) is reported, never followed
        return _skip(item.ref, copied, _copy_reason(copied, by_psa), "B9")
    if link is not None and link.psa.kind is PsaKind.SERVICE_CALL:
        # R7: a downloaded service call cannot be sent back
        return _skip(item.ref, link.psa, NO_SERVICE_CALL, "R7")
    if options.kind is PsaKind.SERVICE_CALL:
        # R7: no personal item becomes a service call
        return _skip(item.ref, None, NO_SERVICE_CALL, "R7")
    if link is not None and options.kind not in (None, link.psa.kind):
        # R17: a re-send updates the same PSA item, whose kind cannot change
        reason = f"already sent as {KIND_NAMES[link.psa.kind]}; its kind cannot change"
        return _skip(item.ref, link.psa, reason, "R17")
    choice, warnings = _choice(item, link, options)
    try:
        mapped = personal_to_psa(item, resource, choice, None if link is None else link.psa.id)
    except MappingError as exc:
        # R14: a To-Do without company or action type (and other unmappable items) is not sent
        return _skip(item.ref, None if link is None else link.psa, _unmappable(item, exc), exc.rule or "R14")
    new_link = _sent_link(item, link, choice)
    all_warnings = warnings + mapped.warnings
    if link is not None and _unchanged(item, link, new_link, psa_versions):
        # R17: neither side changed since the last send and the choice is the same: nothing to update
        return replace(_skip(item.ref, link.psa, UNCHANGED, "R17"), unchanged=True)
    if link is not None:
        # R17: a re-send (also of a downloaded item) updates the linked PSA item, never a duplicate
        resend = ("sent before: updates its PSA item", "R17")
        return _psa_write(ActionKind.UPDATE, item, mapped.value, new_link, resend, all_warnings)
    # R16: a first send creates the PSA item and stamps its id into the personal item (R20 per occurrence)
    first = (
        ("first send of this occurrence: creates its own PSA appointment", "R20")
        if item.recurring
        else ("first send: creates the PSA item", "R16")
    )
    return _psa_write(ActionKind.CREATE, item, mapped.value, new_link, first, all_warnings)


def _unmappable(item: PersonalItem, exc: MappingError) -> str:
    """The mapping error as a reason, without the ref the action already names."""
    return exc.message.removeprefix(f"{item.ref}: ")


def _unchanged(
    item: PersonalItem, link: Link, new_link: Link, psa_versions: Mapping[PsaRef, str | None]
) -> bool:
    """The personal item is as last sent, the PSA item as last seen, and the send would choose the same."""
    return (
        link.psa_version is not None
        and psa_versions.get(link.psa) == link.psa_version
        and personal_hash(item) == link.personal_hash
        and _link_choice(new_link) == _link_choice(link)
    )


def _choice(
    item: PersonalItem, link: Link | None, options: SendOptions
) -> tuple[SendChoice, tuple[str, ...]]:
    """R14/R15/R17: kind, company, contact and action type from the options, else the last send."""
    base = SendChoice() if link is None else _link_choice(link)
    kind = options.kind or base.kind
    warnings: tuple[str, ...] = ()
    if item.recurring and kind is not PsaKind.APPOINTMENT:
        # R15: a recurring item is always sent as Appointment
        warnings = (f"{item.subject or item.ref}: a recurring item is always sent as an Appointment",)
        kind = PsaKind.APPOINTMENT
    action_type = options.action_type_id or base.action_type_id
    if kind is PsaKind.TODO and action_type is None:
        action_type = options.default_action_type_id
    choice = SendChoice(
        kind=kind,
        company_id=options.company_id or base.company_id,
        contact_id=options.contact_id or base.contact_id,
        action_type_id=action_type,
    )
    return choice, warnings


def _link_choice(link: Link) -> SendChoice:
    return SendChoice(link.psa.kind, link.company_id, link.contact_id, link.action_type_id)


def _sent_link(item: PersonalItem, link: Link | None, choice: SendChoice) -> Link:
    """The link a send leaves: the origin stays DOWNLOADED for downloaded items re-sent."""
    origin = Origin.SENT if link is None else link.origin
    psa = PsaRef(choice.kind, 0) if link is None else link.psa
    todo = choice.kind is PsaKind.TODO
    return Link(
        personal=item.key,
        psa=psa,
        origin=origin,
        series_uid=item.series_uid,
        company_id=choice.company_id if todo else None,
        contact_id=choice.contact_id if todo else None,
        action_type_id=choice.action_type_id if todo else None,
    )


def _psa_write(
    kind: ActionKind,
    item: PersonalItem,
    psa_item: PsaItem,
    link: Link,
    reason: tuple[str, str],
    warnings: tuple[str, ...],
) -> Action:
    """``reason``: the words and the rule."""
    return Action(
        kind=kind,
        ref=item.ref,
        psa_kind=psa_kind_of(psa_item),
        psa_id=psa_item.id,
        reason=reason[0],
        rule=reason[1],
        target=Target.PSA,
        psa_item=psa_item,
        link=link,
        personal_version=item.version,
        personal_hash=personal_hash(item),
        warnings=warnings,
    )


# --- Add, delete a series, resolve a conflict, item state: R5-B, R22, R24, R30 ---------------------


@dataclass(frozen=True)
class NewItem:
    """The Add form (R30) with its names already found in the PSA: ids, the service call's work, and
    times as entered (without a zone they are the technician's wall-clock times)."""

    kind: PsaKind
    title: str = ""
    start: datetime | None = None
    end: datetime | None = None
    description: str = ""
    company_id: int | None = None
    contact_id: int | None = None
    action_type_id: int | None = None
    work: tuple[ServiceCallWork, ...] = ()


def plan_add(new: NewItem, resource: Resource, now: datetime) -> Plan:
    """R30: the PSA item Add would create, its required fields checked before anything is sent."""
    item = _new_psa_item(new, resource)
    action = Action(
        ActionKind.CREATE,
        "",
        new.kind,
        None,
        "added from your calendar",
        Target.PSA,
        psa_item=item,
        rule="R30",
    )
    return Plan("add", (action,), now)


def _new_psa_item(new: NewItem, resource: Resource) -> PsaItem:
    begin, finish = _add_times(new.start, new.end, resource.time_zone)
    if new.kind is PsaKind.APPOINTMENT:
        # R30: an appointment needs a title
        if not new.title.strip():
            raise InputError("an appointment needs a title")
        return PsaAppointment(None, new.title.strip(), begin, finish, resource.id, new.description)
    if new.company_id is None:
        # R30: a To-Do and a service call belong to a company
        raise InputError(f"{KIND_NAMES[new.kind]} needs a company", hint="choose the customer's company")
    if new.kind is PsaKind.TODO:
        if new.action_type_id is None:
            raise InputError(
                "a To-Do needs an action type", hint="choose one of the PSA's To-Do action types"
            )
        return PsaToDo(
            None,
            new.company_id,
            new.action_type_id,
            resource.id,
            begin,
            finish,
            new.description,
            new.contact_id,
        )
    if not new.work:
        # R30: a service call is work on at least one of the company's tickets or tasks
        raise InputError(
            "a service call needs at least one ticket or task", hint="pick the company's tickets or tasks"
        )
    return PsaServiceCall(None, new.company_id, begin, finish, new.description, new.work)


def _add_times(start: datetime | None, end: datetime | None, zone: str) -> tuple[datetime, datetime]:
    """Times without a zone are the technician's wall-clock times, in the resource's time zone."""
    if start is None or end is None:
        raise InputError("start and end are required")
    start, end = (localtime.wall_clock(t, zone) for t in (start, end))
    if end <= start:
        raise MappingError("the end must be after the start")
    return start.astimezone(UTC), end.astimezone(UTC)


def plan_delete_series(
    key: ItemKey, found: PersonalItem | None, links: Iterable[Link], now: datetime
) -> Plan:
    """R22: one occurrence (``key.recurrence_id``) or all of a series, on both sides, in one command.

    ``found`` is the series (or the occurrence) as the personal calendar has it now, None if it is gone
    there; ``links`` are all stored links. The PSA copies go with it, the personal item last.
    """
    series = [link for link in links if link.series_uid == key.uid]
    chosen = [
        link
        for link in series
        if key.recurrence_id is None or link.personal.recurrence_id == key.recurrence_id
    ]
    if found is None and not chosen:
        raise NotFound(f"{key.ref} is neither in your calendar nor linked to a PSA item", side="personal")
    if found is not None and not found.recurring and not series:
        # R22: a single item is deleted in the calendar, not as a series
        raise InputError(f"{key.uid} is not a recurring series", hint="delete a single item in your calendar")
    # R22: each linked occurrence's PSA appointment goes with it
    actions = [_delete_psa_copy(link) for link in chosen]
    if found is not None:
        # R22: then the occurrence, or the whole series, in the personal calendar
        reason = (
            "deleted from your calendar"
            if key.recurrence_id
            else "the whole series deleted from your calendar"
        )
        actions.append(Action(ActionKind.DELETE, key.ref, None, None, reason, Target.PERSONAL, rule="R22"))
    return Plan("delete-series", tuple(actions), now)


def _delete_psa_copy(link: Link) -> Action:
    reason = "the occurrence's PSA appointment deleted with it"
    return Action(
        ActionKind.DELETE,
        link.personal.ref,
        link.psa.kind,
        link.psa.id,
        reason,
        Target.PSA,
        link=link,
        rule="R22",
    )


def plan_resolve(link: Link, psa: PsaSnapshot, time_zone: str, now: datetime) -> Plan:
    """R24/R5-B: a conflict settled by taking the PSA's version: its item, as Get renders it, overwrites
    the personal one. ``psa`` holds that one item and the records its rendering names (R28)."""
    item = next(i for i in psa.items if PsaRef(psa_kind_of(i), i.id or 0) == link.psa)
    fields_ = psa_to_personal(item, time_zone, psa.companies, psa.contacts, psa.action_types)
    action = Action(
        ActionKind.UPDATE, link.personal.ref, link.psa.kind, link.psa.id, "conflict settled: the PSA's version taken",
        Target.PERSONAL, psa_item=item, fields=fields_, link=link, psa_version=psa_version(item), rule="R24",
    )  # fmt: skip
    return Plan("resolve", (action,), now)


class TransferState(StrEnum):
    """Where a personal item stands, as ``items`` and the pages show it."""

    NOT_SENT = "not sent"
    SENT = "sent"
    DOWNLOADED = "downloaded"
    EDITED = "edited since sent"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class ItemState:
    """A personal item as the mapping page shows it: its transfer state and PSA item, if any."""

    ref: str
    subject: str
    start: When
    end: When
    state: TransferState
    psa_kind: PsaKind | None = None
    psa_id: int | None = None
    recurring: bool = False
    private: bool = False
    kind: PersonalKind = PersonalKind.APPOINTMENT  # R9: appointment, meeting or event

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "subject": self.subject,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "state": self.state.value,
            "psa_kind": None if self.psa_kind is None else self.psa_kind.value,
            "psa_id": self.psa_id,
            "recurring": self.recurring,
            "private": self.private,
            "kind": self.kind.value,
        }


def item_state(item: PersonalItem, link: Link | None, conflicts: Collection[str]) -> ItemState:
    """R16/R17/R23/R5-B: not sent, sent, downloaded, edited since sent, or a conflict Get reported."""
    return ItemState(
        ref=item.ref, subject=item.subject, start=item.start, end=item.end,
        state=_transfer_state(item, link, conflicts),
        psa_kind=None if link is None else link.psa.kind, psa_id=None if link is None else link.psa.id,
        recurring=item.recurring, private=item.private, kind=item.kind,
    )  # fmt: skip


def _transfer_state(item: PersonalItem, link: Link | None, conflicts: Collection[str]) -> TransferState:
    if link is None:
        # R16: no link, never sent nor downloaded
        return TransferState.NOT_SENT
    if item.ref in conflicts:
        # R5-B: the last Get found both sides edited and left the choice to the person
        return TransferState.CONFLICT
    if personal_hash(item) != link.personal_hash:
        # R17: edited in the personal calendar since the last transfer
        return TransferState.EDITED
    # R16/R23: as last sent or downloaded
    return TransferState(link.origin.value)


# --- Get (PSA -> personal): R4, R5-B, R8, R21, R23-R29 ------------------------------------------


@dataclass(frozen=True)
class GetOptions:
    """R2/R26 and the guards: which kinds, the conflict policy, the deletion threshold, the zone, and
    this device's name in claims (B9), and how many personal items could not be read (an empty-looking
    calendar is then explained by them)."""

    kinds: tuple[PsaKind, ...] = tuple(PsaKind)
    policy: Policy = Policy.KEEP_PERSONAL
    delete_threshold: int = 20
    force_delete: bool = False
    time_zone: str = "UTC"
    device: str = ""
    unreadable: int = 0


def downloaded_uid(ref: PsaRef) -> str:
    """The uid a downloaded item gets: derived from the PSA ref so a repeated create finds its item."""
    return f"calferry-{ref.kind.value}-{ref.id}"


def plan_get(
    personal_items: Sequence[PersonalItem],
    psa: PsaSnapshot,
    links: Iterable[Link],
    window: Window,
    options: GetOptions,
    now: datetime,
) -> Plan:
    """Compare both snapshots with the links; raise a guard error rather than plan a likely loss."""
    by_key, by_psa = _index(links)
    mine = {item.key: item for item in personal_items}
    in_psa = {PsaRef(psa_kind_of(i), i.id or 0): i for i in psa.items if psa_kind_of(i) in options.kinds}
    actions = _copy_report(personal_items, by_psa)
    claims = _claims_elsewhere(personal_items, options.device)
    for ref, psa_item in sorted(in_psa.items(), key=lambda kv: (kv[0].kind.value, kv[0].id)):
        if not window.overlaps(psa_item.start, psa_item.end):
            continue  # R26: only items inside the window are added or updated
        link = by_psa.get(ref)
        claimed = None if link else claims.get(psa_fingerprint(psa_item))
        if claimed is not None:
            # B9: another device claimed a personal item and is making this PSA item from it right now
            # (or stopped doing so): its copy is that item, never a second one
            reason = f"another device is sending {claimed.ref} as this item; the next Get links it"
            actions.append(_skip(claimed.ref, ref, reason, "B9"))
            continue
        action = (
            _get_linked(link, mine, psa_item, psa, options) if link else _get_new(ref, psa_item, psa, options)
        )
        if action is not None:
            actions.append(action)
    gone = _maybe_gone(by_psa, mine, in_psa, options)
    _guard([a for a in gone if a.kind is ActionKind.DELETE], mine, in_psa, by_key, options)
    actions.extend(gone)
    named = [replace(a, subject=mine[a.key].subject) if a.key in mine else a for a in actions]
    return Plan("get", tuple(named), now, _all_warnings(named))


def _get_new(ref: PsaRef, item: PsaItem, snap: PsaSnapshot, options: GetOptions) -> Action:
    # R23: a PSA item not yet downloaded becomes a new personal item (stamped, origin DOWNLOADED)
    fields_ = _render(item, snap, options)
    uid = downloaded_uid(ref)
    link = Link(
        personal=ItemKey(uid),
        psa=ref,
        origin=Origin.DOWNLOADED,
        company_id=getattr(item, "company_id", None),
        contact_id=getattr(item, "contact_id", None),
        action_type_id=getattr(item, "action_type_id", None),
    )
    return Action(
        ActionKind.CREATE, uid, ref.kind, ref.id, "new in the PSA: added to your calendar", Target.PERSONAL,
        psa_item=item, fields=fields_, link=link, psa_version=psa_version(item), rule="R23",
    )  # fmt: skip


def _get_linked(
    link: Link, mine: Mapping[ItemKey, PersonalItem], item: PsaItem, snap: PsaSnapshot, options: GetOptions
) -> Action | None:
    psa_changed = _psa_changed(link, item)
    if link.series_uid is not None and link.origin is Origin.SENT:
        # R21/R27: recurring personal items travel by Send only; PSA edits never come back
        return (
            _skip(
                link.personal.ref,
                link.psa,
                "a recurring item sent from your calendar: changes made in the PSA do not come back",
                "R27",
            )
            if psa_changed
            else None
        )
    personal = mine.get(link.personal)
    if personal is None:
        if not psa_changed:
            return None
        # R24/R26: the PSA item is in the window, its copy is not listed there (it lies outside the
        # window, e.g. rescheduled from long ago, or was deleted there): update the copy if it is still
        # there; a deleted copy is not re-created (deletions are not mirrored, R22)
        return Action(
            ActionKind.UPDATE, link.personal.ref, link.psa.kind, link.psa.id,
            "changed in the PSA: updates your calendar's copy outside the Get window if it is still there "
            "(a deleted copy is not re-created)",
            Target.PERSONAL, psa_item=item, fields=_render(item, snap, options), link=link,
            personal_hash=None if options.policy == Policy.PSA_WINS else link.personal_hash,
            psa_version=psa_version(item), if_present=True, rule="R24",
        )  # fmt: skip
    personal_changed = personal_hash(personal) != link.personal_hash
    if not psa_changed and not personal_changed:
        return None  # neither side changed: nothing to do
    if not psa_changed:
        # R5: a personal edit without a PSA change waits for a re-send
        return _skip(personal.ref, link.psa, "edited since sent; send it to update the PSA", "R5")
    fields_ = _render(item, snap, options)
    if (
        link.psa_hash is None
        and options.policy != Policy.PSA_WINS
        and not _agrees(personal, item, fields_, options)
    ):
        # R5-B: a link rebuilt from a stamp has no known base: the two sides differ and nothing proves
        # which one is newer, so it is a conflict under the policy, never an update
        reason = (f"the two sides differ and no earlier transfer is known here: {_kept(options)}", "R5")
        return _personal_write(ActionKind.CONFLICT, personal, link, item, fields_, reason, Target.NONE)
    if personal_changed and options.policy != Policy.PSA_WINS:
        # R5-B: a personal edit not yet sent meets a PSA change: reported, personal kept
        return _personal_write(
            ActionKind.CONFLICT,
            personal,
            link,
            item,
            fields_,
            (f"edited on both sides: {_kept(options)}", "R5"),
            Target.NONE,
        )
    # R24/R29 (and R5 with psa-wins): the PSA is the master copy and overrides the personal item
    if personal_changed:
        reason = ("changed in the PSA: its version replaces your edit not yet sent", "R5")
    elif link.psa_hash is None:
        reason = ("link restored from the PSA id kept in the item: the PSA's version is written", "R24")
    else:
        reason = ("changed in the PSA: updates your calendar item", "R24")
    return _personal_write(ActionKind.UPDATE, personal, link, item, fields_, reason, Target.PERSONAL)


def _kept(options: GetOptions) -> str:
    return "nothing changed until you choose" if options.policy == Policy.ASK else "your version kept"


def _agrees(personal: PersonalItem, item: PsaItem, fields_: PersonalFields, options: GetOptions) -> bool:
    """True if the two sides hold the same thing: the PSA item's rendering changes nothing here, or the
    PSA item is what sending the personal item would make (a sent To-Do's subject is not mapped, R18)."""
    if not would_change(personal, fields_):
        return True
    if isinstance(item, PsaServiceCall):
        return False
    owner = item.resource_id if isinstance(item, PsaAppointment) else item.assigned_resource_id
    me = Resource(owner, "", "", time_zone=options.time_zone)
    choice = SendChoice(psa_kind_of(item), *_todo_choice(item))
    try:
        sent = personal_to_psa(personal, me, choice, item.id).value
    except MappingError:
        return False
    return psa_hash(sent) == psa_hash(item)


def _todo_choice(item: PsaAppointment | PsaToDo) -> tuple[int | None, int | None, int | None]:
    if isinstance(item, PsaToDo):
        return item.company_id, item.contact_id, item.action_type_id
    return None, None, None


def _personal_write(
    kind: ActionKind,
    personal: PersonalItem,
    link: Link,
    item: PsaItem,
    fields_: PersonalFields,
    reason: tuple[str, str],
    target: Target,
) -> Action:
    """``reason``: the words and the rule."""
    return Action(
        kind, personal.ref, link.psa.kind, link.psa.id, reason[0], target, rule=reason[1],
        psa_item=item, fields=fields_, link=link,
        personal_version=personal.version, personal_hash=personal_hash(personal), psa_version=psa_version(item),
    )  # fmt: skip


def _maybe_gone(
    by_psa: Mapping[PsaRef, Link],
    mine: Mapping[ItemKey, PersonalItem],
    in_psa: Mapping[PsaRef, PsaItem],
    options: GetOptions,
) -> list[Action]:
    """R25/R8: linked items whose personal copy is in the window but whose PSA item is not listed.

    Missing from the window is not proof of deletion (it may have moved out), so each is planned as
    "delete if gone": the applier deletes only after the PSA answers NotFound.
    """
    gone: list[Action] = []
    for ref, link in sorted(by_psa.items(), key=lambda kv: (kv[0].kind.value, kv[0].id)):
        if ref in in_psa or ref.kind not in options.kinds or link.personal not in mine:
            continue
        if link.series_uid is not None and link.origin is Origin.SENT:
            continue  # R22: deleting a recurring item on one side does not delete it on the other
        personal = mine[link.personal]
        if personal_hash(personal) != link.personal_hash and options.policy != Policy.PSA_WINS:
            # R5-B: gone from the PSA but edited here and not sent: reported, the personal edit kept
            reason = "no longer in the PSA's Get window, but edited in your calendar since the last transfer"
            gone.append(_skip(personal.ref, ref, reason, "R5", ActionKind.CONFLICT))
            continue
        rule = "R8" if ref.kind is PsaKind.SERVICE_CALL else "R25"
        gone.append(
            Action(
                ActionKind.DELETE,
                personal.ref,
                ref.kind,
                ref.id,
                "deleted in the PSA: removed from your calendar once the PSA confirms it is gone",
                Target.PERSONAL,
                rule=rule,
                link=link,
                personal_version=personal.version,
                personal_hash=personal_hash(personal),
                verify_gone=True,
            )
        )
    return gone


def _guard(
    gone: Sequence[Action],
    mine: Mapping[ItemKey, PersonalItem],
    in_psa: Mapping[PsaRef, PsaItem],
    by_key: Mapping[ItemKey, Link],
    options: GetOptions,
) -> None:
    """vdirsyncer's StorageEmpty and a deletion threshold: stop before a likely mass deletion."""
    if options.force_delete:
        return
    if gone and not in_psa:
        # guard: the PSA lists nothing while links say it had items in the window
        raise SideLooksEmpty(
            f"the PSA lists no items in the window, but {len(gone)} linked item(s) are there",
            hint="check the PSA settings; if the PSA is really empty, run the Get again allowing deletions",
        )
    linked = {link.psa for link in by_key.values()}
    linked_in_psa = [ref for ref in in_psa if ref in linked]
    if not mine and linked_in_psa and options.unreadable:
        # guard: the personal calendar lists nothing it can read; deleting anything would not help
        raise SideLooksEmpty(
            f"your calendar has {options.unreadable} item(s) calferry cannot read and none it can, "
            f"while {len(linked_in_psa)} linked PSA item(s) are in the window",
            hint="calferry items names the unreadable items; repair or remove them in your calendar",
        )
    if not mine and linked_in_psa:
        # guard: the personal calendar lists nothing while the PSA still has linked items in the window
        raise SideLooksEmpty(
            f"the personal calendar lists no items, but {len(linked_in_psa)} linked PSA item(s) are in the window",
            hint="check the personal calendar settings, or run the Get again allowing deletions",
        )
    if len(gone) > options.delete_threshold:
        # guard: a Get deleting more than the threshold stops
        raise TooManyDeletions(
            f"this Get would delete {len(gone)} personal items (threshold {options.delete_threshold})",
            hint="preview it first; if the deletions are expected, run the Get again allowing them",
        )


def _claims_elsewhere(items: Sequence[PersonalItem], device: str) -> dict[str, PersonalItem]:
    """Unstamped personal items claimed by another device (B9), by the fingerprint of what it makes."""
    return {
        item.claim.fingerprint: item
        for item in items
        if item.claim is not None and item.claim.device != device and item.stamp is None
    }


def _copy_report(items: Sequence[PersonalItem], by_psa: Mapping[PsaRef, Link]) -> list[Action]:
    """B: report personal items carrying a stamp that belongs to another item (copy/paste)."""
    reports: list[Action] = []
    for item in items:
        ref = _copied_stamp(item, by_psa)
        if ref is not None:
            reports.append(_skip(item.ref, ref, _copy_reason(ref, by_psa), "B9"))
    return reports


def _copied_stamp(item: PersonalItem, by_psa: Mapping[PsaRef, Link]) -> PsaRef | None:
    """The PSA ref of ``item``'s stamp when that ref is linked to a different personal item."""
    if item.stamp is None:
        return None
    ref = _stamp_ref(item.stamp)
    owner = by_psa.get(ref)
    if owner is None or owner.personal == item.key:
        return None
    return ref


def _stamp_ref(stamp: Stamp) -> PsaRef:
    return PsaRef(stamp.psa_kind, stamp.psa_id)


def _render(item: PsaItem, snap: PsaSnapshot, options: GetOptions) -> PersonalFields:
    return psa_to_personal(item, options.time_zone, snap.companies, snap.contacts, snap.action_types)


def _psa_changed(link: Link, item: PsaItem) -> bool:
    """Changed means the version moved *and* the mapped-field hash differs (noise is no change)."""
    return psa_version(item) != link.psa_version and psa_hash(item) != link.psa_hash


def would_change(item: PersonalItem, fields_: PersonalFields) -> bool:
    """True if writing ``fields_`` into ``item`` (R29) changes anything a transfer cares about."""
    written = apply_psa_fields(item, fields_)
    return personal_hash(written) != personal_hash(item) or written.location != item.location


# --- helpers ------------------------------------------------------------------------------------


def _index(links: Iterable[Link]) -> tuple[dict[ItemKey, Link], dict[PsaRef, Link]]:
    listed = list(links)
    return {link.personal: link for link in listed}, {link.psa: link for link in listed}


def _skip(ref: str, psa: PsaRef | None, reason: str, rule: str, kind: ActionKind = ActionKind.SKIP) -> Action:
    return Action(
        kind, ref, None if psa is None else psa.kind, None if psa is None else psa.id, reason, rule=rule
    )


def _copy_reason(ref: PsaRef, by_psa: Mapping[PsaRef, Link]) -> str:
    """B: a copied item carries another item's link; it is reported, never followed."""
    return f"a copy of {by_psa[ref].personal.ref}, which is linked to that PSA item; not followed"


def _all_warnings(actions: Iterable[Action]) -> tuple[str, ...]:
    return tuple(w for a in actions for w in a.warnings)
