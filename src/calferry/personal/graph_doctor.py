"""Live checks of what Outlook answers where Graph's documentation is silent or public reports disagree.

Read-only: calferry asks, compares with what it relies on, and says what it saw. The checks that need
a write (does a change of calferry's hidden property alone mail a meeting's attendees; is a stale
change key refused) and the one that needs changes over time (removals outside the window) are not
run here; docs/outlook.md says how to run them by hand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from calferry.model import Window
from calferry.personal.graph import GraphCalendar

AS_EXPECTED, DIFFERS, NOT_RUN = "as expected", "differs", "not run"
_BY_HAND = "it needs a write; docs/outlook.md says how to check it by hand"


@dataclass(frozen=True)
class Check:
    """One check: what was asked, how it came out, and what Outlook answered."""

    name: str
    outcome: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def live_checks(calendar: GraphCalendar, window: Window) -> list[Check]:
    return [
        _original_start(calendar, window),
        Check("a stamp alone mails a meeting's attendees", NOT_RUN, _BY_HAND),
        Check("a stale change key is refused", NOT_RUN, _BY_HAND),
        _delta_rows(calendar, window),
        Check("removals outside the window", NOT_RUN, "it needs changes over time; see docs/outlook.md"),
    ]


def _original_start(calendar: GraphCalendar, window: Window) -> Check:
    """calferry needs ``originalStart`` when it asks for it; whether the default answer has it is news."""
    name = "originalStart of occurrences"
    plain = _occurrences(calendar.read("calendarView", window, {"$top": "50"}))
    if not plain:
        return Check(name, NOT_RUN, "no recurring item in the next 30 days to look at")
    select = {"$top": "50", "$select": "id,type,originalStart,occurrenceId"}
    chosen = _occurrences(calendar.read("calendarView", window, select))
    by_default = all("originalStart" in e for e in plain)
    when_asked = bool(chosen) and all(e.get("originalStart") for e in chosen)
    detail = (
        f"{len(plain)} occurrence(s): originalStart {'sent' if by_default else 'left out'} by default, "
        f"{'sent' if when_asked else 'left out'} when asked for; occurrenceId "
        f"{'sent' if all(e.get('occurrenceId') for e in plain) else 'left out'}"
    )
    return Check(name, AS_EXPECTED if when_asked else DIFFERS, detail)


def _delta_rows(calendar: GraphCalendar, window: Window) -> Check:
    """Series masters in a delta round are handled either way; what Outlook sends is recorded."""
    page = calendar.read("calendarView/delta", window, {})
    rows = page.get("value", [])
    masters = sum(1 for e in rows if e.get("type") == "seriesMaster")
    occurrences = len(_occurrences(page))
    detail = f"the first delta page has {masters} series master row(s) and {occurrences} occurrence(s)"
    return Check("series masters in delta", AS_EXPECTED, detail)


def _occurrences(page: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in page.get("value", []) if e.get("type") in ("occurrence", "exception")]
