"""Shared pieces of the personal-calendar contract suite: the seed, and the adapter registry.

To run the contract suite on another adapter, a fixture plugin (``tests/fixtures/<name>.py``) adds
one entry to ``PERSONAL_FACTORIES`` (adapter name -> name of a fixture) and defines that fixture; it
returns a :class:`CalendarFactory`. Example for Microsoft Graph::

    from tests.contract.personal_support import PERSONAL_FACTORIES, CalendarFactory, Seed

    PERSONAL_FACTORIES["graph"] = "graph_personal_factory"

    @pytest.fixture
    def graph_personal_factory(graph_standin) -> CalendarFactory:
        ...  # make(seed) loads seed.items and seed.series into a fresh mailbox and opens it

The suite then runs every contract test once more with ``[graph]`` in its id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from calferry.model import PersonalItem
from calferry.personal import ical
from calferry.personal.base import PersonalCalendar
from calferry.personal.memory import MemoryCalendar

PERSONAL_FACTORIES: dict[str, str] = {
    "memory": "memory_personal_factory",
    "ics": "ics_personal_factory",
    "caldav": "caldav_personal_factory",
}
"""Adapter name -> fixture returning a CalendarFactory; fixture plugins add theirs."""

BERLIN = ZoneInfo("Europe/Berlin")
SEEDED_AT = datetime(2026, 2, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SeriesSeed:
    """A recurring series to seed: master (its first occurrence), RRULE, excluded and changed occurrences."""

    master: PersonalItem
    rrule: str
    exdates: tuple[date | datetime, ...] = ()
    overrides: tuple[PersonalItem, ...] = ()


@dataclass(frozen=True)
class Seed:
    items: tuple[PersonalItem, ...] = ()
    series: tuple[SeriesSeed, ...] = field(default=())


@dataclass
class CalendarFactory:
    """``make(seed)`` opens a fresh calendar holding the seed; ``reopen()`` opens it again from storage."""

    make: Callable[[Seed], PersonalCalendar]
    reopen: Callable[[], PersonalCalendar]


def seed_ical(seed: Seed) -> bytes:
    """The seed as one VCALENDAR (for a file or a whole-collection PUT)."""
    resources = [ical.new_resource(item, SEEDED_AT) for item in seed.items]
    resources += [
        ical.series_resource(s.master, s.rrule, SEEDED_AT, s.exdates, s.overrides) for s in seed.series
    ]
    return ical.calendar_text(resources)


def seed_memory(seed: Seed) -> MemoryCalendar:
    calendar = MemoryCalendar(seed.items)
    for series in seed.series:
        calendar.add_series(series.master, series.rrule, series.exdates, series.overrides)
    return calendar
