"""Carry out a Plan: the only code that writes to either side, the link store, the journal and the audit log.

One action at a time, but consecutive personal writes of a kind (a Get's creates, updates, deletes) go
to the calendar together (:func:`calferry.apply_downloads.batched`: Outlook's ``$batch`` of twenty),
each still checked, journalled, linked, settled and audited as its own. A create's intent is journalled
first; after a crash or a lost answer the next run reconciles it (:meth:`Applier.reconcile`): an item
with its fingerprint is adopted instead of created twice (B2). One failing action costs only itself.

Before a Send's create, this device claims the personal item (B9), written with the item's version, so
of two devices on one calendar only one wins; the other finds the claim and leaves the item to it, or
finds the stamp and links it. A claim older than ``CLAIM_TTL`` belongs to a device that stopped: the
PSA is searched for its fingerprint before anything is made.

``checkpoint(step)`` is called after every durable step (``journaled``, ``created``, ``stamped``,
``linked``, ``deleted``, ``settled``); tests make it raise to prove a re-run after a crash ends clean.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime

from calferry.apply_downloads import Downloads, batchable, batched, chunks
from calferry.apply_downloads import need as _need
from calferry.errors import CalferryError, NotFound, PsaUnavailable, StaleVersion
from calferry.identity import fingerprint, psa_version, with_link_versions
from calferry.links import AuditEntry, LinkRecords, links_from_stamps
from calferry.mapping import apply_psa_fields, personal_hash, psa_fingerprint
from calferry.model import (
    Claim,
    Link,
    Outcome,
    PersonalItem,
    PsaItem,
    PsaRef,
    Stamp,
    psa_kind_of,
)
from calferry.personal.base import PersonalCalendar
from calferry.plan import Action, ActionKind, Plan, Target, would_change
from calferry.psa.base import Psa
from calferry.results import ActionResult

Checkpoint = Callable[[str], None]
Progress = Callable[[int, int], None]

_TRIES = 5
"""How often a claim or a stamp is written again after another device moved the item's version."""


def _no_checkpoint(step: str) -> None:
    """Production runs have no crash hook."""


