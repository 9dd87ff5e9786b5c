"""The applier's personal writes (a Get's creates R23, updates R24, deletes R25), in chunks.

Consecutive personal writes of a kind go to the calendar together (``create_many``, ``update_many``,
``delete_many``: Outlook writes them in ``$batch`` of twenty, not one request each). Each action's
checks and reads come first, one by one (a delete's PSA confirmation and freshness read, an update's
version checks, a create's or a delete's journal entry); then the chunk's writes; then each item is
linked and settled in turn with the checkpoints of a single write. A new personal item carries its
stamp from the start, so a crash anywhere leaves only intents the next run's recovery
(:meth:`calferry.apply.Applier.reconcile`) adopts (the item was made, or is gone) or plans again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from calferry.errors import CalferryError, Conflict
from calferry.identity import with_link_versions
from calferry.links import LinkRecords
from calferry.mapping import new_personal_item
from calferry.model import Link, Origin, Outcome, PersonalItem, Stamp
from calferry.personal.base import PersonalCalendar
from calferry.plan import Action, ActionKind, Target
from calferry.results import ActionResult

_P = TypeVar("_P")
_W = TypeVar("_W")
_R = TypeVar("_R")

CHUNK = 20
"""Writes handed to the calendar at once: a Graph ``$batch`` holds twenty requests."""


def chunks(actions: Sequence[Action]) -> Iterator[list[Action]]:
    """The plan's actions in order: runs of personal creates, of personal updates and of personal
    deletes in chunks of up to :data:`CHUNK`, every other action alone."""
    run: list[Action] = []
    for action in actions:
        if run and (batchable(action) != batchable(run[0]) or len(run) == CHUNK):
            yield run
            run = []
        if batchable(action) is None:
            yield [action]
        else:
            run.append(action)
    if run:
        yield run


def batchable(action: Action) -> ActionKind | None:
    """The kind of a personal write that goes to the calendar with its neighbours of that kind; a
    category mark (its own retry loop) goes alone."""
    if action.target is not Target.PERSONAL or action.kind not in _BATCHED or action.categories is not None:
        return None
    return action.kind


_BATCHED = (ActionKind.CREATE, ActionKind.UPDATE, ActionKind.DELETE)


def batched(
    actions: Sequence[Action],
    ready: Callable[[Action], ActionResult | _P],
    write_many: Callable[[list[_P]], Sequence[_W | CalferryError]],
    finish: Callable[[Action, _P, _W], ActionResult],
) -> Iterator[ActionResult | CalferryError]:
    """Personal writes of one chunk in one request: each action's checks and reads first (``ready``:
    its result already, or what to write), then every write at once, then each one finished in turn
    (``finish``: link, checkpoints, settle) as the single path would. Per action, in order, its result
    or the error it alone met."""
    prepared = [_attempt(ready, action) for action in actions]
    pending = [p for p in prepared if not isinstance(p, ActionResult | CalferryError)]
    written = iter(write_many(pending))
    for action, one in zip(actions, prepared, strict=True):
        if isinstance(one, ActionResult | CalferryError):
            yield one
            continue
        done = next(written)
        yield done if isinstance(done, CalferryError) else _attempt(finish, action, one, done)


def _attempt(step: Callable[..., _R], *args: Any) -> _R | CalferryError:
    try:
        return step(*args)
    except CalferryError as exc:
        return exc


@dataclass(frozen=True)
class _Intent:
    """A journalled create: the action, the item it makes, its journal entry."""

    action: Action
    link: Link
    new: PersonalItem
    entry: int


class Downloads:
    """Writes personal creates: journal, create, link, settle (checkpoints between)."""

    def __init__(
        self,
        personal: PersonalCalendar,
        store: LinkRecords,
        run_id: str,
        checkpoint: Callable[[str], None],
    ) -> None:
        self.personal, self.store, self.run_id, self.checkpoint = personal, store, run_id, checkpoint

    def many(self, actions: Sequence[Action]) -> Iterator[ActionResult | CalferryError]:
        """Many creates in one ``create_many``: per action, in order, its result or the error it met
        (each yielded once that item is settled, so the caller audits it before the next is linked)."""
        journalled = [self._journalled(action) for action in actions]
        intents = [i for i in journalled if isinstance(i, _Intent)]
        written = iter(self.personal.create_many([i.new for i in intents]))
        for intent in journalled:
            yield intent if isinstance(intent, CalferryError) else self._settled(intent, next(written))

    def _journalled(self, action: Action) -> _Intent | CalferryError:
        try:
            return self._journal(action)
        except CalferryError as exc:
            return exc

    def _settled(
        self, intent: _Intent, written: PersonalItem | CalferryError
    ) -> ActionResult | CalferryError:
        """Link and settle what was made; a refusal is that item's failure, its intent left to the
        next run's recovery as a single create's would be."""
        try:
            if isinstance(written, Conflict):
                written = self._adopt(intent)
            if isinstance(written, CalferryError):
                return written
            return self._finish(intent, written)
        except CalferryError as exc:
            return exc

    def _journal(self, action: Action) -> _Intent:
        link = need(action.link, action)
        stamp = Stamp(link.psa.kind, link.psa.id, Origin.DOWNLOADED, link.company_id)
        new = replace(new_personal_item(action.ref, need(action.fields, action)), stamp=stamp)
        need(action.psa_item, action)
        entry = self.store.journal(
            self.run_id, action.kind.value, action.ref, link.psa.kind, {"uid": action.ref}, action.to_json()
        )
        self.checkpoint("journaled")
        return _Intent(action, link, new, entry)

    def _finish(self, intent: _Intent, created: PersonalItem) -> ActionResult:
        self.checkpoint("created")
        self.store.save(with_link_versions(intent.link, created, intent.action.psa_item))
        self.checkpoint("linked")
        self.store.settle(intent.entry, Outcome.DONE, intent.link.psa.id)
        self.checkpoint("settled")
        return ActionResult(intent.action, Outcome.DONE)

    def _adopt(self, intent: _Intent) -> PersonalItem:
        """The uid is taken: by this PSA item's own copy (an earlier run made it), or by another item."""
        existing = self.personal.get(intent.action.key)
        if existing.stamp != intent.new.stamp:
            raise Conflict(
                f"{intent.action.ref} already exists in the personal calendar and is not this PSA item's copy"
            )
        return existing


def need(value: Any, action: Action) -> Any:
    """A payload part the action's kind requires; a plan without it is malformed (a bug or a bad file)."""
    if value is None:
        raise CalferryError(
            f"{action.ref or action.psa_kind}: the plan's {action.kind.value} lacks its payload"
        )
    return value
