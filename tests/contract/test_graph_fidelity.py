"""The Graph adapter against the stand-in where the real Graph differs from what was first believed.

Each test names the finding of the fidelity review (docs/outlook.md, "What we could not verify
without a live tenant") it proves; the stand-in answers as the real service does there.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calferry import errors
from calferry.contracts import Changes
from calferry.incremental import in_order, merged_personal
from calferry.model import ItemKey, Origin, PersonalItem, PsaKind, ShowAs, Stamp, Window
from calferry.personal import graph, graph_http
from tests.fixtures.graph_standin import TOKEN, GraphStandin
from tests.graph_standin.mailbox import DEFAULT_CALENDAR, SHARED_CALENDAR, SHARED_OWNER

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
    second = calendar.snapshot(WINDOW).items[1]
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


# --- writes to a meeting the technician organises would mail its attendees -----------------------

BERLIN = ZoneInfo("Europe/Berlin")


def _meeting(calendar: graph.GraphCalendar, graph_standin: GraphStandin) -> PersonalItem:
    """A meeting the technician sent from Outlook to two customers (the invitations are theirs)."""
    meeting = PersonalItem(
        "m-1", NINE, NINE + timedelta(hours=1), "Kick-off", attendees=("a@customer.test", "b@customer.test")
    )
    created = calendar.create(meeting)
    graph_standin.mailbox.sent_mail.clear()
    return calendar.get(created.key)


def test_a_meeting_you_organise_is_not_rewritten_and_the_report_says_what_the_psa_changed(
    graph_standin: GraphStandin, graph_calendar: graph.GraphCalendar
) -> None:
    current = _meeting(graph_calendar, graph_standin)
    later = datetime(2026, 11, 3, 15, 30, tzinfo=BERLIN)
    wanted = replace(current, subject="Kick-off (moved)", start=later, end=later + timedelta(hours=1))
    with pytest.raises(errors.MeetingNotChanged) as refused:
        graph_calendar.update(wanted)
    text = str(refused.value)
    assert "Kick-off" in text and "2 attendees" in text and "update" in text
    assert "Tue 03 Nov 2026 15:30–16:30 (Europe/Berlin)" in text and "“Kick-off (moved)”" in text
    assert "R24" not in text and "--" not in text
    assert graph_standin.mailbox.sent_mail == []
    assert graph_calendar.get(current.key).version == current.version


def test_a_meeting_you_organise_is_not_deleted(
    graph_standin: GraphStandin, graph_calendar: graph.GraphCalendar
) -> None:
    current = _meeting(graph_calendar, graph_standin)
    with pytest.raises(errors.MeetingNotChanged, match="cancellation"):
        graph_calendar.delete(current.key, current.version)
    assert graph_standin.mailbox.sent_mail == []
    assert graph_standin.calendar().get(current.key).subject == "Kick-off"


def test_a_meeting_you_organise_is_not_stamped(
    graph_standin: GraphStandin, graph_calendar: graph.GraphCalendar
) -> None:
    current = _meeting(graph_calendar, graph_standin)
    fresh = graph_standin.calendar()  # knows nothing of the meeting yet: asks Outlook first
    kept = fresh.set_stamp(current.key, Stamp(PsaKind.APPOINTMENT, 7, Origin.SENT), current.version)
    assert kept.stamp is None and kept.version == current.version
    assert graph_standin.mailbox.sent_mail == []
    assert not [m for m, _ in graph_standin.mailbox.stats.requests if m == "PATCH"]


def test_an_occurrence_of_a_series_you_organise_is_neither_moved_nor_deleted(
    graph_standin: GraphStandin, graph_calendar: graph.GraphCalendar
) -> None:
    graph_standin.seed_series(
        "Weekly review",
        NINE,
        NINE + timedelta(hours=1),
        3,
        attendees=[{"emailAddress": {"address": "c@customer.test"}, "type": "required"}],
    )
    graph_standin.mailbox.sent_mail.clear()
    second = graph_calendar.snapshot(WINDOW).items[1]
    with pytest.raises(errors.MeetingNotChanged, match="1 attendee"):
        graph_calendar.update(replace(second, start=second.start + timedelta(hours=1)))
    with pytest.raises(errors.MeetingNotChanged):
        graph_calendar.delete(second.key, second.version)
    with pytest.raises(errors.MeetingNotChanged):
        graph_calendar.delete(ItemKey(second.uid))
    assert graph_standin.mailbox.sent_mail == []


def test_a_meeting_someone_else_organises_is_updated_in_your_calendar_only(
    graph_standin: GraphStandin, graph_calendar: graph.GraphCalendar
) -> None:
    body = {
        "subject": "Their meeting",
        "start": {"dateTime": "2026-11-04T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-04T11:00:00", "timeZone": "UTC"},
        "attendees": [{"emailAddress": {"address": "me@contoso.test"}, "type": "required"}],
    }
    graph_standin.mailbox.create(DEFAULT_CALENDAR, body, ical_uid="theirs", organizer="boss@partner.test")
    item = graph_calendar.get(ItemKey("theirs"))
    graph_calendar.set_stamp(item.key, Stamp(PsaKind.APPOINTMENT, 8, Origin.SENT), item.version)
    updated = graph_calendar.update(replace(graph_calendar.get(item.key), subject="Their meeting (PSA)"))
    assert updated.subject == "Their meeting (PSA)" and graph_standin.mailbox.sent_mail == []


# --- bodies are kept as Outlook stores them ------------------------------------------------------

TEAMS_BLOB = (
    '<div style="width:100%">________________________________________________________________________________'
    '<div><b>Microsoft Teams meeting</b></div><a href="https://teams.microsoft.com/l/meetup-join/19%3ameeting_x'
    '%40thread.v2/0">Click here to join the meeting</a></div>'
)


def _stored_html(graph_standin: GraphStandin, uid: str, html: str, **fields: object) -> None:
    body = {
        "subject": "Site visit",
        "body": {"contentType": "html", "content": html},
        "start": {"dateTime": "2026-11-05T13:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-05T14:00:00", "timeZone": "UTC"},
        **fields,
    }
    graph_standin.mailbox.create(DEFAULT_CALENDAR, body, ical_uid=uid, organizer="boss@partner.test")


def test_an_update_that_leaves_the_description_alone_leaves_the_html_body_and_its_teams_blob(
    graph_standin: GraphStandin, graph_calendar: graph.GraphCalendar
) -> None:
    html = f"<html><body><p>Bring the <b>badge</b>.</p>{TEAMS_BLOB}</body></html>"
    _stored_html(graph_standin, "teams-1", html, isOnlineMeeting=True)
    current = graph_calendar.get(ItemKey("teams-1"))
    assert "Bring the badge." in current.description and "<b>" not in current.description
    later = current.start + timedelta(hours=2)  # type: ignore[operator]
    graph_calendar.update(replace(current, start=later, end=later + timedelta(hours=1)))
    assert graph_standin.stored("teams-1")["body"] == {"contentType": "html", "content": html}


def test_a_new_description_is_written_as_html_where_the_item_was_html(
    graph_standin: GraphStandin, graph_calendar: graph.GraphCalendar
) -> None:
    _stored_html(graph_standin, "html-1", "<html><body><p>Old <i>notes</i></p></body></html>")
    current = graph_calendar.get(ItemKey("html-1"))
    graph_calendar.update(replace(current, description="Ticket T2026.11 <urgent>\nCall first"))
    stored = graph_standin.stored("html-1")["body"]
    assert stored["contentType"] == "html"
    assert "Ticket T2026.11 &lt;urgent&gt;<br>" in stored["content"] and "Call first" in stored["content"]
    assert graph_calendar.get(current.key).description == "Ticket T2026.11 <urgent>\nCall first"


def test_an_online_meetings_body_is_never_rewritten(
    graph_standin: GraphStandin, graph_calendar: graph.GraphCalendar
) -> None:
    html = f"<html><body>Agenda{TEAMS_BLOB}</body></html>"
    _stored_html(graph_standin, "teams-2", html, isOnlineMeeting=True)
    current = graph_calendar.get(ItemKey("teams-2"))
    updated = graph_calendar.update(replace(current, subject="Site visit (PSA)", description="New text"))
    assert updated.subject == "Site visit (PSA)"
    assert graph_standin.stored("teams-2")["body"]["content"] == html


# --- a 504 says nothing of what happened behind the gateway ---------------------------------------


def _single(calendar: graph.GraphCalendar, subject: str = "Dentist") -> PersonalItem:
    return calendar.create(PersonalItem(f"{subject}@t", NINE, NINE + timedelta(hours=1), subject))


def test_a_delete_answered_504_after_it_was_done_is_not_reported_as_not_found(
    graph_standin: GraphStandin, graph_calendar: graph.GraphCalendar
) -> None:
    target = _single(graph_calendar)
    graph_standin.mailbox.faults.time_out_after["DELETE"] = 1
    graph_calendar.delete(target.key, target.version)
    assert graph_standin.mailbox.stats.statuses[-2:] == [204, 404]  # done, then the repeat found it gone
    assert graph_calendar.snapshot(WINDOW).items == ()


def test_an_update_answered_504_after_it_was_done_is_not_reported_as_stale(
    graph_standin: GraphStandin, graph_calendar: graph.GraphCalendar
) -> None:
    target = _single(graph_calendar)
    graph_standin.mailbox.faults.time_out_after["PATCH"] = 1
    updated = graph_calendar.update(replace(target, subject="Dentist (moved)"))
    assert updated.subject == "Dentist (moved)"
    assert 412 in graph_standin.mailbox.stats.statuses  # the repeat met its own change key


# --- a $batch is four requests to the mailbox -----------------------------------------------------


def test_a_batch_takes_every_permit_of_the_mailboxs_gate(graph_standin: GraphStandin) -> None:
    calendar = graph_standin.calendar()
    items = [_single(calendar, f"item {n}") for n in range(6)]
    token = calendar.snapshot(WINDOW).token
    for item in items:
        calendar.update(replace(item, location="Room 2"))
    others = [graph_standin.calendar() for _ in range(4)]
    for other in others:
        other.get(items[0].key)  # each asks once, ungated, whose mailbox it is
    graph_standin.mailbox.faults.hold_seconds = 0.05
    with ThreadPoolExecutor(max_workers=6) as pool:
        rereads = pool.submit(calendar.changes, WINDOW, token)  # re-reads the six in one $batch
        gets = [pool.submit(c.get, items[n].key) for n, c in enumerate(others) for _ in range(3)]
        assert len(rereads.result().changed) == 6 and all(g.result() for g in gets)
    assert graph_standin.mailbox.stats.batch_sizes == [6]
    assert graph_standin.mailbox.stats.max_in_flight <= 4


# --- any unusable delta token falls back to a full listing ----------------------------------------


@pytest.mark.parametrize(("status", "code"), [(400, "InvalidDeltaToken"), (410, "ResyncRequired")])
def test_a_refused_delta_token_of_any_documented_shape_lists_the_window_anew(
    graph_standin: GraphStandin, graph_calendar: graph.GraphCalendar, status: int, code: str
) -> None:
    _single(graph_calendar)
    token = graph_calendar.snapshot(WINDOW).token
    graph_standin.mailbox.expire_delta_tokens(status, code)
    changes = graph_calendar.changes(WINDOW, token)
    assert changes.full is True and [i.subject for i in changes.changed] == ["Dentist"]


# --- an occurrence cannot be moved past its neighbour ---------------------------------------------


def test_moving_an_occurrence_past_its_neighbour_says_why_and_what_to_do(
    graph_standin: GraphStandin, graph_calendar: graph.GraphCalendar
) -> None:
    graph_standin.seed_series("Stand-up", NINE, NINE + timedelta(minutes=15), 3)
    second = graph_calendar.snapshot(WINDOW).items[1]
    later = second.start + timedelta(days=8)  # type: ignore[operator]
    with pytest.raises(errors.PersonalCalendarError) as refused:
        graph_calendar.update(replace(second, start=later, end=later + timedelta(minutes=15)))
    assert "previous or next" in refused.value.message and "in Outlook yourself" in str(refused.value)
    moved = second.start + timedelta(days=1)  # type: ignore[operator]
    assert (
        graph_calendar.update(replace(second, start=moved, end=moved + timedelta(minutes=15))).start == moved
    )


# --- delta: series masters, removals that are only moves, and really incremental ------------------


def _merged(cached: tuple[PersonalItem, ...], changes: Changes) -> tuple[PersonalItem, ...] | None:
    return merged_personal(cached, changes)


def test_a_series_master_in_delta_is_a_series_not_a_new_single_item(
    graph_standin: GraphStandin, graph_calendar: graph.GraphCalendar
) -> None:
    master = graph_standin.seed_series("Stand-up", NINE, NINE + timedelta(minutes=15), 3)
    snapshot = graph_calendar.snapshot(WINDOW)
    graph_standin.mailbox.patch(master["id"], {"subject": "Daily stand-up"}, None)
    changes = graph_calendar.changes(WINDOW, snapshot.token)
    assert [(i.subject, i.recurrence_id is not None) for i in changes.changed] == [
        ("Daily stand-up", True)
    ] * 3
    assert changes.changed_uids == (master["iCalUId"],) and changes.deleted_uids == ()


@pytest.mark.parametrize("fresh", [False, True], ids=["same run", "next run"])
def test_an_item_moved_out_of_the_window_is_not_reported_deleted(
    graph_standin: GraphStandin, fresh: bool
) -> None:
    calendar = graph_standin.calendar()
    moving, staying = _single(calendar, "moving"), _single(calendar, "staying")
    snapshot = calendar.snapshot(WINDOW)
    away = NINE + timedelta(days=90)
    calendar.update(replace(moving, start=away, end=away + timedelta(hours=1)))
    reader = graph_standin.calendar() if fresh else calendar
    changes = reader.changes(WINDOW, snapshot.token)
    assert (changes.full, changes.changed, changes.deleted_uids) == (False, (), ())
    assert changes.changed_uids == (moving.uid,)
    assert [i.uid for i in _merged(snapshot.items, changes) or ()] == [staying.uid]


def test_a_deletion_no_listing_named_lists_the_window_anew(graph_standin: GraphStandin) -> None:
    first = graph_standin.calendar()
    gone = _single(first, "gone")
    token = first.snapshot(WINDOW).token
    first.delete(gone.key)
    changes = graph_standin.calendar().changes(WINDOW, token)
    assert changes.full is True and changes.changed == ()


def test_an_incremental_read_costs_one_delta_round_and_one_batch_and_merges_to_the_listing(
    graph_standin: GraphStandin,
) -> None:
    """Measured: one changed item costs 2 requests where a listing costs a delta round and the pages."""
    calendar = graph_standin.calendar(page_size=5)
    items = [_single(calendar, f"item {n}") for n in range(12)]
    master = graph_standin.seed_series("Stand-up", NINE, NINE + timedelta(minutes=15), 3)
    snapshot = calendar.snapshot(WINDOW)
    calendar.update(replace(items[3], subject="item 3 (PSA)"))
    calendar.delete(items[7].key)
    graph_standin.mailbox.patch(master["id"], {"subject": "Daily stand-up"}, None)
    before = len(graph_standin.mailbox.stats.requests)
    changes = calendar.changes(WINDOW, snapshot.token)
    read = graph_standin.mailbox.stats.requests[before:]
    assert (
        [m for m, _ in read] == ["GET", "POST"] and "/delta" in read[0][1] and read[1][1].endswith("$batch")
    )
    assert changes.changed_uids is not None and changes.full is False
    listed = graph_standin.calendar().snapshot(WINDOW).items
    assert _merged(snapshot.items, changes) == in_order(listed)


# --- a calendar shared from another mailbox is reached through that calendar ----------------------


def test_a_shared_calendar_is_read_and_written_through_the_calendar_not_me_events(
    graph_standin: GraphStandin,
) -> None:
    calendar = graph_standin.calendar(calendar="Dispatch")
    created = _single(calendar, "On call")
    series = graph_standin.seed_series("Rota", NINE, NINE + timedelta(hours=1), 2)
    assert graph_standin.stored(created.uid)["_calendar"] == SHARED_CALENDAR and series  # default calendar
    snapshot = calendar.snapshot(WINDOW)
    assert [i.subject for i in snapshot.items] == ["On call"]
    updated = calendar.update(replace(calendar.get(created.key), subject="On call (PSA)"))
    calendar.set_stamp(updated.key, Stamp(PsaKind.APPOINTMENT, 3, Origin.DOWNLOADED), updated.version)
    changes = graph_standin.calendar(calendar="Dispatch").changes(WINDOW, snapshot.token)
    assert [(i.subject, i.stamp is not None) for i in changes.changed] == [("On call (PSA)", True)]
    calendar.delete(created.key)
    paths = [p for _, p in graph_standin.mailbox.stats.requests]
    assert not [p for p in paths if "/me/events/" in p]
    assert calendar._http._gate is graph_http._gate(f"{graph_standin.url} {SHARED_OWNER}")


# --- all-day items in the technician's zone; cancelled meetings are not busy ----------------------


@given(zone=st.sampled_from(ZONES), day=st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31)))
def test_all_day_bounds_are_written_as_midnights_of_the_technicians_zone(zone: str, day: date) -> None:
    body = graph.event_body(
        PersonalItem("d", day, day + timedelta(days=2), "Training"), attendees=False, zone=zone
    )
    assert body["start"] == {"dateTime": f"{day.isoformat()}T00:00:00", "timeZone": zone}
    assert body["isAllDay"] is True and body["end"]["timeZone"] == zone


def test_an_all_day_item_is_kept_in_the_technicians_zone_and_read_back_as_its_dates(
    graph_standin: GraphStandin,
) -> None:
    calendar = graph_standin.calendar(time_zone="Pacific/Auckland")
    created = calendar.create(PersonalItem("d", date(2026, 11, 5), date(2026, 11, 7), "Training"))
    assert graph_standin.stored("d")["start"] == {
        "dateTime": "2026-11-05T00:00:00",
        "timeZone": "Pacific/Auckland",
    }
    got = calendar.get(created.key)
    assert (got.start, got.end) == (date(2026, 11, 5), date(2026, 11, 7))


def test_the_technicians_zone_is_this_computers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/Chicago")
    assert graph.local_zone() == "America/Chicago"
    monkeypatch.setenv("TZ", "Not/AZone")
    assert graph.local_zone() != "Not/AZone"


def test_a_meeting_its_organiser_cancelled_is_not_busy(
    graph_standin: GraphStandin, graph_calendar: graph.GraphCalendar
) -> None:
    body = {
        "subject": "Canceled: Review",
        "start": {"dateTime": "2026-11-04T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-04T11:00:00", "timeZone": "UTC"},
        "attendees": [{"emailAddress": {"address": "adele.vance@contoso.test"}, "type": "required"}],
    }
    event = graph_standin.mailbox.create(
        DEFAULT_CALENDAR, body, ical_uid="off", organizer="boss@partner.test"
    )
    event["isCancelled"] = True  # what Exchange makes of an attendee's copy when the organiser cancels
    assert graph_calendar.get(ItemKey("off")).show_as is ShowAs.FREE


def test_without_original_start_even_when_selected_occurrences_and_exceptions_still_work(
    graph_standin: GraphStandin,
) -> None:
    """Named from occurrenceId alone: list, get, move, stamp, delete of occurrences and exceptions."""
    berlin_nine = datetime(2026, 11, 2, 9, tzinfo=BERLIN)
    master = graph_standin.seed_series("Stand-up", berlin_nine, berlin_nine + timedelta(minutes=15), 4)
    moved = graph_standin.mailbox.occurrence_id(master["id"], berlin_nine + timedelta(days=7))
    later = {"dateTime": "2026-11-10T15:00:00", "timeZone": "Europe/Berlin"}
    graph_standin.mailbox.patch(moved, {"start": later, "end": later}, None)  # an exception, a day later
    expected = [i.recurrence_id for i in graph_standin.calendar().snapshot(WINDOW).items]

    graph_standin.mailbox.faults.withhold_original_start = True
    calendar = graph_standin.calendar()  # a fresh run: nothing learnt yet
    items = calendar.snapshot(WINDOW).items
    assert [i.recurrence_id for i in items] == expected
    exception = graph_standin.calendar().get(items[1].key)
    assert exception.recurrence_id == expected[1] and exception.start != expected[1]
    stamped = calendar.set_stamp(items[2].key, Stamp(PsaKind.APPOINTMENT, 5, Origin.SENT), items[2].version)
    assert stamped.recurrence_id == expected[2] and calendar.get(items[2].key).stamp is not None
    calendar.delete(items[3].key)
    assert [i.recurrence_id for i in graph_standin.calendar().snapshot(WINDOW).items] == expected[:3]


def test_a_meeting_you_organise_keeps_its_categories_and_no_one_is_mailed(
    graph_standin: GraphStandin, graph_calendar: graph.GraphCalendar
) -> None:
    current = _meeting(graph_calendar, graph_standin)
    with pytest.raises(errors.MeetingNotChanged, match="2 attendee") as refused:
        graph_calendar.set_categories(current.key, ("Sent to Autotask",), current.version)
    assert "Kick-off" in str(refused.value) and "--" not in str(refused.value)
    assert graph_standin.mailbox.sent_mail == []
    assert not [m for m, _ in graph_standin.mailbox.stats.requests if m == "PATCH"]


def test_categories_are_patched_alone_with_if_match(
    graph_standin: GraphStandin, graph_calendar: graph.GraphCalendar
) -> None:
    created = graph_calendar.create(
        PersonalItem(
            "c-1", NINE, NINE + timedelta(hours=1), "Site visit", "notes", "Main St", categories=("Red",)
        )
    )
    stamped = graph_calendar.set_stamp(
        created.key, Stamp(PsaKind.APPOINTMENT, 9, Origin.SENT), created.version
    )
    before = dict(graph_standin.stored("c-1"))
    written = graph_calendar.set_categories(created.key, ("Red", "Sent to Autotask"), stamped.version)
    after = graph_standin.stored("c-1")
    assert after["categories"] == ["Red", "Sent to Autotask"]
    assert written.categories == ("Red", "Sent to Autotask") and written.stamp == stamped.stamp
    assert {k: after[k] for k in ("subject", "body", "location", "start", "end")} == {
        k: before[k] for k in ("subject", "body", "location", "start", "end")
    }
    assert f'W/"{before["changeKey"]}"' in graph_standin.mailbox.stats.if_match  # the version it was given
    with pytest.raises(errors.StaleVersion):
        graph_calendar.set_categories(created.key, (), stamped.version)