class Applier:
    """Writes one plan's actions through the adapters, journalling and auditing each."""

    def __init__(
        self,
        personal: PersonalCalendar,
        psa: Psa,
        store: LinkRecords,
        *,
        now: Callable[[], datetime],
        run_id: str | None = None,
        checkpoint: Checkpoint = _no_checkpoint,
        on_progress: Progress | None = None,
    ) -> None:
        self.personal = personal
        self.psa = psa
        self.store = store
        self.now = now
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.checkpoint = checkpoint
        self.on_progress = on_progress
        self.device = store.device_id()
        self.downloads = Downloads(personal, store, self.run_id, checkpoint)

    def apply(self, plan: Plan, *, check_psa_versions: bool = False) -> list[ActionResult]:
        """Apply every action; ``check_psa_versions`` also re-reads PSA items (for a saved plan)."""
        results: list[ActionResult] = []
        total = len(plan.actions)
        for result in self._results(plan.actions, check_psa_versions):
            results.append(result)
            if self.on_progress is not None:
                self.on_progress(len(results), total)
        return results

    def _results(self, actions: Sequence[Action], check_psa: bool) -> Iterator[ActionResult]:
        """Each action's result in order; consecutive personal writes of a kind are written together."""
        for chunk in chunks(actions):
            if not batchable(chunk[0]):
                yield self._one(chunk[0])
                continue
            for action, done in zip(chunk, self._many(chunk, check_psa), strict=True):
                yield self._audited(done if isinstance(done, ActionResult) else _failed(action, done))

    def _many(self, chunk: list[Action], check_psa: bool) -> Iterator[ActionResult | CalferryError]:
        if chunk[0].kind is ActionKind.CREATE:
            return self.downloads.many(chunk)
        if chunk[0].kind is ActionKind.UPDATE:
            ready = functools.partial(self._update_ready, check_psa=check_psa)
            return batched(chunk, ready, self.personal.update_many, self._updated)
        return batched(chunk, self._delete_ready, self._delete_many, self._deleted)

    def _one(self, action: Action) -> ActionResult:
        if action.kind is ActionKind.SKIP:
            return ActionResult(action, Outcome.SKIPPED)
        if action.kind is ActionKind.CONFLICT:
            return self._audited(ActionResult(action, Outcome.CONFLICT, action.reason))
        try:
            result = self._write(action)
        except CalferryError as exc:
            result = _failed(action, exc)
        return self._audited(result)

    def _write(self, action: Action) -> ActionResult:
        if action.target is Target.PSA:
            if action.kind is ActionKind.CREATE:
                return self._psa_create(action)
            if action.kind is ActionKind.UPDATE:
                return self._psa_update(action)
            return self._psa_delete(action)
        return self._personal_categories(action, _need(action.categories, action))  # the rest: batched

    # --- PSA side (Send, Add, delete_series) ------------------------------------------------

    def _psa_create(self, action: Action) -> ActionResult:
        """R16: claim (B9), journal, create, stamp the PSA id into the personal item, link, settle."""
        item = _need(action.psa_item, action)
        current = self._claimed(action, item) if action.ref else None
        if isinstance(current, ActionResult):
            return current  # left to another device, or linked to what it made
        intent = self.store.journal(
            self.run_id, action.kind.value, action.ref, action.psa_kind, fingerprint(item), action.to_json()
        )
        self.checkpoint("journaled")
        try:
            created = self.psa.create(item)
        except PsaUnavailable:
            raise  # the answer may be lost: the intent stays pending and is reconciled next run (B2)
        except CalferryError:
            self.store.settle(intent, Outcome.FAILED)  # a clear refusal (R33 & co): nothing was created
            self._release(current)
            raise
        self.checkpoint("created")
        if current is not None:
            self._link_created(action, current, created)
        self.store.settle(intent, Outcome.DONE, created.id)
        self.checkpoint("settled")
        return ActionResult(action, Outcome.DONE, psa_id=created.id)

    def _link_created(self, action: Action, current: PersonalItem, created: PsaItem) -> None:
        link = _need(action.link, action)
        stamped = self._stamp(current, link, created)
        self.checkpoint("stamped")
        self.store.save(with_link_versions(link, stamped, created))
        self.checkpoint("linked")

    def _claimed(self, action: Action, item: PsaItem) -> PersonalItem | ActionResult:
        """B9: the personal item with this device's claim on it, or what to report instead of a create."""
        for _ in range(_TRIES):
            current = self._not_yet_sent(action)
            if isinstance(current, ActionResult):
                return current
            held = current.claim
            if held is not None and held.device != self.device:
                if held.fresh(self.now()):
                    return ActionResult(
                        action, Outcome.LEFT, "another device is sending it; left to that device"
                    )
                adopted = self._adopt_abandoned(action, item, current)
                if adopted is not None:
                    return adopted
            claim = Claim(self.device, self.now(), psa_fingerprint(item))
            try:
                return self.personal.set_claim(current.key, claim, current.version)
            except StaleVersion:
                continue  # another device wrote the item meanwhile: look again
        raise StaleVersion(f"{action.ref} kept changing while it was being claimed; try again")

    def _release(self, claimed: PersonalItem | None) -> None:
        """Nothing was created: other devices need not wait for this claim to go stale."""
        if claimed is not None:
            with contextlib.suppress(CalferryError):
                self.personal.set_claim(claimed.key, None, claimed.version)

    def _adopt_abandoned(self, action: Action, item: PsaItem, current: PersonalItem) -> ActionResult | None:
        """A stale claim: its device stopped, maybe after its create; that PSA item is linked, not made twice."""
        match = self._unlinked_match(item)
        if match is None:
            return None
        self._link_created(action, current, match)
        return ActionResult(
            action, Outcome.ADOPTED, "made by a device that stopped before linking it", psa_id=match.id
        )

    def _unlinked_match(self, item: PsaItem) -> PsaItem | None:
        """A PSA item with ``item``'s fingerprint that no link claims yet (the journal's search, B2)."""
        linked = {link.psa for link in self.store.links()}
        matches = [m for m in self.psa.find_matching(item) if _ref(m) not in linked]
        return matches[0] if matches else None

    def _stamp(self, current: PersonalItem, link: Link, created: PsaItem) -> PersonalItem:
        """The stamp replaces this device's claim; a write by another device in between is looked past."""
        stamp = Stamp(psa_kind_of(created), created.id or 0, link.origin, link.company_id)
        for _ in range(_TRIES):
            if current.stamp == stamp:
                return current
            try:
                return self.personal.set_stamp(current.key, stamp, current.version)
            except StaleVersion:
                current = self._same_since(current)
        raise StaleVersion(f"{current.ref} kept changing while it was being stamped")

    def _same_since(self, before: PersonalItem) -> PersonalItem:
        """The item read again after its version moved (e.g. a sibling occurrence was claimed elsewhere);
        StaleVersion if the item itself changed: its content, its claim or its stamp."""
        now = self.personal.get(before.key)
        if (personal_hash(now), now.claim, now.stamp) != (personal_hash(before), before.claim, before.stamp):
            raise StaleVersion(f"{before.ref} changed while it was being sent")
        return now

    def _psa_update(self, action: Action) -> ActionResult:
        """R17: the linked PSA item is updated in place (an idempotent PATCH: no journal needed)."""
        current = self._fresh(action)
        updated = self.psa.update(_need(action.psa_item, action))
        link = _need(action.link, action)
        stamped = self._stamp(current, link, updated)
        self.store.save(with_link_versions(link, stamped, updated))
        return ActionResult(action, Outcome.DONE, psa_id=updated.id)

    def _psa_delete(self, action: Action) -> ActionResult:
        """R22: a sent occurrence's PSA appointment goes with its link."""
        link = _need(action.link, action)
        self.psa.delete(link.psa)
        self.store.remove(link.personal)
        return ActionResult(action, Outcome.DONE)

    # --- personal side (Get, delete_series) --------------------------------------------------

    def _update_ready(self, action: Action, check_psa: bool) -> ActionResult | PersonalItem:
        """R24/R29: PSA data rewrites subject, description and times (private text kept, R18). The
        checks before the write: the update's result already, or the item to write."""
        if action.if_present:
            try:
                current = self.personal.get(action.key)
            except NotFound:
                return ActionResult(
                    action, Outcome.SKIPPED, "deleted in the personal calendar; not re-created"
                )
            if action.personal_hash is not None and personal_hash(current) != action.personal_hash:
                return ActionResult(action, Outcome.CONFLICT, "edited on both sides: your version kept")
        else:
            current = self._fresh(action)
        _need(action.psa_item, action)
        if check_psa:
            self._check_psa_version(action)
        fields = _need(action.fields, action)
        if would_change(current, fields):
            return apply_psa_fields(current, fields)
        self.store.save(with_link_versions(_need(action.link, action), current, action.psa_item))
        return ActionResult(action, Outcome.UNCHANGED)

    def _updated(self, action: Action, _: PersonalItem, written: PersonalItem) -> ActionResult:
        self.store.save(with_link_versions(_need(action.link, action), written, action.psa_item))
        return ActionResult(action, Outcome.DONE)

    def _personal_categories(self, action: Action, categories: tuple[str, ...]) -> ActionResult:
        """The category send's mark (B10), If-Match on the version read after the send; a version moved
        by a write to the same series (its other occurrences' marks) is looked past if the item's content
        is the same. Categories are no part of the content hash: the next run sees no edit in them."""
        version = action.personal_version
        for _ in range(_TRIES):
            try:
                written = self.personal.set_categories(action.key, categories, version)
                break
            except StaleVersion:
                current = self.personal.get(action.key)
                if personal_hash(current) != action.personal_hash:
                    raise
                version = current.version
        else:
            raise StaleVersion(f"{action.ref} kept changing while its category was written")
        if (link := self.store.link_for(action.key)) is not None:
            self.store.save(replace(link, personal_version=written.version))
        return ActionResult(action, Outcome.DONE)

    def _delete_ready(self, action: Action) -> ActionResult | tuple[PersonalItem, int | None]:
        """R25/R8: delete only once the PSA confirms the item is gone; R22: series deletes go as asked.
        The checks and the journal before a delete: its result already (kept, or only the link of an
        item gone already to drop), or the item to delete with its journal entry."""
        if action.verify_gone and self._psa_still_there(action):
            return ActionResult(action, Outcome.KEPT, "still in the PSA, outside the Get window: kept")
        try:
            current = self._fresh(action)
        except NotFound:
            self._drop(action, self._journal_delete(action))
            return ActionResult(action, Outcome.UNCHANGED)
        return current, self._journal_delete(action)

    def _delete_many(self, ready: list[tuple[PersonalItem, int | None]]) -> list[CalferryError | None]:
        return self.personal.delete_many([(current.key, current.version) for current, _ in ready])

    def _deleted(self, action: Action, ready: tuple[PersonalItem, int | None], _: None) -> ActionResult:
        self._drop(action, ready[1])
        return ActionResult(action, Outcome.DONE)

    def _drop(self, action: Action, intent: int | None) -> None:
        """After the delete (or none: the item was gone): its link dropped, its intent settled."""
        self.checkpoint("deleted")
        if action.link is not None:
            self.store.remove(action.link.personal)
        if intent is not None:
            self.store.settle(intent, Outcome.DONE)

    def _journal_delete(self, action: Action) -> int | None:
        """A linked item's delete is journalled, so a crash before the link is dropped is finished next run."""
        if action.link is None:
            return None
        return self.store.journal(
            self.run_id,
            action.kind.value,
            action.ref,
            action.psa_kind,
            {"uid": action.ref},
            action.to_json(),
        )

    def _psa_still_there(self, action: Action) -> bool:
        link = _need(action.link, action)
        try:
            self.psa.get(link.psa)
        except NotFound:
            return False
        return True

    # --- checks ------------------------------------------------------------------------------

    def _fresh(self, action: Action) -> PersonalItem:
        """The personal item now; StaleVersion if it changed since the plan was made.

        A moved version with the same content hash is no change (e.g. a sibling occurrence was stamped).
        """
        current = self.personal.get(action.key)
        expected = action.personal_version
        if expected is None or current.version == expected or personal_hash(current) == action.personal_hash:
            return current
        raise StaleVersion(f"{action.ref} changed since the plan was made; make a new plan")

    def _not_yet_sent(self, action: Action) -> PersonalItem | ActionResult:
        """The personal item of a first send, unless it was sent since the plan was made (never a twin).

        Stamping does not change an item's content hash, so :meth:`_fresh` alone would let a saved plan
        applied twice create a second PSA item: its link shows it was sent already. A stamp the plan
        did not see (the version moved) and no link: another device (or this one, before its store was
        lost) sent it; its link is restored from the stamp (B9).
        """
        current = self._fresh(action)
        link = self.store.link_for(action.key)
        if link is not None:
            raise StaleVersion(
                f"{action.ref} already sent as {link.psa.kind.value} {link.psa.id}; make a new preview"
            )
        if current.stamp is not None and current.version != action.personal_version:
            restored = links_from_stamps([current], self.store.links())
            if not restored:
                raise StaleVersion(f"{action.ref} carries the stamp of an item linked elsewhere")
            self.store.save(restored[0])
            return ActionResult(
                action, Outcome.ADOPTED, "already sent from another device", psa_id=current.stamp.psa_id
            )
        return current

    def _check_psa_version(self, action: Action) -> None:
        link = _need(action.link, action)
        now = self.psa.get(link.psa)
        if psa_version(now) != action.psa_version:
            raise StaleVersion(f"{link.psa} changed in the PSA since the plan was made; make a new plan")

    def _audited(self, result: ActionResult) -> ActionResult:
        """B4: every applied action goes to the audit log."""
        action = result.action
        self.store.audit(
            AuditEntry(
                at=self.now(),
                run_id=self.run_id,
                action=f"{action.kind.value}:{action.target.value}",
                ref=action.ref,
                psa_kind=None if action.psa_kind is None else action.psa_kind.value,
                psa_id=result.psa_id if result.psa_id is not None else action.psa_id,
                outcome=result.outcome,
                message=result.error or action.reason,
                subject=action.title,
                rule=result.rule,
            )
        )
        return result

    # --- recovery (B2) -----------------------------------------------------------------------

    def reconcile(self) -> list[ActionResult]:
        """Settle every pending intent of an interrupted run: adopt what was made, drop what was not."""
        results = []
        for intent in self.store.pending():
            action = Action.from_json(intent.payload)
            if action.target is Target.PSA:
                result = self._reconcile_psa(intent.intent_id, action)
            else:
                result = self._reconcile_personal(intent.intent_id, action)
            results.append(self._audited(result))
        return results

    def _reconcile_psa(self, intent: int, action: Action) -> ActionResult:
        item = _need(action.psa_item, action)
        done = self.store.link_for(action.key) if action.ref else None
        if done is not None and done.psa.id:
            # interrupted after the link was saved: only the journal entry was left open
            self.store.settle(intent, Outcome.DONE, done.psa.id)
            return ActionResult(action, Outcome.ADOPTED, psa_id=done.psa.id)
        stamped = self._stamped_since(action) if action.ref else None
        if stamped is not None:
            # stamped after the create (by the run or an earlier recovery), then interrupted before the
            # link: the stamp names the PSA item, even one deleted in the PSA since (B2, R16)
            self.store.save(stamped)
            self.store.settle(intent, Outcome.DONE, stamped.psa.id)
            return ActionResult(action, Outcome.ADOPTED, psa_id=stamped.psa.id)
        created = self._unlinked_match(item)
        if created is None:
            self.store.settle(intent, Outcome.FAILED)
            return ActionResult(
                action, Outcome.FAILED, "not created before the interruption; it is planned again"
            )
        if action.ref:
            # a personal item gone meanwhile leaves the PSA item as any sent item would stay
            with contextlib.suppress(NotFound):
                self._link_created(action, self.personal.get(action.key), created)
        self.store.settle(intent, Outcome.DONE, created.id)
        return ActionResult(action, Outcome.ADOPTED, psa_id=created.id)

    def _stamped_since(self, action: Action) -> Link | None:
        """The link a stamp written since the plan was made restores (None: no such stamp)."""
        try:
            current = self.personal.get(action.key)
        except NotFound:
            return None
        if current.stamp is None or current.version == action.personal_version:
            return None
        restored = links_from_stamps([current], self.store.links())
        return restored[0] if restored else None

    def _reconcile_personal(self, intent: int, action: Action) -> ActionResult:
        link = _need(action.link, action)
        try:
            present = self.personal.get(action.key)
        except NotFound:
            present = None
        if action.kind is ActionKind.DELETE and present is None:
            self.store.remove(link.personal)
            self.store.settle(intent, Outcome.DONE)
            return ActionResult(action, Outcome.DONE)
        if action.kind is ActionKind.CREATE and present is not None and present.stamp is not None:
            self.store.save(with_link_versions(link, present, action.psa_item))
            self.store.settle(intent, Outcome.DONE, link.psa.id)
            return ActionResult(action, Outcome.ADOPTED)
        self.store.settle(intent, Outcome.FAILED)
        return ActionResult(action, Outcome.FAILED, "not done before the interruption; it is planned again")


def _failed(action: Action, exc: CalferryError) -> ActionResult:
    return ActionResult(action, Outcome.FAILED, str(exc), exc=exc)


def _ref(item: PsaItem) -> PsaRef:
    return PsaRef(psa_kind_of(item), item.id or 0)
