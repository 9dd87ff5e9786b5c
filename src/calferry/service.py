"""The use cases the CLI and the web UI share: fetch, plan, apply, report. Callers only parse and render.

:func:`calferry.wiring.open_service` builds the configured adapters and takes the run lock; tests
build a ``Service`` directly from a ``MemoryCalendar`` and a ``MemoryPsa``. :class:`Records` (from
:func:`calferry.wiring.open_records`) is status and the audit log from the link store alone. Every run first reconciles the
journal of an interrupted run (B2) and restores links from stamps if the store was lost.

Get is incremental (B3, :mod:`calferry.incremental`): the last Get's view of both sides inside the
window (R26) is kept in the link store's state; the next Get asks the personal calendar for changes
since its token and the PSA for ids and change markers only, fetches in full (batched by id) just the
new and changed PSA items, and plans from the merged view exactly what a full read would plan. Without
a fitting cache (first run, another day's window, a refused token) both sides are read in full. After
its own writes a Get takes them into the cache, so the next Get does not read them back.

One module past 500 lines on purpose: every use case shares the run's opening (lock, journal
reconciliation, links restored from stamps), the applier and the reporting of outcomes; apart, each
would repeat that sequence, which is where a missed reconcile would hide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from calferry import localtime
from calferry.apply import Applier, Checkpoint, Progress
from calferry.config import Settings
from calferry.contracts import Problem, PsaSnapshot
from calferry.errors import (
    CalferryError,
    ConfigError,
    InputError,
    IntegrationDisabled,
    LookupFailed,
    NotFound,
    UserError,
)
from calferry.identity import psa_version
from calferry.incremental import GetCache, in_order, merged_personal, merged_psa, reusable
from calferry.links import AuditEntry, LinkRecords, links_from_stamps
from calferry.mapping import PersonalFields, SendChoice, personal_hash
from calferry.model import (
    ActionType,
    ItemKey,
    Link,
    Outcome,
    PersonalItem,
    Policy,
    PsaKind,
    PsaRef,
    PsaServiceCall,
    PsaToDo,
    Resource,
    Window,
    WorkKind,
    format_recurrence_id,
    parse_recurrence_id,
    psa_kind_of,
)
from calferry.personal.base import PersonalCalendar
from calferry.plan import (
    GetOptions,
    ItemState,
    NewItem,
    Plan,
    SendOptions,
    Target,
    item_state,
    plan_add,
    plan_delete_series,
    plan_get,
    plan_resolve,
    plan_send,
)
from calferry.plan_categories import (
    CategoryNames,
    SendError,
    SendOutcome,
    marked,
    outcome_of,
    plan_categories,
    planned_outcomes,
    send_errors,
)
from calferry.psa.base import Psa, PsaDirectory
from calferry.results import ActionResult as ActionResult  # the results the faces render come from here
from calferry.results import RunResult as RunResult

_GET_CACHE = "get_cache"
"""The link store state key of the last Get's view (:class:`GetCache`)."""

LOG_MAX = 1000
"""The most audit log entries one request shows (the CLI and the page)."""

_TIME_ZONE = "time_zone"
"""The link store state key of the technician's zone as last learnt from the PSA."""


@dataclass(frozen=True)
class _GetRead:
    """What a Get planned from: the view to keep for the next Get, the PSA snapshot, the links."""

    view: GetCache
    psa: PsaSnapshot
    links: list[Link]
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class Listing:
    """``items``' answer: the personal items with their state, and what could not be read."""

    items: list[ItemState]
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class AddForm:
    """The Add form (R30) as entered: the company, contact, action type, tickets and tasks by id or by
    name, still to be found in the PSA; times without a zone are the technician's wall-clock times."""

    kind: PsaKind
    title: str = ""
    start: datetime | None = None
    end: datetime | None = None
    description: str = ""
    company: str | int | None = None
    contact: str | int | None = None
    action_type: str | int | None = None
    tickets: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()


def _no_checkpoint(step: str) -> None:
    """Production runs have no crash hook."""


