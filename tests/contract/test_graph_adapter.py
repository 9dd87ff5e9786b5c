"""The Graph adapter against the Graph stand-in on loopback: reading, writing, series, stamps, limits."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from calferry import errors
from calferry.model import ItemKey, Origin, PersonalItem, PersonalKind, PsaKind, ShowAs, Stamp, Window
from calferry.personal.graph import CLAIM_PROPERTY, STAMP_PROPERTY, UID_PROPERTY, GraphCalendar
from tests.fixtures.graph_standin import GraphStandin
from tests.graph_standin.app import EXPIRED_TOKEN

WINDOW = Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
NINE = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _item(subject: str = "Dentist", start: datetime = NINE, **fields: object) -> PersonalItem:
    uid = f"{subject}-{start:%d%H}@calferry.test"
    return PersonalItem(uid, start, start + timedelta(hours=1), subject=subject, **fields)  # type: ignore[arg-type]


def _series(graph_standin: GraphStandin, count: int = 4) -> str:
    """A weekly series made in Outlook; its uid is the master's iCalUId."""
    master = graph_standin.seed_series("Stand-up", NINE, NINE + timedelta(minutes=15), count)
    return str(master["iCalUId"])


def test_list_follows_next_links_and_sends_utc_and_immutable_id_preferences(
    graph_standin: GraphStandin,
) -> None:
    calendar = graph_standin.calendar(page_size=3)
    for n in range(7):
        calendar.create(_item(f"item {n}", NINE + timedelta(days=n)))
    snapshot = calendar.snapshot(WINDOW)
    assert [i.subject for i in snapshot.items] == [f"item {n}" for n in range(7)]
    views = [p for m, p in graph_standin.mailbox.stats.requests if "/calendarView?" in p or "$skip=" in p]
    assert len(views) == 3  # pages of 3, 3, 1
    prefer = graph_standin.mailbox.stats.prefer[-1]
    assert 'outlook.timezone="UTC"' in prefer and 'IdType="ImmutableId"' in prefer


def test_fields_round_trip_through_outlook(graph_calendar: GraphCalendar) -> None:
    item = _item(
        "Review",
        description="notes",
        location="Room 1",
        private=True,
        categories=("Blue category", "PSA"),
        reminder_minutes=10,
        show_as=ShowAs.TENTATIVE,
    )
    created = graph_calendar.create(item)
    got = graph_calendar.get(created.key)
    assert (got.subject, got.description, got.location) == ("Review", "notes", "Room 1")
    assert got.private and got.categories == ("Blue category", "PSA")
    assert got.reminder_minutes == 10 and got.show_as is ShowAs.TENTATIVE
    assert (got.start, got.end) == (item.start, item.end) and got.version == created.version


def test_all_day_item_is_written_and_read_as_dates(graph_calendar: GraphCalendar) -> None:
    created = graph_calendar.create(
        PersonalItem("x", date(2026, 11, 5), date(2026, 11, 7), subject="Training")
    )
    got = graph_calendar.get(created.key)
    assert (got.start, got.end) == (date(2026, 11, 5), date(2026, 11, 7))
    assert got.kind is PersonalKind.EVENT


def test_r9_item_downloaded_from_the_psa_never_carries_attendees(
    graph_standin: GraphStandin, graph_calendar: GraphCalendar
) -> None:
    stamp = Stamp(PsaKind.APPOINTMENT, 41, Origin.DOWNLOADED)
    created = graph_calendar.create(_item(attendees=("customer@example.com",), stamp=stamp))
    assert graph_standin.stored(created.uid)["attendees"] == []
    assert graph_calendar.get(created.key).attendees == ()


