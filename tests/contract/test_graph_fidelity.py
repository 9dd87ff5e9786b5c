"""The Graph adapter against the stand-in where the real Graph differs from what was first believed.

Each test names the finding of the fidelity review (docs/outlook.md, "What we could not verify
without a live tenant") it proves; the stand-in answers as the real service does there.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from hypothesis import given
from hypothesis import strategies as st

from calferry.model import Window
from calferry.personal import graph
from tests.fixtures.graph_standin import TOKEN, GraphStandin

WINDOW = Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
NINE = datetime(2026, 11, 2, 9, tzinfo=UTC)
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Pacific/Auckland", "Asia/Kolkata"]


# --- originalStart is not in Graph's default projection ------------------------------------------


def test_the_stand_in_leaves_original_start_out_unless_it_is_selected(graph_standin: GraphStandin) -> None:
    master = graph_standin.seed_series("Stand-up", NINE, NINE + timedelta(minutes=15), 2)
    url = f"{graph_standin.url}/me/events/{master['id']}/instances"
    window = {"startDateTime": "2026-11-01T00:00:00Z", "endDateTime": "2026-12-01T00:00:00Z"}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    plain = httpx.get(url, params=window, headers=auth).json()["value"]
    chosen = httpx.get(url, params={**window, "$select": "id,originalStart"}, headers=auth).json()["value"]
    assert all("originalStart" not in e and e["occurrenceId"].startswith("OID.") for e in plain)
    assert [e["originalStart"] for e in chosen] == ["2026-11-02T09:00:00Z", "2026-11-09T09:00:00Z"]


def test_every_read_of_events_selects_original_start(graph_standin: GraphStandin) -> None:
    calendar = graph_standin.calendar()
    master = graph_standin.seed_series("Stand-up", NINE, NINE + timedelta(minutes=15), 3)
    second = calendar.list(WINDOW).items[1]
    calendar.get(second.key)
    graph_standin.calendar().get(second.key)  # a fresh adapter looks the series up
    reads = [
        p
        for m, p in graph_standin.mailbox.stats.requests
        if m == "GET" and ("/calendarView?" in p or "/events" in p)
    ]
    assert reads and all("originalStart" in httpx.URL(p).params.get("$select", "") for p in reads)
    assert master["id"] in "".join(reads)


def test_occurrence_without_original_start_is_named_by_its_own_start() -> None:
    occurrence = {
        "id": "occ",
        "type": "occurrence",
        "seriesMasterId": "master",
        "occurrenceId": "OID.master.2024-03-09",
        "start": {"dateTime": "2024-03-09T09:15:00.0000000", "timeZone": "Central Europe Standard Time"},
        "end": {"dateTime": "2024-03-09T10:45:00.0000000", "timeZone": "Central Europe Standard Time"},
    }
    assert graph.parse_event(occurrence).recurrence_id == datetime(2024, 3, 9, 8, 15, tzinfo=UTC)


@given(
    zone=st.sampled_from(ZONES),
    first=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31)),
    weeks=st.integers(min_value=0, max_value=60),
    moved=st.integers(min_value=-30, max_value=30),
)
def test_exception_without_original_start_is_named_from_its_day_and_the_series_wall_time(
    zone: str, first: datetime, weeks: int, moved: int
) -> None:
    """Across DST the original start keeps the series' wall time, whatever the exception was moved to."""
    tz = ZoneInfo(zone)
    series_start = first.replace(second=0, microsecond=0, tzinfo=tz)
    original = datetime.combine(series_start.date() + timedelta(weeks=weeks), series_start.timetz())
    start = (original + timedelta(hours=moved)).astimezone(UTC)
    exception = {
        "id": "exc",
        "type": "exception",
        "seriesMasterId": "master",
        "occurrenceId": f"OID.master.{original.date().isoformat()}",
        "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"},
        "end": {"dateTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
    }
    assert graph.parse_event(exception, "uid", series_start).recurrence_id == original.astimezone(UTC)


def test_all_day_exception_without_original_start_is_named_by_its_day() -> None:
    exception = {
        "id": "exc",
        "type": "exception",
        "isAllDay": True,
        "seriesMasterId": "master",
        "occurrenceId": "OID.master.2026-11-09",
        "start": {"dateTime": "2026-11-10T00:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-11T00:00:00.0000000", "timeZone": "UTC"},
    }
    series_start = datetime(2026, 11, 2, tzinfo=ZoneInfo("Europe/Berlin"))
    assert graph.parse_event(exception, "uid", series_start).recurrence_id == date(2026, 11, 9)
