"""The Graph adapter's ``key_of``: the Outlook item the add-in names (by REST id) is the very item the
calendar lists, single or occurrence, so links and stamps made from the pane match every other path."""

from __future__ import annotations

from datetime import timedelta

import pytest

from calferry.errors import UserError
from calferry.model import ItemKey, Window
from calferry.personal.graph import GraphCalendar
from tests.addin.conftest import monday_at
from tests.fixtures.graph_standin import GraphStandin
from tests.graph_standin.mailbox import DEFAULT_CALENDAR, to_graph_time


def _window() -> Window:
    return Window(monday_at(0) - timedelta(days=1), monday_at(0) + timedelta(days=30))


def test_a_single_item_has_the_key_the_listing_gives(
    graph_standin: GraphStandin, graph_calendar: GraphCalendar
) -> None:
    start = monday_at(9)
    body = {
        "subject": "Budget review",
        "start": {"dateTime": to_graph_time(start), "timeZone": "UTC"},
        "end": {"dateTime": to_graph_time(start + timedelta(hours=1)), "timeZone": "UTC"},
    }
    event = graph_standin.mailbox.create(DEFAULT_CALENDAR, body, ical_uid="budget-1")
    assert graph_calendar.key_of(event["id"]) == ItemKey("budget-1")
    assert [i.key for i in graph_calendar.snapshot(_window()).items] == [ItemKey("budget-1")]


def test_an_occurrence_has_its_series_uid_and_original_start(
    graph_standin: GraphStandin, graph_calendar: GraphCalendar
) -> None:
    start = monday_at(8)
    master = graph_standin.seed_series("Standup", start, start + timedelta(minutes=15), 3)
    second = graph_standin.mailbox.occurrence_id(master["id"], start + timedelta(days=7))
    listed = [i.key for i in graph_calendar.snapshot(_window()).items]
    key = GraphCalendar(base_url=graph_standin.url, token_provider=lambda: "t").key_of(
        second
    )  # a fresh adapter
    assert key in listed and key.recurrence_id is not None
    assert key.uid == graph_calendar.key_of(master["id"]).uid
    assert graph_calendar.get(key).start == start + timedelta(days=7)


def test_an_unknown_id_is_a_user_error(graph_calendar: GraphCalendar) -> None:
    with pytest.raises(UserError):
        graph_calendar.key_of("AAMkNoSuchItem=")