def test_b9_two_devices_copying_one_psa_item_make_one_outlook_item(graph_standin: GraphStandin) -> None:
    copy = _item("Booked in the PSA", stamp=Stamp(PsaKind.APPOINTMENT, 42, Origin.DOWNLOADED))
    laptop, desktop = graph_standin.calendar(), graph_standin.calendar()
    try:
        with ThreadPoolExecutor(2) as pool:
            made = list(pool.map(lambda cal: cal.create(copy), (laptop, desktop)))
        assert made[0].uid == made[1].uid == copy.uid
        assert [i.subject for i in laptop.snapshot(WINDOW).items] == ["Booked in the PSA"]
    finally:
        laptop.close()
        desktop.close()


def test_r9_item_with_attendees_is_a_meeting(graph_calendar: GraphCalendar) -> None:
    created = graph_calendar.create(_item(attendees=("colleague@example.com",)))
    assert graph_calendar.get(created.key).kind is PersonalKind.MEETING


def test_r16_stamp_is_kept_in_the_one_extended_property(
    graph_standin: GraphStandin, graph_calendar: GraphCalendar
) -> None:
    stamp = Stamp(PsaKind.TODO, 77, Origin.SENT, company_id=3)
    created = graph_calendar.create(_item())
    stamped = graph_calendar.set_stamp(created.key, stamp, created.version)
    assert stamped.stamp == stamp and stamped.version != created.version
    assert graph_calendar.get(created.key).stamp == stamp
    props = graph_standin.stored(created.uid)["_props"]
    assert sorted(p[0] for p in props.values()) == [CLAIM_PROPERTY, STAMP_PROPERTY, UID_PROPERTY]  # one GUID
    assert props[CLAIM_PROPERTY.lower()][1] == ""  # the stamp leaves no claim (B9)
    graph_calendar.set_stamp(created.key, None)
    assert graph_calendar.get(created.key).stamp is None


def test_stamp_survives_an_unrelated_edit(graph_calendar: GraphCalendar) -> None:
    stamp = Stamp(PsaKind.APPOINTMENT, 5, Origin.SENT)
    created = graph_calendar.create(_item(stamp=stamp))
    got = graph_calendar.get(created.key)
    graph_calendar.update(replace(got, subject="Dentist (moved)"))
    again = graph_calendar.get(created.key)
    assert again.subject == "Dentist (moved)" and again.stamp == stamp


def test_stale_change_key_is_refused_and_changes_nothing(graph_calendar: GraphCalendar) -> None:
    created = graph_calendar.create(_item())
    graph_calendar.update(replace(created, subject="first edit"))
    with pytest.raises(errors.StaleVersion):
        graph_calendar.update(replace(created, subject="stale edit"))
    with pytest.raises(errors.StaleVersion):
        graph_calendar.delete(created.key, created.version)
    with pytest.raises(errors.StaleVersion):
        graph_calendar.set_stamp(created.key, Stamp(PsaKind.APPOINTMENT, 1, Origin.SENT), created.version)
    assert graph_calendar.get(created.key).subject == "first edit"


def test_series_occurrences_carry_the_master_id_and_original_start(
    graph_standin: GraphStandin, graph_calendar: GraphCalendar
) -> None:
    series_uid = _series(graph_standin)
    items = graph_calendar.snapshot(WINDOW).items
    assert [i.recurrence_id for i in items] == [NINE + timedelta(days=7 * n) for n in range(4)]
    assert {i.uid for i in items} == {series_uid} and all(i.recurring for i in items)


def test_r20_updating_one_occurrence_makes_an_exception_with_its_own_stamp(
    graph_standin: GraphStandin, graph_calendar: GraphCalendar
) -> None:
    series_uid = _series(graph_standin)
    second = graph_calendar.snapshot(WINDOW).items[1]
    moved = replace(second, start=second.start + timedelta(hours=2), end=second.end + timedelta(hours=2))
    graph_calendar.update(moved)
    graph_calendar.set_stamp(second.key, Stamp(PsaKind.APPOINTMENT, 900, Origin.SENT))
    got = graph_calendar.get(second.key)
    assert got.start == moved.start and got.recurrence_id == second.recurrence_id
    assert got.stamp == Stamp(PsaKind.APPOINTMENT, 900, Origin.SENT)
    others = [i for i in graph_calendar.snapshot(WINDOW).items if i.key != second.key]
    assert len(others) == 3 and all(i.stamp is None and i.uid == series_uid for i in others)


