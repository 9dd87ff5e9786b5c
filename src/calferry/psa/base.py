"""The PSA contract the engine needs, in the user's words.

Implemented by ``calferry.psa.gateway.AutotaskPsa`` (on top of ``AutotaskClient``, talking to the real
Autotask REST API or ``calferry psa serve``) and by ``calferry.psa.memory.MemoryPsa`` (for pure engine
tests). Implementations raise ``calferry.errors`` only. The data they hand over (``PsaSnapshot``,
``PsaMarker``) lives in the core, in :mod:`calferry.contracts`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from calferry.contracts import PsaMarker, PsaSnapshot
from calferry.model import (
    ActionType,
    Company,
    Contact,
    PsaItem,
    PsaKind,
    PsaRef,
    Resource,
    ServiceCallWork,
    Window,
)


class Psa(Protocol):
    """One technician's view of the PSA calendar."""

    def me(self) -> Resource:
        """The logged-in resource (``psa.resource`` in the config), with its time zone and CRM access
        (as far as known: Autotask shows no CRM flag, only refuses a to-do)."""
        ...

    def snapshot(self, window: Window, resource_id: int, kinds: Iterable[PsaKind]) -> PsaSnapshot:
        """Every item of ``kinds`` of the resource overlapping ``window``, with referenced records."""
        ...

    def markers(self, window: Window, resource_id: int, kinds: Iterable[PsaKind]) -> list[PsaMarker]:
        """Ids and change markers only, as cheaply as the API allows (``IncludeFields``)."""
        ...

    def fetch(self, refs: Iterable[PsaRef]) -> PsaSnapshot:
        """The items with these refs that still exist, with the records they refer to: what an
        incremental Get reads of new and changed items, in batched ``in`` queries (never one per item)."""
        ...

    def get(self, ref: PsaRef) -> PsaItem:
        """One item; ``NotFound`` if it was deleted."""
        ...

    def create(self, item: PsaItem) -> PsaItem:
        """Create an appointment, to-do or service call (with its tickets/tasks); returns it with id.

        Never retried blindly: a lost answer surfaces as an error and the engine reconciles (B2).
        ``PermissionDenied`` for a To-Do without CRM access leaves nothing behind (R33).
        """
        ...

    def update(self, item: PsaItem) -> PsaItem:
        """Change the mapped fields of an existing item (PATCH: only what calferry owns)."""
        ...

    def delete(self, ref: PsaRef) -> None:
        """Delete one item; deleting what is already gone is not an error."""
        ...

    def find_matching(self, item: PsaItem) -> list[PsaItem]:
        """Items with the same :func:`calferry.identity.fingerprint` (kind, title or company, start, end,
        resource): used to adopt an item whose create answer was lost instead of creating a twin."""
        ...

    def company(self, id_or_name: str | int) -> Company:
        """A company by id or (unique, case-insensitive) name; ``LookupFailed`` otherwise."""
        ...

    def contact(self, id_or_name: str | int, company_id: int) -> Contact: ...

    def action_type(self, id_or_name: str | int) -> ActionType: ...

    def todo_action_types(self) -> list[ActionType]:
        """The active action types a To-Do may have, by name: what the forms offer to pick."""
        ...

    def contacts_of(self, company_id: int, limit: int = 200) -> list[Contact]:
        """The company's active contacts, by name: the contact suggestions once a company is chosen."""
        ...

    def work(self, kind: str, number_or_title: str, company_id: int | None = None) -> ServiceCallWork:
        """A ticket or task by number or title, for the Add Service Call form (R30); with ``company_id``
        one of another company's is refused (``LookupFailed``)."""
        ...

    def active_companies(self, limit: int = 500) -> list[Company]:
        """Active companies (id and name) sorted by name, at most ``limit``: what a form offers to pick."""
        ...

    def open_work(self, kind: str, limit: int = 50, company_id: int | None = None) -> list[ServiceCallWork]:
        """Tickets or tasks not yet complete (only ``company_id``'s if given), at most ``limit``: the Add
        Service Call form's choices."""
        ...

    def request_counts(self) -> dict[str, int]:
        """Requests sent so far, per ``VERB Entity`` (benchmarks, ``--verbose``, JSON output)."""
        ...

    def warnings(self) -> list[str]:
        """What the user should know about the PSA connection so far (the hourly API budget running
        low), in the user's words; the service adds them to the run's warnings."""
        ...

    def close(self) -> None: ...


class PsaDirectory(Protocol):
    """The PSA's read-only look-ups that pages show (pick lists, names): what a face may ask of the
    PSA through the service; every :class:`Psa` is one."""

    def company(self, id_or_name: str | int) -> Company: ...

    def contact(self, id_or_name: str | int, company_id: int) -> Contact: ...

    def action_type(self, id_or_name: str | int) -> ActionType: ...

    def todo_action_types(self) -> list[ActionType]: ...

    def contacts_of(self, company_id: int, limit: int = 200) -> list[Contact]: ...

    def active_companies(self, limit: int = 500) -> list[Company]: ...

    def open_work(
        self, kind: str, limit: int = 50, company_id: int | None = None
    ) -> list[ServiceCallWork]: ...
