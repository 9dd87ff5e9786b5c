"""Outlook's writes in ``$batch``: a Get's new items go twenty POSTs a request, each with its
``transactionId``, so a throttled member, a lost answer or a crash between the batch and the links
never makes an event twice (issue 14; B2 for the crash)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calferry.errors import CalferryError, PersonalCalendarError, StaleVersion
from calferry.links import LinkStore
from calferry.model import PersonalItem, PsaAppointment, PsaKind, PsaRef
from calferry.personal.graph import GraphCalendar
from calferry.service import Service
from tests.fixtures.graph_standin import GraphStandin
from tests.unit.engine_helpers import ME, NOW, new_psa, settings

FIRST_DAY = datetime(2026, 3, 11, 7, tzinfo=UTC)


class Crash(BaseException):
    """The process dies: nothing after this point runs (not a CalferryError, so nothing catches it)."""


class Run:
    """The one-technician engine on Outlook (the stand-in's mailbox) and a PSA holding ``count`` new
    appointments of the technician, none of them in Outlook yet."""

    def __init__(self, home: Path, graph: GraphStandin, count: int) -> None:
        self.graph, self.psa = graph, new_psa()
        for n in range(1, count + 1):
            start = FIRST_DAY + timedelta(days=n % 20, hours=n % 9)
            self.psa.items[PsaRef(PsaKind.APPOINTMENT, n)] = PsaAppointment(
                n, f"Visit {n}", start, start + timedelta(minutes=45), ME.id, "", NOW
            )
        self.store = LinkStore(home / "links.sqlite3")
        self.calendars: list[GraphCalendar] = []

    def service(self, checkpoint: Callable[[str], None] | None = None) -> Service:
        calendar = self.graph.calendar(time_zone=ME.time_zone)
        self.calendars.append(calendar)
        extra = {} if checkpoint is None else {"checkpoint": checkpoint}
        return Service(settings(), calendar, self.psa, self.store, lambda: NOW, **extra)

    def close(self) -> None:
        for calendar in self.calendars:
            calendar.close()
        self.store.close()

    def single_posts(self) -> list[str]:
        """POSTs straight to an events collection (not inside a ``$batch``)."""
        return [p for m, p in self.graph.mailbox.stats.requests if m == "POST" and p.endswith("/events")]

    def write_batches(self) -> list[list[dict[str, Any]]]:
        """The ``$batch`` requests of POSTs, their members as sent (a Get's reads come in others)."""
        batches = self.graph.mailbox.stats.batches
        return [b for b in batches if {m["method"] for m in b} == {"POST"}]

    def events(self) -> list[dict[str, Any]]:
        return list(self.graph.mailbox.events.values())


@pytest.fixture
def run45(tmp_path: Path, graph_standin: GraphStandin) -> Iterator[Run]:
    run = Run(tmp_path, graph_standin, 45)
    yield run
    run.close()


def _crash_at(step: str) -> Callable[[str], None]:
    def checkpoint(name: str) -> None:
        if name == step:
            raise Crash(step)

    return checkpoint


def _assert_all_in_outlook_once(run: Run, count: int = 45) -> None:
    subjects = sorted(str(e["subject"]) for e in run.events())
    assert subjects == sorted(f"Visit {n}" for n in range(1, count + 1))
    assert len(run.store.links()) == count and run.store.pending() == []


def test_a_get_of_45_new_items_writes_them_in_three_batches_of_20_20_and_5(run45: Run) -> None:
    result = run45.service().get()
    assert [a["outcome"] for a in result.to_json()["actions"]] == ["done"] * 45
    batches = run45.write_batches()
    assert [len(b) for b in batches] == [20, 20, 5]
    assert {m["url"] for b in batches for m in b} == {"/me/calendar/events"}
    assert run45.single_posts() == []
    sent = [m["body"]["transactionId"] for b in batches for m in b]
    assert all(sent) and len(set(sent)) == 45
    assert sorted(e["transactionId"] for e in run45.events()) == sorted(sent)
    _assert_all_in_outlook_once(run45)
    assert run45.service().get().results == []


def test_throttled_members_are_sent_again_and_nothing_is_made_twice(run45: Run) -> None:
    run45.graph.mailbox.faults.throttle_batch_members = 3
    result = run45.service().get()
    assert {a["outcome"] for a in result.to_json()["actions"]} == {"done"}
    assert run45.graph.mailbox.stats.throttled_members == 3
    assert [len(b) for b in run45.write_batches()] == [20, 3, 20, 5]  # only the throttled three again
    _assert_all_in_outlook_once(run45)


def test_a_batch_whose_answer_was_lost_is_sent_again_and_makes_each_event_once(run45: Run) -> None:
    run45.graph.mailbox.faults.lose_answers = {"POST": 1}
    run45.service().get()
    assert run45.graph.mailbox.stats.lost_answers == 1
    assert [len(b) for b in run45.write_batches()] == [20, 20, 20, 5]
    _assert_all_in_outlook_once(run45)


@pytest.mark.parametrize("step", ["created", "linked"])
def test_b2_a_crash_between_the_batch_and_the_links_is_adopted_by_the_next_run(run45: Run, step: str) -> None:
    with pytest.raises(Crash):
        run45.service(_crash_at(step)).get()
    assert len(run45.events()) == 20 and len(run45.store.pending()) == 20  # the first batch, unlinked
    run45.service().get()
    _assert_all_in_outlook_once(run45)
    assert run45.service().get().results == []


def test_a_member_outlook_refuses_is_that_item_s_error_and_the_others_are_made(
    graph_standin: GraphStandin,
) -> None:
    calendar = graph_standin.calendar(time_zone="Atlantis/Lost")  # all-day bounds name this zone
    timed = [
        PersonalItem(f"t{n}", FIRST_DAY + timedelta(hours=n), FIRST_DAY + timedelta(hours=n + 1))
        for n in (1, 2)
    ]
    all_day = PersonalItem("holiday", date(2026, 3, 12), date(2026, 3, 13), subject="Holiday")
    results = calendar.create_many([timed[0], all_day, timed[1]])
    calendar.close()
    refused = results[1]
    assert isinstance(refused, PersonalCalendarError) and isinstance(refused, CalferryError)
    assert "TimeZoneNotSupported" in str(refused) and refused.status == 400
    assert [r.uid for r in results if isinstance(r, PersonalItem)] == ["t1", "t2"]
    assert len(graph_standin.mailbox.events) == 2 and graph_standin.mailbox.stats.batch_sizes == [3]


def _members_by_method(run: Run, method: str) -> list[list[dict[str, Any]]]:
    return [b for b in run.graph.mailbox.stats.batches if {m["method"] for m in b} == {method}]


def test_a_get_that_updates_25_and_deletes_21_items_sends_them_in_batches_of_20(
    tmp_path: Path, graph_standin: GraphStandin
) -> None:
    run = Run(tmp_path, graph_standin, 46)
    try:
        run.service().get()
        refs = sorted(run.psa.items, key=lambda r: r.id)
        for ref in refs[:25]:
            run.psa.items[ref] = replace(
                run.psa.items[ref], title=f"Moved {ref.id}", updated=NOW + timedelta(minutes=1)
            )
        for ref in refs[25:]:
            del run.psa.items[ref]
        graph_standin.mailbox.stats.requests.clear()
        graph_standin.mailbox.stats.batches.clear()
        result = run.service().get(force_delete=True)  # 21 deletions: past the threshold on purpose
        assert [a["outcome"] for a in result.to_json()["actions"]] == ["done"] * 46
        patches, deletes = _members_by_method(run, "PATCH"), _members_by_method(run, "DELETE")
        assert [len(b) for b in patches] == [20, 5] and [len(b) for b in deletes] == [20, 1]
        assert all(m["headers"]["If-Match"] for b in patches + deletes for m in b)
        singles = {m for m, _ in graph_standin.mailbox.stats.requests}
        assert not singles & {"PATCH", "DELETE"}
        assert sorted(str(e["subject"]) for e in run.events()) == sorted(f"Moved {n}" for n in range(1, 26))
        assert len(run.store.links()) == 25 and run.store.pending() == []
        assert run.service().get().results == []
    finally:
        run.close()


def test_a_member_refused_for_its_version_fails_alone_and_the_others_are_written(
    graph_standin: GraphStandin,
) -> None:
    calendar = graph_standin.calendar(time_zone="Europe/Berlin")
    made = [
        PersonalItem(f"u{n}", FIRST_DAY + timedelta(hours=n), FIRST_DAY + timedelta(hours=n + 1))
        for n in range(3)
    ]
    first = [r for r in calendar.create_many(made) if isinstance(r, PersonalItem)]
    moved = calendar.update(replace(first[1], subject="Edited in Outlook"))
    results = calendar.update_many([replace(i, subject="From the PSA") for i in first])
    assert [type(r) for r in results] == [PersonalItem, StaleVersion, PersonalItem]
    gone = calendar.delete_many([(first[1].key, first[1].version), (moved.key, moved.version)])
    calendar.close()
    assert isinstance(gone[0], StaleVersion) and gone[1] is None
    assert sorted(str(e["subject"]) for e in graph_standin.mailbox.events.values()) == ["From the PSA"] * 2
    assert graph_standin.mailbox.stats.batch_sizes[-2:] == [3, 2]


def test_b2_a_crash_between_a_batch_of_deletions_and_the_links_is_finished_by_the_next_run(
    tmp_path: Path, graph_standin: GraphStandin
) -> None:
    run = Run(tmp_path, graph_standin, 25)
    try:
        run.service().get()
        for ref in sorted(run.psa.items, key=lambda r: r.id)[4:]:
            del run.psa.items[ref]
        with pytest.raises(Crash):
            run.service(_crash_at("deleted")).get(force_delete=True)
        assert len(run.events()) == 5 and len(run.store.pending()) == 20  # the first batch, links kept
        run.service().get(force_delete=True)
        assert sorted(str(e["subject"]) for e in run.events()) == [f"Visit {n}" for n in range(1, 5)]
        assert len(run.store.links()) == 4 and run.store.pending() == []
        assert run.service().get().results == []
    finally:
        run.close()


def test_throttled_patch_and_delete_members_are_sent_again_alone(graph_standin: GraphStandin) -> None:
    calendar = graph_standin.calendar(time_zone="Europe/Berlin")
    made = [
        PersonalItem(f"w{n}", FIRST_DAY + timedelta(hours=n), FIRST_DAY + timedelta(hours=n + 1))
        for n in range(3)
    ]
    first = [r for r in calendar.create_many(made) if isinstance(r, PersonalItem)]
    mailbox = graph_standin.mailbox
    mailbox.faults.throttle_batch_members = 2
    updated = calendar.update_many([replace(i, subject="From the PSA") for i in first])
    assert [type(r) for r in updated] == [PersonalItem] * 3
    mailbox.faults.throttle_batch_members = 1
    gone = calendar.delete_many([(i.key, i.version) for i in updated if isinstance(i, PersonalItem)][:2])
    calendar.close()
    assert gone == [None, None] and mailbox.stats.throttled_members == 3
    assert mailbox.stats.batch_sizes[-4:] == [3, 2, 2, 1]  # each batch, then its throttled members again
    assert [str(e["subject"]) for e in mailbox.events.values()] == ["From the PSA"]