@dataclass(frozen=True)
class Records:
    """Status and the audit log: the settings and the link store only, no calendar and no PSA.

    So ``status`` and ``log`` answer on a home that is disabled, not configured yet, or offline.
    """

    settings: Settings
    store: LinkRecords
    calendar_url: str = ""
    """Where the settings' personal calendar is, in words (the composition root fills it in)."""
    psa_url: str = ""
    """The PSA address in use, in words."""

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.settings.calendar.enabled,
            "backends": {
                "personal": self.settings.personal.backend,
                "psa": self.settings.psa.base_url or "zone lookup",
            },
            "calendar_url": self.calendar_url,
            "psa_url": self.psa_url,
            "resource": self.settings.psa.resource or None,
            "links": self.store.counts(),
            "pending_intents": len(self.store.pending()),
            "last_run": self.store.get_state("last_run"),
        }

    def log(self, limit: int = 50, offset: int = 0, search: str = "") -> list[AuditEntry]:
        return self.store.log(limit, offset, search)

    def time_zone(self) -> str:
        """The technician's zone as last learnt from the PSA (UTC before any run asked it)."""
        return str(self.store.get_state(_TIME_ZONE) or "UTC")


class Service:
    """Send, Get, Add, delete a series, resolve a conflict, status and log: for one person."""

    def __init__(
        self,
        settings: Settings,
        personal: PersonalCalendar,
        psa: Psa,
        store: LinkRecords,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        checkpoint: Checkpoint = _no_checkpoint,
        on_progress: Progress | None = None,
        read_only: bool = False,
    ) -> None:
        self.settings = settings
        self.read_only = read_only
        self.personal = personal
        self.psa = psa
        self.store = store
        self.now = now
        self.checkpoint = checkpoint
        self.on_progress = on_progress
        self._me: Resource | None = None

    # --- reading -------------------------------------------------------------------------------

    def items(self, start: date | None = None, end: date | None = None) -> list[ItemState]:
        """Personal items of the days [start, end] in the technician's zone (default: the Get window)
        with their transfer state."""
        return self.listing(start, end).items

    def listing(self, start: date | None = None, end: date | None = None) -> Listing:
        """``items`` and the problems met reading the personal calendar (what was left out, and why).

        Read-only (B1), like the previews: links restored from stamps are used, not saved."""
        with self._reading():
            return self._listing(start, end)

    def _listing(self, start: date | None, end: date | None) -> Listing:
        window = self._window() if start is None or end is None else self._days(start, end)
        snapshot = self.personal.snapshot(window)
        links = {link.personal: link for link in self._links(snapshot.items)}
        conflicts = set(self.store.get_state("conflicts") or ())
        states = [item_state(item, links.get(item.key), conflicts) for item in snapshot.items]
        return Listing(states, snapshot.problems)

    def status(self) -> dict[str, Any]:
        return Records(self.settings, self.store).status()

    def log(self, limit: int = 50) -> list[AuditEntry]:
        return Records(self.settings, self.store).log(limit)

    def time_zone(self) -> str:
        """The technician's zone: the PSA resource's, in which times are read, shown and days cut.

        It is remembered in the link store, so pages still show times right (and say in which zone)
        while the PSA cannot be asked.
        """
        try:
            zone = localtime.zone_info(self._resource().time_zone).key  # a name no zone has: UTC, said so
        except UserError:
            return Records(self.settings, self.store).time_zone()
        self._remember_zone(zone)
        return zone

    def _remember_zone(self, zone: str) -> None:
        """Kept for pages that show times while the PSA cannot be asked (the audit log); a preview
        writes nothing."""
        if not self.read_only and self.store.get_state(_TIME_ZONE) != zone:
            self.store.set_state(_TIME_ZONE, zone)

    # --- what the faces show beside the use cases ---------------------------------------------

    def directory(self) -> PsaDirectory:
        """The PSA's look-ups for pick lists and names; read-only, so no page writes past the planner."""
        return self.psa

    def default_action_type(self) -> str:
        """R14: the options' default action type, as set (a name or an id)."""
        return self.settings.calendar.default_action_type

    def link_for(self, key: ItemKey) -> Link | None:
        """What the last send or Get of ``key`` recorded (R17), if anything."""
        return self.store.link_for(key)

    def personal_item(self, key: ItemKey) -> PersonalItem:
        return self.personal.get(key)

    def key_of(self, outlook_id: str) -> ItemKey:
        """The item Outlook names by its own id (the add-in's selection): only Outlook knows its ids."""
        key_of = getattr(self.personal, "key_of", None)
        if key_of is None:
            raise ConfigError(
                "the Outlook add-in needs calferry to use your Outlook calendar",
                hint="choose Outlook (Microsoft 365) as your own calendar in the options",
            )
        key: ItemKey = key_of(outlook_id)
        return key

    def request_counts(self) -> dict[str, int]:
        """PSA requests sent so far, per ``VERB Entity`` (``--verbose``, JSON output)."""
        return self.psa.request_counts()

    # --- Send (R3, R13-R22) --------------------------------------------------------------------

    def preview_send(
        self,
        refs: Sequence[str] = (),
        choice: SendChoice | None = None,
        *,
        kind: PsaKind | str | None = None,
        company: str | int | None = None,
        contact: str | int | None = None,
        action_type: str | int | None = None,
        series_uid: str | None = None,
        series_from: date | None = None,
        series_to: date | None = None,
    ) -> Plan:
        """B1: what a Send of the selected items (or a series' occurrences in a range) would do."""
        with self._reading():
            return self._plan_send(
                refs, choice, kind, company, contact, action_type, series_uid, series_from, series_to
            )

    def _plan_send(
        self,
        refs: Sequence[str],
        choice: SendChoice | None,
        kind: PsaKind | str | None,
        company: str | int | None,
        contact: str | int | None,
        action_type: str | int | None,
        series_uid: str | None,
        series_from: date | None,
        series_to: date | None,
    ) -> Plan:
        """A Send's plan; on a run, links restored from stamps on the way are kept."""
        items = self._selected(refs, series_uid, series_from, series_to)
        return self._plan_items(items, self._send_options(choice, kind, company, contact, action_type, items))

    def _plan_items(self, items: Sequence[PersonalItem], options: SendOptions) -> Plan:
        links = self._links(items)
        versions = self._psa_versions(items, links)
        plan = plan_send(items, links, self._resource(), options, self.now(), versions)
        return self._noting_pending(plan)

    def _psa_versions(self, items: Sequence[PersonalItem], links: Sequence[Link]) -> dict[PsaRef, str | None]:
        """R17: the PSA versions now of linked items not edited since the last send, in one batched read.

        Only those can turn out unchanged on both sides (and be skipped); edited ones are updated anyway.
        """
        by_key = {link.personal: link for link in links}
        refs = [
            link.psa
            for i in items
            if (link := by_key.get(i.key)) is not None
            and link.psa_version is not None
            and link.psa.kind is not PsaKind.SERVICE_CALL
            and personal_hash(i) == link.personal_hash
        ]
        if not refs:
            return {}
        return {PsaRef(psa_kind_of(p), p.id or 0): psa_version(p) for p in self.psa.fetch(refs).items}

    def send(
        self,
        refs: Sequence[str] = (),
        choice: SendChoice | None = None,
        *,
        kind: PsaKind | str | None = None,
        company: str | int | None = None,
        contact: str | int | None = None,
        action_type: str | int | None = None,
        series_uid: str | None = None,
        series_from: date | None = None,
        series_to: date | None = None,
        plan: Plan | None = None,
    ) -> RunResult:
        """R13/R16/R17: send the selected items; a saved ``plan`` is applied exactly (stale actions fail)."""
        self._require_enabled("Send")
        recovered = self._reconcile()
        saved = plan is not None
        if plan is None:
            plan = self._plan_send(
                refs, choice, kind, company, contact, action_type, series_uid, series_from, series_to
            )
        return self._run(_expect(plan, "send"), recovered, saved=saved)

    # --- the category send (B10, R3) -----------------------------------------------------------

    def preview_send_by_category(self, names: CategoryNames) -> tuple[Plan, Plan]:
        """B1: the send of the items carrying the send category, and the category writes it would make
        if every planned write succeeded."""
        with self._reading():
            items = marked(self._listed(), names)
            send = self._plan_items(items, self._send_options(None, None, None, None, None, items))
            outcomes = planned_outcomes(send)
            return send, plan_categories(items, self._masters(items), outcomes, names, self.now())

    def send_by_category(self, names: CategoryNames) -> CategorySend:
        """R3: send exactly the items the technician gave the send category, then mark each with the
        sent or the error category (see :mod:`calferry.plan_categories`)."""
        self._require_enabled("Send")
        recovered = self._reconcile()
        listed = self._listed()
        items = marked(listed, names)
        erring = {ref for i in listed if names.erring(i.categories) for ref in (i.ref, i.uid)}
        result, outcomes = self._send_marked(items, names, recovered)
        errors = send_errors(items, outcomes, self.now())
        tried = frozenset(i.ref for i in items)
        return CategorySend(result, errors, frozenset(erring | {e.ref for e in errors}), tried)

    def _send_marked(
        self, items: Sequence[PersonalItem], names: CategoryNames, recovered: list[ActionResult]
    ) -> tuple[RunResult, list[SendOutcome]]:
        """The send, then the category writes planned from its outcomes on the items read again."""
        if not items:
            return RunResult(recovered), []
        plan = self._plan_items(items, self._send_options(None, None, None, None, None, items))
        result = self._run(plan, recovered, saved=False)
        refs = {i.ref for i in items}
        outcomes = [
            outcome_of(r.action, r.outcome, r.error) for r in result.last_results() if r.action.ref in refs
        ]
        fresh = self._fresh_items(o.ref for o in outcomes if o.sent is not None)
        marks = plan_categories(fresh, self._masters(fresh), outcomes, names, self.now())
        written = self._run(marks, [], saved=False)
        result.results.extend(written.results)
        result.requests = written.requests
        return result, outcomes

    def _listed(self) -> tuple[PersonalItem, ...]:
        """The personal items of the Get window: the last Get's view plus the changes since, if it fits."""
        me = self._resource()
        window = self._window(me.time_zone)
        cache = GetCache.from_json(self.store.get_state(_GET_CACHE))
        fitting = (
            cache
            if cache is not None and cache.fits(window, me.id, self.settings.calendar.get_kinds)
            else None
        )
        return self._read_personal(window, fitting)[0]

    def _masters(self, items: Sequence[PersonalItem]) -> dict[str, PersonalItem]:
        """The series masters of the recurring items, by uid (one read per series)."""
        return {uid: self.personal.get(ItemKey(uid)) for uid in sorted({i.uid for i in items if i.recurring})}

    def _fresh_items(self, refs: Iterable[str]) -> list[PersonalItem]:
        """The items as they are after the send (its claim and stamp moved their versions); gone ones left out."""
        found = []
        for ref in refs:
            with suppress(NotFound):
                found.append(self.personal.get(ItemKey.from_ref(ref)))
        return found

    # --- Get (R4, R5, R8, R23-R29) -------------------------------------------------------------

    def preview_get(self, policy: Policy | None = None, force_delete: bool = False) -> Plan:
        """B1: what a Get would do; raises a guard error instead of planning a likely mass deletion."""
        with self._reading():
            return self._plan_get(self._read_get(), policy, force_delete)

    def _plan_get(self, read: _GetRead, policy: Policy | None, force_delete: bool) -> Plan:
        options = GetOptions(
            kinds=self.settings.calendar.get_kinds,
            policy=policy or self.settings.calendar.conflict_policy,
            delete_threshold=self.settings.calendar.delete_threshold,
            force_delete=force_delete,
            time_zone=self._resource().time_zone,
            device=str(self.store.get_state("device") or "") if self.read_only else self.store.device_id(),
            unreadable=sum(1 for p in read.problems if p.skipped),
        )
        view = read.view
        plan = plan_get(view.personal, read.psa, read.links, view.window, options, self.now())
        plan = replace(plan, warnings=(*plan.warnings, *(str(p) for p in read.problems)))
        return self._noting_pending(plan)

    def _read_get(self) -> _GetRead:
        """Both sides inside the window: the last Get's view plus what changed since, else full reads."""
        me_in_psa = self._resource()
        window, me, kinds = self._window(me_in_psa.time_zone), me_in_psa.id, self.settings.calendar.get_kinds
        cache = GetCache.from_json(self.store.get_state(_GET_CACHE))
        fitting = cache if cache is not None and cache.fits(window, me, kinds) else None
        personal, token, problems = self._read_personal(window, fitting)
        links = self._links(personal)
        psa = self._read_psa(window, me, fitting, links)
        if _unlinked(psa, links):
            personal, token = self._caught_up(window, personal, token)
            links = self._links(personal)
        view = GetCache(window, me, tuple(kinds), token, personal, psa.items)
        if view != cache and not self.read_only:
            self.store.set_state(_GET_CACHE, view.to_json())
        return _GetRead(view, psa, links, problems)

    def _read_personal(
        self, window: Window, cache: GetCache | None
    ) -> tuple[tuple[PersonalItem, ...], str | None, tuple[Problem, ...]]:
        """Changes since the cached token on top of the cached items; a full listing when uncertain."""
        if cache is not None:
            changes = self.personal.changes(window, cache.token)
            merged = merged_personal(cache.personal, changes)
            if merged is not None:
                return merged, changes.token, changes.problems
        snapshot = self.personal.snapshot(window)
        return in_order(snapshot.items), snapshot.token, snapshot.problems

    def _caught_up(
        self, window: Window, personal: tuple[PersonalItem, ...], token: str | None
    ) -> tuple[tuple[PersonalItem, ...], str | None]:
        """B9: the personal side read again after the PSA, when the PSA has items not linked here.

        A device sending an item claims it before making its PSA copy, so any copy the PSA read found
        has its claim (or, later, its stamp) in this read: the Get links or leaves it, never copies it.
        """
        changes = self.personal.changes(window, token)
        merged = merged_personal(personal, changes)
        if merged is None:
            snapshot = self.personal.snapshot(window)
            return in_order(snapshot.items), snapshot.token
        return merged, changes.token

    def _read_psa(self, window: Window, me: int, cache: GetCache | None, links: list[Link]) -> PsaSnapshot:
        """Markers only, then the new and changed items by id; the full snapshot without a cache."""
        kinds = self.settings.calendar.get_kinds
        if cache is None:
            return self.psa.snapshot(window, me, kinds)
        markers = self.psa.markers(window, me, kinds)
        kept = reusable(markers, cache.psa, links)
        fetched = self.psa.fetch([m.ref for m in markers if m.ref not in kept])
        return merged_psa(markers, kept, fetched)

    def _absorb_own_writes(self, view: GetCache) -> None:
        """The Get's own writes go into the cache, so the next Get does not read them back as changes."""
        changes = self.personal.changes(view.window, view.token)
        merged = merged_personal(view.personal, changes)
        kept = None if merged is None else replace(view, token=changes.token, personal=merged).to_json()
        self.store.set_state(_GET_CACHE, kept)

    def get(
        self, policy: Policy | None = None, force_delete: bool = False, plan: Plan | None = None
    ) -> RunResult:
        """R23-R25: bring PSA items into the personal calendar; conflicts are reported (R5-B)."""
        self._require_enabled("Get")
        recovered = self._reconcile()
        saved = plan is not None
        read = None
        if plan is None:
            read = self._read_get()
            plan = self._plan_get(read, policy, force_delete)
        result = self._run(_expect(plan, "get"), recovered, saved=saved)
        if read is not None and any(a.target is Target.PERSONAL for a in plan.actions):
            self._absorb_own_writes(read.view)
        conflicts = [r.action.ref for r in result.results if r.outcome is Outcome.CONFLICT]
        self.store.set_state("conflicts", conflicts)
        return result

    # --- Add (R30-R32) -------------------------------------------------------------------------

    def preview_add(self, form: AddForm) -> Plan:
        """B1: the PSA item Add would create, its names found in the PSA and its fields checked (R30)."""
        kind, company = form.kind, form.company
        company_id = None if company is None or kind is PsaKind.APPOINTMENT else self.psa.company(company).id
        new = NewItem(kind, form.title, form.start, form.end, form.description, company_id)
        if company_id is not None and kind is PsaKind.TODO:
            contact_id = None if form.contact is None else self.psa.contact(form.contact, company_id).id
            action = self.todo_action_type(form.action_type or self.settings.calendar.default_action_type)
            new = replace(new, contact_id=contact_id, action_type_id=action.id)
        if company_id is not None and kind is PsaKind.SERVICE_CALL:
            found = [self.psa.work(WorkKind.TICKET.value, t, company_id) for t in form.tickets]
            found += [self.psa.work(WorkKind.TASK.value, t, company_id) for t in form.tasks]
            new = replace(new, work=tuple(found))
        return plan_add(new, self._resource(), self.now())

    def add(self, form: AddForm) -> RunResult:
        """R30: create a PSA item from the form's fields, then R31: the automatic Get."""
        self._require_enabled("Add")
        plan = self.preview_add(form)
        created = self._run(plan, [], saved=False)
        failed = created.failed
        if failed and failed[0].exc is not None:
            raise failed[0].exc  # R33 and other refusals: a clear error, nothing half-made
        fetched = self.get()
        created.results.extend(fetched.results)
        created.requests = fetched.requests
        created.warnings.extend(fetched.warnings)
        return created

    def todo_action_type(self, id_or_name: str | int) -> ActionType:
        """An action type a To-Do may have: it exists in the PSA, is active and is not calendar-only."""
        found = self.psa.action_type(id_or_name)
        if not found.active:
            raise LookupFailed(f"the action type {found.name!r} is inactive in the PSA")
        if not found.for_todos:
            raise LookupFailed(f"the action type {found.name!r} is not one the PSA offers for To-Dos")
        return found

    # --- delete a series (R22), resolve a conflict (R5-B) --------------------------------------

    def preview_delete_series(self, series_uid: str, occurrence: str | None = None) -> Plan:
        """B1: what deleting one or all occurrences of a series would do, on both sides."""
        key = ItemKey(series_uid, None if occurrence is None else _recurrence_id(occurrence))
        try:
            found: PersonalItem | None = self.personal.get(key)
        except NotFound:
            found = None
        return plan_delete_series(key, found, self.store.links(), self.now())

    def delete_series(self, series_uid: str, occurrence: str | None = None) -> RunResult:
        """R22: one or all occurrences of a series, on both sides, in one command."""
        self._require_enabled("Delete")
        recovered = self._reconcile()
        return self._run(self.preview_delete_series(series_uid, occurrence), recovered, saved=False)

    def preview_resolve(self, ref: str, keep: str) -> Plan:
        """B1: what settling a conflict would do: keep "personal" is a Send of it (R17), keep "psa" an
        overwrite of the personal item with the PSA's version (R24)."""
        link = self._linked(ref)
        if keep == "personal":
            return self.preview_send([ref])
        if keep == "psa":
            return self._take_psa(link)
        raise InputError(f"keep must be 'personal' or 'psa', not {keep!r}")

    def resolve_conflict(self, ref: str, keep: str) -> RunResult:
        """The Conflicts page: keep "personal" sends it (R17); keep "psa" overwrites the personal item (R24)."""
        self._require_enabled("Send" if keep == "personal" else "Get")
        recovered = self._reconcile() if keep == "personal" else []
        result = self._run(self.preview_resolve(ref, keep), recovered, saved=False)
        remaining = [r for r in (self.store.get_state("conflicts") or ()) if r != ref]
        self.store.set_state("conflicts", remaining)
        return result

    def conflict_versions(self, ref: str) -> tuple[PersonalItem, PersonalFields]:
        """Both sides of a conflict, for the Conflicts page: the personal item as it is now, and what
        taking the PSA's version would write into it."""
        link = self._linked(ref)
        fields = self._take_psa(link).actions[0].fields
        assert fields is not None  # plan_resolve always renders them
        return self.personal.get(link.personal), fields

    def _linked(self, ref: str) -> Link:
        link = self.store.link_for(ItemKey.from_ref(ref))
        if link is None:
            raise NotFound(f"{ref} is not linked to a PSA item", side="personal")
        return link

    def _take_psa(self, link: Link) -> Plan:
        """The PSA item of ``link`` and the records its rendering names, read one by one (R28)."""
        item = self.psa.get(link.psa)
        snapshot = PsaSnapshot((item,))
        if isinstance(item, PsaToDo | PsaServiceCall):
            snapshot.companies[item.company_id] = self.psa.company(item.company_id)
        if isinstance(item, PsaToDo):
            snapshot.action_types[item.action_type_id] = self.psa.action_type(item.action_type_id)
            if item.contact_id is not None:
                snapshot.contacts[item.contact_id] = self.psa.contact(item.contact_id, item.company_id)
        return plan_resolve(link, snapshot, self._resource().time_zone, self.now())

    # --- internals -----------------------------------------------------------------------------

    def _require_enabled(self, what: str) -> None:
        require_enabled(self.settings, what)

    def _applier(self) -> Applier:
        if self.read_only:
            raise CalferryError("a read-only service cannot apply anything (it holds no run lock)")
        return Applier(
            self.personal,
            self.psa,
            self.store,
            now=self.now,
            checkpoint=self.checkpoint,
            on_progress=self.on_progress,
        )

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """B1: a preview changes nothing, also on a service that holds the run lock (the web pages):
        no restored link, no Get cache, no device name, no zone is saved while it reads."""
        was, self.read_only = self.read_only, True
        try:
            yield
        finally:
            self.read_only = was

    def _reconcile(self) -> list[ActionResult]:
        return self._applier().reconcile()

    def _run(self, plan: Plan, recovered: list[ActionResult], *, saved: bool) -> RunResult:
        results = self._applier().apply(plan, check_psa_versions=saved)
        self.store.set_state(
            "last_run",
            {"operation": plan.operation, "at": self.now().isoformat(), **RunResult(results).outcomes()},
        )
        warnings = [*plan.warnings, *self.psa.warnings()]  # e.g. the hourly API budget running low (B3)
        return RunResult(recovered + results, self.psa.request_counts(), warnings)

    def _links(self, items: Sequence[PersonalItem]) -> list[Link]:
        """The stored links, restored from stamps where the store lost them (never re-created in the PSA)."""
        known = self.store.links()
        restored = links_from_stamps(items, known)
        for link in restored if not self.read_only else ():
            self.store.save(link)
        return known + restored

    def _noting_pending(self, plan: Plan) -> Plan:
        pending = len(self.store.pending())
        if not pending:
            return plan
        note = f"{pending} interrupted write(s) will be reconciled first; the plan may shrink"
        return Plan(plan.operation, plan.actions, plan.created, (*plan.warnings, note))

    def _resource(self) -> Resource:
        if self._me is None:
            self._me = self.psa.me()
            self._remember_zone(localtime.zone_info(self._me.time_zone).key)
        return self._me

    def _window(self, zone: str | None = None) -> Window:
        """R26 in whole days of the technician's zone."""
        cal = self.settings.calendar
        now = self.now().astimezone(localtime.zone_info(zone or self.time_zone()))
        return Window.around(now, cal.get_past_days, cal.get_future_days)

    def _days(self, start: date | None, end: date | None) -> Window:
        """The days ``start`` to ``end`` inclusive, cut at the technician's midnights."""
        if start is None or end is None:
            raise InputError("give both a start and an end date")
        return localtime.days(start, end, self.time_zone())

    def _selected(
        self, refs: Sequence[str], series_uid: str | None, start: date | None, end: date | None
    ) -> list[PersonalItem]:
        """R13: exactly the items the person selected, or the occurrences of a series inside a range (R20)."""
        items = [self.personal.get(ItemKey.from_ref(ref)) for ref in refs]
        if series_uid is not None:
            window = self._days(start, end) if start and end else self._window()
            found = [i for i in self.personal.snapshot(window).items if i.uid == series_uid and i.recurring]
            if not found:
                raise NotFound(f"series {series_uid} has no occurrences in that range", side="personal")
            items.extend(found)
        if not items:
            raise InputError(
                "select at least one item to send", hint="name the items, or a recurring series", rule="R13"
            )
        return items

    def _send_options(
        self,
        choice: SendChoice | None,
        kind: PsaKind | str | None,
        company: str | int | None,
        contact: str | int | None,
        action_type: str | int | None,
        items: Sequence[PersonalItem],
    ) -> SendOptions:
        """R14: names or ids resolved in the PSA; the default action type only when a To-Do may need it."""
        chosen = PsaKind(kind) if kind is not None else (choice.kind if choice else None)
        company_id = (
            self.psa.company(company).id if company is not None else (choice.company_id if choice else None)
        )
        contact_id = choice.contact_id if choice else None
        if contact is not None:
            if company_id is None:
                raise LookupFailed("a contact is looked up within a company", hint="choose the company too")
            contact_id = self.psa.contact(contact, company_id).id
        action_id = (
            self.todo_action_type(action_type).id
            if action_type is not None
            else (choice.action_type_id if choice else None)
        )
        default = None
        if action_id is None and self._may_be_todo(chosen, items):
            default = self.todo_action_type(self.settings.calendar.default_action_type).id
        return SendOptions(chosen, company_id, contact_id, action_id, default)

    def _may_be_todo(self, kind: PsaKind | None, items: Sequence[PersonalItem]) -> bool:
        if kind is PsaKind.TODO:
            return True
        links = [self.store.link_for(i.key) for i in items]
        return any(link and link.psa.kind is PsaKind.TODO and link.action_type_id is None for link in links)