def test_deleting_one_occurrence_keeps_the_rest_of_the_series(
    graph_standin: GraphStandin, graph_calendar: GraphCalendar
) -> None:
    _series(graph_standin)
    third = graph_calendar.snapshot(WINDOW).items[2]
    graph_calendar.delete(third.key, third.version)
    left = graph_calendar.snapshot(WINDOW).items
    assert len(left) == 3 and third.key not in {i.key for i in left}
    with pytest.raises(errors.NotFound):
        graph_calendar.get(third.key)


def test_deleting_the_series_removes_every_occurrence(
    graph_standin: GraphStandin, graph_calendar: GraphCalendar
) -> None:
    series_uid = _series(graph_standin)
    graph_calendar.delete(ItemKey(series_uid))
    assert graph_calendar.snapshot(WINDOW).items == ()


def test_unknown_item_and_occurrence_are_not_found(
    graph_standin: GraphStandin, graph_calendar: GraphCalendar
) -> None:
    single = graph_calendar.create(_item())
    with pytest.raises(errors.NotFound):
        graph_calendar.get(ItemKey("AAMkAGI2-no-such-item"))
    with pytest.raises(errors.NotFound):
        graph_calendar.get(ItemKey(single.uid, "20261102T090000Z"))  # not a series
    with pytest.raises(errors.NotFound):
        graph_calendar.get(ItemKey(_series(graph_standin), "20261103T090000Z"))  # no such original start


def test_calendar_is_chosen_by_name(graph_standin: GraphStandin) -> None:
    calendar = graph_standin.calendar(calendar="technician")
    created = calendar.create(_item())
    assert graph_standin.stored(created.uid)["_calendar"] == "AAMkAGI2-technician"
    assert graph_standin.calendar().snapshot(WINDOW).items == ()  # the default calendar stays empty
    assert [i.uid for i in calendar.snapshot(WINDOW).items] == [created.uid]


def test_unknown_calendar_name_lists_the_ones_there_are(graph_standin: GraphStandin) -> None:
    with pytest.raises(errors.ConfigError) as caught:
        graph_standin.calendar(calendar="Holidays").snapshot(WINDOW)
    assert "Technician" in str(caught.value)


def test_refused_token_asks_to_sign_in_again(graph_standin: GraphStandin) -> None:
    calendar = GraphCalendar(base_url=graph_standin.url, token_provider=lambda: EXPIRED_TOKEN)
    with pytest.raises(errors.CredentialsMissing, match="login --outlook"):
        calendar.snapshot(WINDOW)
    calendar.close()


def test_create_keeps_no_recurring_items(graph_calendar: GraphCalendar) -> None:
    with pytest.raises(errors.InputError):
        graph_calendar.create(replace(_item(), recurring=True))


def test_at_most_four_requests_are_in_flight_per_mailbox_and_each_mailbox_has_its_own_gate(
    graph_standin: GraphStandin,
) -> None:
    other = graph_standin.add_mailbox("megan-token", "megan.bowen@contoso.test")
    mine, mine_again = graph_standin.calendar(), graph_standin.calendar()  # two adapters, one mailbox
    theirs = graph_standin.calendar(token_provider=lambda: "megan-token")
    work = [(c, c.create(_item()).key) for c in (mine, mine_again, theirs)]
    for mailbox in (graph_standin.mailbox, other):
        mailbox.faults.hold_seconds = 0.1
    with ThreadPoolExecutor(max_workers=18) as pool:
        got = list(pool.map(lambda job: job[0].get(job[1]).subject, [job for job in work for _ in range(6)]))
    assert got == ["Dentist"] * 18
    assert graph_standin.mailbox.stats.max_in_flight <= 4 and other.stats.max_in_flight <= 4
    assert graph_standin.max_in_flight > 4  # the two mailboxes' requests overlapped: no shared gate
    for mailbox, count in ((graph_standin.mailbox, 12), (other, 6)):
        assert sum(1 for m, p in mailbox.stats.requests if m == "GET" and "/events/" in p) == count
    for calendar in (mine, mine_again, theirs):
        calendar.close()


