"""The personal-calendar contract (personal/base.py), run on every adapter in PERSONAL_FACTORIES.

Seed: a week-ish of Outlook-like items in Europe/Berlin, including a weekly series across the
2026-03-29 DST change with one excluded and one moved occurrence.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from calferry.errors import CalferryError, NotFound, StaleVersion
from calferry.model import Claim, ItemKey, Origin, PersonalItem, PersonalKind, PsaKind, Stamp, Window
from calferry.personal.base import PersonalCalendar
from calferry.personal.ics import IcsCalendar
from tests.contract.personal_support import (
    BERLIN,
    PERSONAL_FACTORIES,
    CalendarFactory,
    Seed,
    SeriesSeed,
    seed_ical,
    seed_memory,
)

WINDOW = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 30, tzinfo=UTC))


def at(day: int, hour: int, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=BERLIN)


SINGLE = PersonalItem(
    "single-1", at(3, 10), at(3, 11), subject="Dentist", location="Main St 1", categories=("Health",)
)
PRIVATE = PersonalItem("private-1", at(4, 8), at(4, 9), subject="Therapy", private=True)
ALL_DAY = PersonalItem("allday-1", date(2026, 3, 5), date(2026, 3, 6), subject="Holiday")
MEETING = PersonalItem("meeting-1", at(6, 14), at(6, 15), subject="Review", attendees=("ann@example.com",))
LONG = PersonalItem("long-1", at(10, 8), at(11, 12), subject="Conference")
WEEKLY = PersonalItem("weekly-1", at(2, 9), at(2, 10), subject="Standup")
MOVED_FROM = at(23, 9)
WEEKLY_SERIES = SeriesSeed(
    WEEKLY,
    "FREQ=WEEKLY;COUNT=6",
    exdates=(at(16, 9),),
    overrides=(
        replace(
            WEEKLY, recurrence_id=MOVED_FROM, start=at(24, 11), end=at(24, 12), subject="Standup (moved)"
        ),
    ),
)
SEED = Seed((SINGLE, PRIVATE, ALL_DAY, MEETING, LONG), (WEEKLY_SERIES,))
STAMP = Stamp(PsaKind.APPOINTMENT, 4711, Origin.SENT)
CLAIM = Claim("laptop-1", datetime(2026, 3, 1, 8, 30, tzinfo=UTC), "0123abcd")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "adapter" in metafunc.fixturenames:
        metafunc.parametrize("adapter", sorted(PERSONAL_FACTORIES))


@pytest.fixture
def factory(adapter: str, request: pytest.FixtureRequest) -> CalendarFactory:
    found: CalendarFactory = request.getfixturevalue(PERSONAL_FACTORIES[adapter])
    return found


@pytest.fixture
def calendar(factory: CalendarFactory) -> Iterator[PersonalCalendar]:
    opened = factory.make(SEED)
    yield opened
    opened.close()


@pytest.fixture
def memory_personal_factory() -> CalendarFactory:
    holder: list[PersonalCalendar] = []

    def make(seed: Seed) -> PersonalCalendar:
        holder.append(seed_memory(seed))
        return holder[0]

    return CalendarFactory(make, lambda: holder[0])


@pytest.fixture
def ics_personal_factory(tmp_path: Path) -> CalendarFactory:
    path = tmp_path / "personal.ics"

    def make(seed: Seed) -> PersonalCalendar:
        if seed.items or seed.series:
            path.write_bytes(seed_ical(seed))
        return IcsCalendar(path)

    return CalendarFactory(make, lambda: IcsCalendar(path))


def by_ref(calendar: PersonalCalendar, window: Window = WINDOW) -> dict[str, PersonalItem]:
    return {item.ref: item for item in calendar.snapshot(window).items}


def occurrence(calendar: PersonalCalendar, when: datetime) -> PersonalItem:
    found = [i for i in calendar.snapshot(WINDOW).items if i.uid == WEEKLY.uid and i.recurrence_id == when]
    assert len(found) == 1, found
    return found[0]


def weekly_starts(calendar: PersonalCalendar) -> list[datetime]:
    return [i.start for i in calendar.snapshot(WINDOW).items if i.uid == WEEKLY.uid]  # type: ignore[misc]


# --- listing ----------------------------------------------------------------------------------


def test_list_holds_singles_with_their_fields(calendar: PersonalCalendar) -> None:
    items = by_ref(calendar)
    single = items["single-1"]
    assert (single.start, single.end, single.subject) == (SINGLE.start, SINGLE.end, "Dentist")
    assert (single.location, single.categories, single.recurring, single.recurrence_id) == (
        "Main St 1",
        ("Health",),
        False,
        None,
    )
    assert single.kind is PersonalKind.APPOINTMENT
    assert single.version


def test_all_day_item_lists_as_dates_with_exclusive_end(calendar: PersonalCalendar) -> None:
    item = by_ref(calendar)["allday-1"]
    assert (item.start, item.end, item.all_day, item.kind) == (
        date(2026, 3, 5),
        date(2026, 3, 6),
        True,
        PersonalKind.EVENT,
    )


def test_private_meeting_and_event_kinds_are_read(calendar: PersonalCalendar) -> None:
    items = by_ref(calendar)
    assert items["private-1"].private is True and items["single-1"].private is False
    assert items["meeting-1"].kind is PersonalKind.MEETING
    assert items["meeting-1"].attendees == ("ann@example.com",)
    assert items["long-1"].kind is PersonalKind.EVENT


def test_series_expands_into_occurrences_with_recurrence_ids(calendar: PersonalCalendar) -> None:
    occurrences = [i for i in calendar.snapshot(WINDOW).items if i.uid == WEEKLY.uid]
    assert all(i.recurring and i.recurrence_id is not None for i in occurrences)
    assert [i.recurrence_id for i in occurrences] == [
        at(2, 9),
        at(9, 9),
        MOVED_FROM,
        at(30, 9),
        at(6, 9, month=4),
    ]
    # across DST the wall time stays 09:00 Berlin (08:00 UTC before, 07:00 UTC after)
    assert [i.start.astimezone(UTC).hour for i in occurrences if i.recurrence_id != MOVED_FROM] == [
        8,
        8,
        7,
        7,
    ]  # type: ignore[union-attr]


def test_moved_occurrence_keeps_its_recurrence_id_and_excluded_one_is_gone(
    calendar: PersonalCalendar,
) -> None:
    moved = occurrence(calendar, MOVED_FROM)
    assert (moved.start, moved.end, moved.subject) == (at(24, 11), at(24, 12), "Standup (moved)")
    assert at(16, 9) not in weekly_starts(calendar)


def test_window_limits_the_listing(calendar: PersonalCalendar) -> None:
    narrow = Window(datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC))
    assert set(by_ref(calendar, narrow)) == {"single-1"}


# --- get / create -----------------------------------------------------------------------------


def test_get_returns_single_and_occurrence_and_not_found(calendar: PersonalCalendar) -> None:
    assert calendar.get(ItemKey("single-1")).subject == "Dentist"
    moved = occurrence(calendar, MOVED_FROM)
    assert calendar.get(moved.key).start == at(24, 11)
    with pytest.raises(NotFound):
        calendar.get(ItemKey("nope"))
    with pytest.raises(NotFound):
        calendar.get(replace(moved, recurrence_id=at(16, 9)).key)


def test_create_keeps_uid_and_returns_a_version(calendar: PersonalCalendar) -> None:
    new = PersonalItem(
        "new-1@example", at(12, 13), at(12, 14), subject="Lunch", attendees=("bo@example.com",)
    )
    created = calendar.create(new)
    assert (created.uid, created.version is not None, created.attendees) == (
        "new-1@example",
        True,
        ("bo@example.com",),
    )
    assert by_ref(calendar)["new-1@example"].subject == "Lunch"


def test_r16_items_from_the_psa_never_carry_attendees(calendar: PersonalCalendar) -> None:
    stamp = Stamp(PsaKind.SERVICE_CALL, 12, Origin.DOWNLOADED, company_id=7)
    new = PersonalItem(
        "psa-1", at(13, 9), at(13, 10), subject="Service call", attendees=("x@example.com",), stamp=stamp
    )
    calendar.create(new)
    listed = by_ref(calendar)["psa-1"]
    assert (listed.attendees, listed.stamp, listed.kind) == ((), stamp, PersonalKind.APPOINTMENT)


def test_create_many_answers_each_item_in_order_and_a_bad_one_costs_only_itself(
    calendar: PersonalCalendar,
) -> None:
    stamps = [Stamp(PsaKind.APPOINTMENT, 900 + n, Origin.DOWNLOADED, company_id=7) for n in range(3)]
    good = [
        PersonalItem(f"many-{n}", at(17, 8 + n), at(17, 9 + n), subject=f"Visit {n}", stamp=stamps[n])
        for n in range(3)
    ]
    series = replace(good[0], uid="many-series", recurring=True)  # create makes single items only
    results = calendar.create_many([good[0], series, good[1], good[2]])
    assert [type(r) is PersonalItem for r in results] == [True, False, True, True]
    assert isinstance(results[1], CalferryError)
    assert [(r.uid, r.subject, r.stamp) for r in results if isinstance(r, PersonalItem)] == [
        (i.uid, i.subject, i.stamp) for i in good
    ]
    listed = by_ref(calendar)
    assert [listed[i.uid].stamp for i in good] == stamps
    assert "many-series" not in {i.uid for i in listed.values()}
    assert calendar.create_many([]) == []


# --- update / delete --------------------------------------------------------------------------


def test_update_many_and_delete_many_check_each_version_and_a_stale_one_costs_only_itself(
    calendar: PersonalCalendar,
) -> None:
    made = [PersonalItem(f"batch-{n}", at(18, 8 + n), at(18, 9 + n), subject=f"Visit {n}") for n in range(3)]
    first = [r for r in calendar.create_many(made) if isinstance(r, PersonalItem)]
    moved = calendar.update(replace(first[1], subject="Moved by someone else"))
    results = calendar.update_many([replace(i, subject=f"Rewritten {i.uid}") for i in first])
    assert [type(r) for r in results] == [PersonalItem, StaleVersion, PersonalItem]
    listed = by_ref(calendar)
    assert [listed[i.uid].subject for i in first] == ["Rewritten batch-0", moved.subject, "Rewritten batch-2"]
    assert calendar.update_many([]) == []
    now = [r for r in results if isinstance(r, PersonalItem)]
    gone = calendar.delete_many(
        [(now[0].key, now[0].version), (moved.key, first[1].version), (now[1].key, None)]
    )
    assert [type(r) for r in gone] == [type(None), StaleVersion, type(None)]
    assert {i.uid for i in by_ref(calendar).values()} & {i.uid for i in made} == {"batch-1"}
    assert calendar.delete_many([]) == []


def test_update_with_current_version_changes_the_item(calendar: PersonalCalendar) -> None:
    single = by_ref(calendar)["single-1"]
    updated = calendar.update(replace(single, subject="Dentist (late)", end=at(3, 12)))
    assert updated.version != single.version
    again = by_ref(calendar)["single-1"]
    assert (again.subject, again.end, again.location) == ("Dentist (late)", at(3, 12), "Main St 1")


def test_update_with_stale_version_raises_and_changes_nothing(calendar: PersonalCalendar) -> None:
    single = by_ref(calendar)["single-1"]
    calendar.update(replace(single, subject="first"))
    with pytest.raises(StaleVersion):
        calendar.update(replace(single, subject="second"))
    assert calendar.get(ItemKey("single-1")).subject == "first"


def test_update_of_one_occurrence_becomes_an_override(calendar: PersonalCalendar) -> None:
    target = occurrence(calendar, at(9, 9))
    calendar.update(replace(target, subject="Standup (long)", end=at(9, 11)))
    items = [i for i in calendar.snapshot(WINDOW).items if i.uid == WEEKLY.uid]
    changed = [i for i in items if i.recurrence_id == at(9, 9)]
    assert [(i.subject, i.end) for i in changed] == [("Standup (long)", at(9, 11))]
    others = [i for i in items if i.recurrence_id not in (at(9, 9), MOVED_FROM)]
    assert {i.subject for i in others} == {"Standup"} and len(others) == 3


def test_delete_one_occurrence_leaves_the_rest(calendar: PersonalCalendar) -> None:
    target = occurrence(calendar, at(30, 9))
    calendar.delete(target.key, target.version)
    assert at(30, 9) not in weekly_starts(calendar)
    assert len(weekly_starts(calendar)) == 4
    with pytest.raises(NotFound):
        calendar.get(target.key)


def test_delete_moved_occurrence_removes_the_override(calendar: PersonalCalendar) -> None:
    moved = occurrence(calendar, MOVED_FROM)
    calendar.delete(moved.key)
    assert at(24, 11) not in weekly_starts(calendar) and len(weekly_starts(calendar)) == 4


def test_delete_series_removes_every_occurrence(calendar: PersonalCalendar) -> None:
    calendar.delete(ItemKey(WEEKLY.uid))
    assert weekly_starts(calendar) == []
    assert "single-1" in by_ref(calendar)


def test_delete_with_stale_version_raises(calendar: PersonalCalendar) -> None:
    single = by_ref(calendar)["single-1"]
    calendar.update(replace(single, subject="moved on"))
    with pytest.raises(StaleVersion):
        calendar.delete(single.key, single.version)
    assert "single-1" in by_ref(calendar)


# --- stamps -----------------------------------------------------------------------------------


def test_r20_stamp_on_one_occurrence_survives_other_edit_and_round_trip(
    calendar: PersonalCalendar, factory: CalendarFactory
) -> None:
    target = occurrence(calendar, at(9, 9))
    stamped = calendar.set_stamp(target.key, STAMP, target.version)
    assert stamped.stamp == STAMP
    other = occurrence(calendar, at(30, 9))
    calendar.update(replace(other, subject="Standup (other room)"))
    reopened = factory.reopen()
    stamps = {i.recurrence_id: i.stamp for i in reopened.snapshot(WINDOW).items if i.uid == WEEKLY.uid}
    assert stamps[at(9, 9)] == STAMP
    assert [s for rid, s in stamps.items() if rid != at(9, 9)] == [None] * 4
    assert occurrence(reopened, at(9, 9)).start == at(9, 9)
    assert occurrence(reopened, at(30, 9)).subject == "Standup (other room)"


def test_stamp_on_single_and_removal(calendar: PersonalCalendar) -> None:
    single = by_ref(calendar)["single-1"]
    stamped = calendar.set_stamp(single.key, STAMP, single.version)
    assert calendar.get(single.key).stamp == STAMP
    calendar.set_stamp(single.key, None, stamped.version)
    after = calendar.get(single.key)
    assert (after.stamp, after.subject) == (None, "Dentist")


def test_stamp_with_stale_version_raises(calendar: PersonalCalendar) -> None:
    single = by_ref(calendar)["single-1"]
    calendar.update(replace(single, subject="changed"))
    with pytest.raises(StaleVersion):
        calendar.set_stamp(single.key, STAMP, single.version)
    assert calendar.get(single.key).stamp is None


def test_b9_a_claim_is_written_once_per_version_and_the_stamp_replaces_it(
    calendar: PersonalCalendar, factory: CalendarFactory
) -> None:
    single = by_ref(calendar)["single-1"]
    claimed = calendar.set_claim(single.key, CLAIM, single.version)
    assert claimed.claim == CLAIM and claimed.version != single.version
    with pytest.raises(StaleVersion):  # a second device holding the old version cannot claim too
        calendar.set_claim(single.key, replace(CLAIM, device="other"), single.version)
    assert factory.reopen().get(single.key).claim == CLAIM
    calendar.set_stamp(single.key, STAMP, claimed.version)
    after = factory.reopen().get(single.key)
    assert (after.stamp, after.claim, after.subject) == (STAMP, None, "Dentist")


def test_b9_a_claim_on_one_occurrence_stays_on_it(calendar: PersonalCalendar) -> None:
    target = occurrence(calendar, at(9, 9))
    calendar.set_claim(target.key, CLAIM, target.version)
    claims = {i.recurrence_id: i.claim for i in calendar.snapshot(WINDOW).items if i.uid == WEEKLY.uid}
    assert claims[at(9, 9)] == CLAIM
    assert [c for rid, c in claims.items() if rid != at(9, 9)] == [None] * 4


# --- categories (the org service's category send) -----------------------------------------------


def test_categories_of_one_item_are_rewritten_and_nothing_else(
    calendar: PersonalCalendar, factory: CalendarFactory
) -> None:
    single = calendar.set_stamp(SINGLE.key, STAMP, calendar.get(SINGLE.key).version)
    written = calendar.set_categories(single.key, ("Health", "Sent to Autotask"), single.version)
    assert written.categories == ("Health", "Sent to Autotask") and written.version != single.version
    after = factory.reopen().get(single.key)
    assert after.categories == ("Health", "Sent to Autotask")
    assert (after.subject, after.location, after.start, after.end) == (
        "Dentist", "Main St 1", SINGLE.start, SINGLE.end,
    )  # fmt: skip
    assert (after.stamp, written.stamp) == (STAMP, STAMP)
    with pytest.raises(StaleVersion):
        calendar.set_categories(single.key, (), single.version)
    assert calendar.get(single.key).categories == ("Health", "Sent to Autotask")


def test_categories_of_one_occurrence_stay_on_it_and_the_master_s_reach_the_others(
    calendar: PersonalCalendar,
) -> None:
    target = occurrence(calendar, at(9, 9))
    calendar.set_categories(target.key, ("Send to Autotask",), target.version)
    master = calendar.get(ItemKey(WEEKLY.uid))
    calendar.set_categories(master.key, ("Sent to Autotask",), master.version)
    categories = {
        i.recurrence_id: i.categories for i in calendar.snapshot(WINDOW).items if i.uid == WEEKLY.uid
    }
    assert categories[at(9, 9)] == ("Send to Autotask",)
    assert categories[at(2, 9)] == categories[at(30, 9)] == ("Sent to Autotask",)
    assert occurrence(calendar, at(9, 9)).start == at(9, 9)


# --- changes ----------------------------------------------------------------------------------


def test_changes_since_token_report_new_edited_and_deleted(calendar: PersonalCalendar) -> None:
    snapshot = calendar.snapshot(WINDOW)
    items = {i.ref: i for i in snapshot.items}
    calendar.create(PersonalItem("new-2", at(17, 9), at(17, 10), subject="New"))
    calendar.update(replace(items["single-1"], subject="Edited"))
    calendar.delete(ItemKey("private-1"))
    changes = calendar.changes(WINDOW, snapshot.token)
    assert changes.full is False
    assert {i.ref: i.subject for i in changes.changed} == {"new-2": "New", "single-1": "Edited"}
    assert changes.deleted_uids == ("private-1",)
    quiet = calendar.changes(WINDOW, changes.token)
    assert (quiet.changed, quiet.deleted_uids) == ((), ())


def test_refused_token_falls_back_to_a_full_listing(calendar: PersonalCalendar) -> None:
    changes = calendar.changes(WINDOW, "http://radicale.org/ns/sync/0000-not-a-token")
    assert changes.full is True and changes.deleted_uids == ()
    assert {i.ref for i in changes.changed} == set(by_ref(calendar))
    assert changes.token is not None