@dataclass(frozen=True)
class CategorySend:
    """A category send's report: what was done, the items not sent and why, the refs (and series uids)
    carrying the error category, and the items tried (their earlier errors are replaced)."""

    result: RunResult
    errors: tuple[SendError, ...]
    erring: frozenset[str]
    tried: frozenset[str]


def require_enabled(settings: Settings, what: str) -> None:
    """R1: nothing is sent or fetched while calendar integration is disabled."""
    if not settings.calendar.enabled:
        raise IntegrationDisabled(
            f"{what} refused: calendar integration is disabled",
            hint="turn it on in the options: calferry config enable, or the Options page",
        )


def _unlinked(psa: PsaSnapshot, links: Sequence[Link]) -> bool:
    linked = {link.psa for link in links}
    return any(PsaRef(psa_kind_of(item), item.id or 0) not in linked for item in psa.items)


def _recurrence_id(text: str) -> str:
    """An occurrence's recurrence id in the form its refs use (the ``Z`` may be left out)."""
    try:
        canonical = format_recurrence_id(parse_recurrence_id(text))
    except ValueError:
        canonical = ""
    if canonical.rstrip("Z") != text.rstrip("Z"):
        raise InputError(
            f"{text!r} is not a recurrence id",
            hint="give it as in the occurrence's ref after '@', e.g. 20261130T140000Z (20261130 if all-day)",
        )
    return canonical


def _expect(plan: Plan, operation: str) -> Plan:
    if plan.operation != operation:
        raise InputError(f"this is a {plan.operation} plan, not a {operation} plan")
    return plan
