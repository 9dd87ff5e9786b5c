"""Builders shared by the engine's tests: a seeded MemoryPsa, settings, a Service on memory adapters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from calferry.config import Settings
from calferry.links import LinkStore
from calferry.model import (
    ActionType,
    Address,
    Company,
    Contact,
    PersonalItem,
    Resource,
    ServiceCallWork,
    WorkKind,
)
from calferry.personal.memory import MemoryCalendar
from calferry.psa.memory import MemoryPsa
from calferry.service import Service

NOW = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
ME = Resource(7, "Tess", "Tech", "tess@example.com", "tess", "Europe/Berlin")
NO_CRM = Resource(8, "Nils", "NoCrm", "nils@example.com", "nils", "UTC", crm_access=False)
ACME = Company(1, "Acme", Address("1 Main St", city="Springfield", postal_code="12345"))
GLOBEX = Company(2, "Globex")
ALICE = Contact(11, 1, "Alice", "Able")
MEETING_TYPE = ActionType(3, "Meeting")
CALL_TYPE = ActionType(4, "Phone Call")
TICKET = ServiceCallWork(WorkKind.TICKET, 101, "T20260310.0001", "Printer down")


def new_psa(me: Resource = ME) -> MemoryPsa:
    return MemoryPsa(
        me,
        companies=[ACME, GLOBEX],
        contacts=[ALICE],
        action_types=[MEETING_TYPE, CALL_TYPE],
        resources=[ME, NO_CRM],
        work=[TICKET],
    )


def settings(**calendar: Any) -> Settings:
    values: dict[str, Any] = {"enabled": True, "get_past_days": 7, "get_future_days": 30}
    values.update(calendar)
    return Settings.from_dict({"calendar": values, "personal": {"backend": "memory"}})


def at(day: int, hour: int, minutes: int = 0) -> datetime:
    """A March 2026 instant in UTC."""
    return datetime(2026, 3, day, hour, minutes, tzinfo=UTC)


def item(uid: str, day: int = 11, hour: int = 9, hours: int = 1, **fields: Any) -> PersonalItem:
    start = at(day, hour)
    return PersonalItem(uid=uid, start=start, end=start + timedelta(hours=hours), **fields)


class Engine:
    """A Service on memory adapters with a movable clock and a replaceable link store."""

    def __init__(
        self,
        home: Path,
        *,
        calendar: MemoryCalendar | None = None,
        psa: MemoryPsa | None = None,
        **options: Any,
    ) -> None:
        self.home = home
        self.calendar = calendar or MemoryCalendar()
        self.psa = psa or new_psa()
        self.clock = NOW
        self.options = options
        self.store = LinkStore(home / "links.sqlite3")
        self.service = self._service()

    def _service(self, checkpoint: Callable[[str], None] | None = None) -> Service:
        extra: dict[str, Any] = {} if checkpoint is None else {"checkpoint": checkpoint}
        return Service(
            settings(**self.options), self.calendar, self.psa, self.store, lambda: self.clock, **extra
        )

    def with_checkpoint(self, checkpoint: Callable[[str], None]) -> Service:
        return self._service(checkpoint)

    def lose_store(self) -> None:
        """The link store file is deleted (a new machine, a wiped home)."""
        self.store.close()
        for path in self.home.glob("links.sqlite3*"):
            path.unlink()
        self.store = LinkStore(self.home / "links.sqlite3")
        self.service = self._service()

    def reconfigure(self, **options: Any) -> None:
        self.options.update(options)
        self.service = self._service()
