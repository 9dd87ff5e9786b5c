"""Graph's throttling (429 + Retry-After, also inside $batch) and delta listing with its fallbacks.

The last part runs operations of the personal-calendar contract suite (its seed, its calls) against a
stand-in that throttles or refuses the delta token, which the shared suite itself never makes it do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from calferry import errors
from calferry.model import ItemKey, Origin, PersonalItem, PsaKind, Stamp, Window
from calferry.personal.base import PersonalCalendar
from calferry.personal.graph import GraphCalendar
from tests.contract.personal_support import CalendarFactory
from tests.contract.test_personal_contract import SEED, STAMP, WEEKLY, at
from tests.contract.test_personal_contract import WINDOW as CONTRACT_WINDOW
from tests.fixtures.graph_standin import QUICK_RETRY, GraphStandin

WINDOW = Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
NINE = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _item(n: int) -> PersonalItem:
    start = NINE + timedelta(hours=n)
    return PersonalItem(f"item-{n}@calferry.test", start, start + timedelta(minutes=30), subject=f"item {n}")


# --- throttling -----------------------------------------------------------------------------------


def test_429_is_retried_after_retry_after(graph_standin: GraphStandin, graph_calendar: GraphCalendar) -> None:
    created = graph_calendar.create(_item(1))
    graph_standin.mailbox.faults.throttle_requests = 2
    graph_standin.mailbox.faults.retry_after = "0.25"
    assert graph_calendar.get(created.key).subject == "item 1"
    assert graph_standin.slept == [0.25, 0.25]


def test_429_without_retry_after_backs_off_exponentially(graph_standin: GraphStandin) -> None:
    calendar = graph_standin.calendar(retry=replace(QUICK_RETRY, base_delay=0.002))
    created = calendar.create(_item(1))
    graph_standin.mailbox.faults.throttle_requests = 3
    graph_standin.mailbox.faults.throttle_without_retry_after = True
    calendar.get(created.key)
    assert graph_standin.slept == [0.002, 0.004, 0.008]
    calendar.close()


def test_throttling_that_does_not_end_is_reported(graph_standin: GraphStandin) -> None:
    calendar = graph_standin.calendar(retry=replace(QUICK_RETRY, attempts=3))
    graph_standin.mailbox.faults.throttle_requests = 10
    with pytest.raises(errors.PersonalUnavailable) as caught:
        calendar.snapshot(WINDOW)
    assert caught.value.status == 429 and len(graph_standin.slept) == 2
    calendar.close()


def test_throttled_batch_members_are_retried_after_the_largest_retry_after(
    graph_standin: GraphStandin, graph_calendar: GraphCalendar
) -> None:
    snapshot = graph_calendar.snapshot(WINDOW)
    for n in range(5):
        graph_calendar.create(_item(n))
    graph_standin.mailbox.faults.throttle_batch_members = 3
    graph_standin.mailbox.faults.retry_after = "0.125"
    changes = graph_calendar.changes(WINDOW, snapshot.token)
    assert sorted(i.subject for i in changes.changed) == [f"item {n}" for n in range(5)]
    assert graph_standin.mailbox.stats.batch_sizes == [5, 3]  # only the throttled members again
    assert graph_standin.slept == [0.125]


def test_changed_items_are_reread_in_batches_of_at_most_20(
    graph_standin: GraphStandin, graph_calendar: GraphCalendar
) -> None:
    snapshot = graph_calendar.snapshot(WINDOW)
    for n in range(25):
        graph_calendar.create(_item(n))
    changes = graph_calendar.changes(WINDOW, snapshot.token)
    assert len(changes.changed) == 25 and changes.full is False
    assert graph_standin.mailbox.stats.batch_sizes == [20, 5]


# --- delta ----------------------------------------------------------------------------------------


def test_delta_changes_carry_the_stamp_that_delta_itself_leaves_out(
    graph_standin: GraphStandin, graph_calendar: GraphCalendar
) -> None:
    created = graph_calendar.create(_item(1))
    snapshot = graph_calendar.snapshot(WINDOW)
    stamp = Stamp(PsaKind.APPOINTMENT, 31, Origin.SENT)
    graph_calendar.set_stamp(created.key, stamp)
    changes = graph_calendar.changes(WINDOW, snapshot.token)
    assert [(i.uid, i.stamp) for i in changes.changed] == [(created.uid, stamp)]
    delta_urls = [p for m, p in graph_standin.mailbox.stats.requests if "/delta" in p]
    assert delta_urls and not any("expand" in p for p in delta_urls)  # delta takes no $expand


def test_delta_rounds_follow_next_links(graph_standin: GraphStandin) -> None:
    calendar = graph_standin.calendar(page_size=2)
    for n in range(5):
        calendar.create(_item(n))
    token = calendar.snapshot(WINDOW).token
    skip_pages = [p for m, p in graph_standin.mailbox.stats.requests if "skiptoken" in p]
    assert len(skip_pages) == 2 and token is not None and "deltatoken" in token
    assert calendar.changes(WINDOW, token).changed == ()
    calendar.close()


def test_expired_delta_token_falls_back_to_a_full_listing(
    graph_standin: GraphStandin, graph_calendar: GraphCalendar
) -> None:
    graph_calendar.create(_item(1))
    token = graph_calendar.snapshot(WINDOW).token
    graph_standin.mailbox.expire_delta_tokens()
    changes = graph_calendar.changes(WINDOW, token)
    assert changes.full is True and [i.subject for i in changes.changed] == ["item 1"]
    assert changes.token != token
    assert graph_calendar.changes(WINDOW, changes.token).full is False


def test_removal_unknown_to_a_fresh_adapter_falls_back_to_a_full_listing(graph_standin: GraphStandin) -> None:
    first = graph_standin.calendar()
    kept, gone = first.create(_item(1)), first.create(_item(2))
    token = first.snapshot(WINDOW).token
    first.delete(gone.key)
    later = graph_standin.calendar()  # a later run: it never saw the removed item's Graph id
    changes = later.changes(WINDOW, token)
    assert changes.full is True and [i.uid for i in changes.changed] == [kept.uid]
    first.close()
    later.close()


def test_deleted_occurrence_relists_its_series(
    graph_standin: GraphStandin, graph_calendar: GraphCalendar
) -> None:
    master = graph_standin.seed_series("Stand-up", NINE, NINE + timedelta(minutes=15), 3)
    snapshot = graph_calendar.snapshot(WINDOW)
    second = snapshot.items[1]
    graph_calendar.delete(second.key)
    changes = graph_calendar.changes(WINDOW, snapshot.token)
    assert changes.full is False and changes.deleted_uids == ()
    assert [i.recurrence_id for i in changes.changed] == [NINE, NINE + timedelta(days=14)]
    assert {i.uid for i in changes.changed} == {master["iCalUId"]}


def test_deleted_series_is_reported_by_its_uid(
    graph_standin: GraphStandin, graph_calendar: GraphCalendar
) -> None:
    master = graph_standin.seed_series("Stand-up", NINE, NINE + timedelta(minutes=15), 3)
    snapshot = graph_calendar.snapshot(WINDOW)
    graph_calendar.delete(ItemKey(master["iCalUId"]))
    changes = graph_calendar.changes(WINDOW, snapshot.token)
    assert (changes.changed, changes.deleted_uids, changes.full) == ((), (master["iCalUId"],), False)


def test_edit_made_in_outlook_of_one_occurrence_is_found(
    graph_standin: GraphStandin, graph_calendar: GraphCalendar
) -> None:
    graph_standin.seed_series("Stand-up", NINE, NINE + timedelta(minutes=15), 3)
    snapshot = graph_calendar.snapshot(WINDOW)
    third = snapshot.items[2]
    other_client = graph_standin.calendar()  # e.g. the technician in Outlook on the web
    other_client.update(replace(third, subject="Stand-up (customer visit)"))
    changes = graph_calendar.changes(WINDOW, snapshot.token)
    assert [i.subject for i in changes.changed] == ["Stand-up", "Stand-up", "Stand-up (customer visit)"]
    other_client.close()


# --- the contract suite's operations under throttling and with an expired token ------------------------


def _without_versions(items: Iterable[PersonalItem]) -> list[PersonalItem]:
    """Items as the contract compares them: change keys (and so versions) differ between mailboxes."""
    return sorted((replace(i, version=None) for i in items), key=lambda i: (i.ref, str(i.start)))


def _contract_slice(calendar: PersonalCalendar) -> list[object]:
    """List, create, update, set_stamp, delete one occurrence and changes, as the contract suite does them."""
    snapshot = calendar.snapshot(CONTRACT_WINDOW)
    single = next(i for i in snapshot.items if i.ref == "single-1")
    weekly = sorted((i for i in snapshot.items if i.uid == WEEKLY.uid), key=lambda i: str(i.recurrence_id))
    written = [
        calendar.create(PersonalItem("new-2", at(17, 9), at(17, 10), subject="New")),
        calendar.update(replace(single, subject="Edited")),
        calendar.set_stamp(weekly[1].key, STAMP, weekly[1].version),
    ]
    calendar.delete(weekly[3].key, weekly[3].version)
    changes = calendar.changes(CONTRACT_WINDOW, snapshot.token)
    quiet = calendar.changes(CONTRACT_WINDOW, changes.token)
    results: list[object] = [_without_versions(snapshot.items), _without_versions(written)]
    results += [_without_versions(changes.changed), changes.deleted_uids, changes.full]
    results += [
        quiet.changed,
        quiet.deleted_uids,
        _without_versions(calendar.snapshot(CONTRACT_WINDOW).items),
    ]
    calendar.close()
    return results


def test_contract_operations_give_the_same_results_when_graph_throttles_a_third_of_requests(
    graph_standin: GraphStandin, graph_personal_factory: CalendarFactory
) -> None:
    calm = _contract_slice(graph_personal_factory.make(SEED))
    graph_standin.reset()
    faults = graph_standin.mailbox.faults
    faults.throttle_share, faults.retry_after = 0.3, "0.02"
    throttled = _contract_slice(graph_personal_factory.make(SEED))
    assert throttled == calm
    stats = graph_standin.mailbox.stats
    assert 0.2 < stats.statuses.count(429) / len(stats.statuses) < 0.4
    assert stats.throttled_members > 0  # inside $batch too
    assert set(graph_standin.slept) == {0.02}  # every wait was Graph's Retry-After


def test_contract_seed_changes_with_a_token_graph_declares_expired_fall_back_to_a_full_listing(
    graph_standin: GraphStandin, graph_personal_factory: CalendarFactory
) -> None:
    calendar = graph_personal_factory.make(SEED)
    snapshot = calendar.snapshot(CONTRACT_WINDOW)
    single = next(i for i in snapshot.items if i.ref == "single-1")
    calendar.update(replace(single, subject="Edited"))
    graph_standin.mailbox.expire_delta_tokens()
    later = graph_personal_factory.reopen()  # the next run, with the token the last one kept
    changes = later.changes(CONTRACT_WINDOW, snapshot.token)
    assert 410 in graph_standin.mailbox.stats.statuses  # Graph refused the token: SyncStateNotFound
    assert (changes.full, changes.deleted_uids) == (True, ())
    assert _without_versions(changes.changed) == _without_versions(later.snapshot(CONTRACT_WINDOW).items)
    assert {i.ref: i.subject for i in changes.changed}["single-1"] == "Edited"
    assert len(changes.changed) == len(snapshot.items)
    after = later.changes(CONTRACT_WINDOW, changes.token)
    assert (after.full, after.changed, after.deleted_uids) == (False, (), ())
    calendar.close()
    later.close()