# --- writes whose answer was lost (the connection dropped after Graph carried them out) ------------


@pytest.mark.parametrize("occurrence", [False, True], ids=["single", "occurrence"])
def test_delete_whose_answer_was_lost_is_not_reported_as_not_found(
    graph_standin: GraphStandin, graph_calendar: GraphCalendar, occurrence: bool
) -> None:
    if occurrence:
        _series(graph_standin)
        target = graph_calendar.snapshot(WINDOW).items[1]
    else:
        target = graph_calendar.create(_item())
    graph_standin.mailbox.faults.lose_answers["DELETE"] = 1
    graph_calendar.delete(target.key, target.version)
    stats = graph_standin.mailbox.stats
    assert stats.lost_answers == 1 and stats.statuses[-2:] == [204, 404]  # the repeat found it gone
    with pytest.raises(errors.NotFound):
        graph_calendar.get(target.key)


def test_update_whose_answer_was_lost_is_not_reported_as_stale(
    graph_standin: GraphStandin, graph_calendar: GraphCalendar
) -> None:
    created = graph_calendar.create(_item(stamp=Stamp(PsaKind.APPOINTMENT, 8, Origin.SENT)))
    graph_standin.mailbox.faults.lose_answers["PATCH"] = 1
    updated = graph_calendar.update(
        replace(created, subject="Dentist (moved)", end=created.end + timedelta(hours=1))
    )
    assert graph_standin.mailbox.stats.statuses[-3:] == [200, 412, 200]  # PATCH, its repeat, the re-read
    got = graph_calendar.get(created.key)
    assert (updated.subject, updated.end, updated.version) == ("Dentist (moved)", got.end, got.version)
    assert updated.version != created.version and got.subject == "Dentist (moved)"


def test_stamp_whose_answer_was_lost_is_written_although_another_field_changed_meanwhile(
    graph_standin: GraphStandin,
) -> None:
    """Only the fields that were sent are compared: Outlook's own edit of the subject is not ours to judge."""
    edits = _edit_before_the_repeat(graph_standin, {"subject": "Dentist (Outlook)"})
    calendar = graph_standin.calendar(sleep=edits)
    created = calendar.create(_item())
    graph_standin.mailbox.faults.lose_answers["PATCH"] = 1
    stamp = Stamp(PsaKind.TODO, 12, Origin.SENT, company_id=4)
    stamped = calendar.set_stamp(created.key, stamp, created.version)
    got = calendar.get(created.key)
    assert (stamped.stamp, stamped.version) == (stamp, got.version)
    assert (got.stamp, got.subject) == (stamp, "Dentist (Outlook)")
    calendar.close()


def test_update_whose_answer_was_lost_is_stale_when_outlook_changed_a_field_it_sent(
    graph_standin: GraphStandin,
) -> None:
    calendar = graph_standin.calendar(
        sleep=_edit_before_the_repeat(graph_standin, {"subject": "Dentist (Outlook)"})
    )
    created = calendar.create(_item())
    graph_standin.mailbox.faults.lose_answers["PATCH"] = 1
    with pytest.raises(errors.StaleVersion):
        calendar.update(replace(created, subject="Dentist (moved)"))
    assert calendar.get(created.key).subject == "Dentist (Outlook)"
    calendar.close()


def _edit_before_the_repeat(graph_standin: GraphStandin, body: dict[str, object]) -> Callable[[float], None]:
    """A sleep that lets "the technician in Outlook" edit every stored event while calferry waits to retry."""

    def sleep(_seconds: float) -> None:
        for event_id in list(graph_standin.mailbox.events):
            graph_standin.mailbox.patch(event_id, body, None)

    return sleep
