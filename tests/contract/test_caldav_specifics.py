"""What the CalDAV adapter promises beyond the shared contract, against a real Radicale: the server's
If-Match decides between two writers, SEQUENCE is never bumped, reads are a fixed number of REPORTs,
a malformed stored object is a problem and nothing more, and ``calendar serve`` off loopback needs a
password file that Radicale then enforces."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from icalendar import Calendar
from typer.testing import CliRunner

from calferry.cli import app
from calferry.errors import MalformedCalendar, StaleVersion
from calferry.model import ItemKey, Origin, PersonalItem, PsaKind, Stamp
from calferry.personal import ical
from calferry.personal.caldav import CalDavCalendar, dav_client
from calferry.personal.radicale import DEFAULT_USER, bulk_put
from tests.contract.personal_support import BERLIN, Seed, seed_ical
from tests.unit.test_ical_cli import OUTLOOK, serving
from tests.unit.test_ical_files import SERIES, WINDOW

STAMP = Stamp(PsaKind.APPOINTMENT, 17, Origin.SENT)
ITEM = PersonalItem(
    "visit-1",
    datetime(2026, 3, 3, 9, tzinfo=BERLIN),
    datetime(2026, 3, 3, 10, tzinfo=BERLIN),
    subject="Visit",
)


@pytest.fixture
def opened(radicale_calendar_url: str) -> Iterator[Callable[[], CalDavCalendar]]:
    """Opens adapters on the test's calendar (each with its own cache and request count)."""
    adapters: list[CalDavCalendar] = []

    def make() -> CalDavCalendar:
        adapters.append(CalDavCalendar(radicale_calendar_url, username=DEFAULT_USER))
        return adapters[-1]

    yield make
    for adapter in adapters:
        adapter.close()


def stored_text(url: str, uid: str) -> str:
    response = httpx.get(f"{url}{uid}.ics", auth=(DEFAULT_USER, ""))
    assert response.status_code == 200
    return response.text


WRITES: dict[str, Callable[[CalDavCalendar, PersonalItem], object]] = {
    "update": lambda cal, item: cal.update(replace(item, subject="from the second")),
    "set_stamp": lambda cal, item: cal.set_stamp(item.key, STAMP, item.version),
    "delete": lambda cal, item: cal.delete(item.key, item.version),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_second_writer_with_an_old_etag_gets_the_servers_412_as_stale_version(
    write: str, opened: Callable[[], CalDavCalendar]
) -> None:
    first, second = opened(), opened()
    first.create(ITEM)
    seen_by_second = second.get(ITEM.key)  # read before the first one writes
    first.update(replace(first.get(ITEM.key), subject="from the first"))
    before = second.requests
    with pytest.raises(StaleVersion):
        WRITES[write](second, seen_by_second)
    assert second.requests - before == 1  # one conditional request: the server refused it, not our cache
    assert opened().get(ITEM.key).subject == "from the first"


def sequences(text: str) -> dict[str | None, int | None]:
    """SEQUENCE per event of one stored object, keyed by RECURRENCE-ID text (None: the master)."""
    found: dict[str | None, int | None] = {}
    for event in Calendar.from_ical(text).walk("VEVENT"):
        rid = event.get("RECURRENCE-ID")
        found[None if rid is None else rid.to_ical().decode()] = event.get("SEQUENCE")
    return found


def test_our_writes_never_bump_sequence(
    opened: Callable[[], CalDavCalendar], radicale_calendar_url: str
) -> None:
    resources, _ = ical.resources_in(OUTLOOK.read_bytes(), "fixture")
    calendar = opened()
    calendar.add_resource(next(r for r in resources if r.uid == SERIES))
    before = sequences(stored_text(radicale_calendar_url, SERIES))
    assert before == {None: 0, "20260323T090000": 1}
    master = calendar.get(ItemKey(SERIES))
    calendar.update(replace(master, subject="Team-Standup (neu)"))
    moved = calendar.get(ItemKey(SERIES, "20260323T080000Z"))
    calendar.update(replace(moved, location="Raum 5"))
    calendar.set_stamp(ItemKey(SERIES, "20260330T070000Z"), STAMP)  # a new override, copied from the master
    calendar.create(ITEM)
    calendar.update(replace(calendar.get(ITEM.key), subject="Visit (moved)"))
    after = sequences(stored_text(radicale_calendar_url, SERIES))
    assert after == {**before, "20260330T090000": 0}
    assert "SEQUENCE" not in stored_text(radicale_calendar_url, ITEM.uid)


def test_list_and_changes_are_a_fixed_number_of_reports_not_one_get_per_item(
    opened: Callable[[], CalDavCalendar], radicale_calendar_url: str
) -> None:
    items = tuple(
        replace(
            ITEM, uid=f"visit-{n}", start=ITEM.start + timedelta(hours=n), end=ITEM.end + timedelta(hours=n)
        )
        for n in range(30)
    )
    bulk_put(radicale_calendar_url, seed_ical(Seed(items)))
    reader = opened()
    before = reader.requests
    snapshot = reader.snapshot(WINDOW)
    assert len(snapshot.items) == 30
    assert reader.requests - before == 2  # the sync token (PROPFIND) and one calendar-query REPORT
    writer = opened()
    for item in snapshot.items[:5]:
        writer.update(replace(item, subject=f"{item.subject} (edited)"))
    before = reader.requests
    changes = reader.changes(WINDOW, snapshot.token)
    assert sorted(i.uid for i in changes.changed) == sorted(i.uid for i in snapshot.items[:5])
    assert reader.requests - before == 2  # one sync-collection REPORT (etags only), one calendar-multiget


def test_malformed_stored_object_is_a_problem_left_untouched_and_the_rest_lists(
    opened: Callable[[], CalDavCalendar], radicale_calendar_url: str
) -> None:
    calendar = opened()
    calendar.create(ITEM)
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//elsewhere//EN\r\nBEGIN:VEVENT\r\nUID:broken-1\r\n"
        "DTSTAMP:20260201T101500Z\r\nDTSTART:20260304T090000Z\r\nGEO:north\r\nSUMMARY:Kaputt\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )  # Radicale accepts it (it does not check GEO); icalendar cannot read the value
    put = httpx.put(
        f"{radicale_calendar_url}broken-1.ics",
        content=text,
        headers={"Content-Type": "text/calendar"},
        auth=(DEFAULT_USER, ""),
    )
    assert put.status_code == 201
    broken = stored_text(radicale_calendar_url, "broken-1")  # as Radicale keeps it
    snapshot = opened().snapshot(WINDOW)
    assert [i.uid for i in snapshot.items] == [ITEM.uid]
    [problem] = snapshot.problems
    assert problem.uid == "broken-1" and "GEO" in problem.reason and problem.where.endswith(".ics")
    with pytest.raises(MalformedCalendar, match="broken-1"):
        calendar.set_stamp(ItemKey("broken-1"), STAMP)
    calendar.update(replace(calendar.get(ITEM.key), subject="Visit (moved)"))
    assert stored_text(radicale_calendar_url, "broken-1") == broken


runner = CliRunner()


def test_serve_beyond_loopback_refuses_to_start_without_htpasswd(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["calendar", "serve", "--host", "0.0.0.0", "--port", "0", "--storage", str(tmp_path), "--json"]
    )
    assert result.exit_code == 5
    error = json.loads(result.stdout)["error"]
    assert "without a password file" in error["message"] and "--htpasswd" in error["message"]


def test_serve_beyond_loopback_with_htpasswd_answers_only_with_credentials(tmp_path: Path) -> None:
    passwords = tmp_path / "htpasswd"
    passwords.write_text(f"{DEFAULT_USER}:lighthouse\n", encoding="utf-8")  # plain text, as Radicale reads it
    options = ("--host", "0.0.0.0", "--htpasswd", str(passwords), "--storage", str(tmp_path / "storage"))
    with serving(*options) as info:
        url = f"http://127.0.0.1:{info['port']}/{DEFAULT_USER}/calendar/"

        def propfind(auth: tuple[str, str] | None) -> int:
            return httpx.request("PROPFIND", url, headers={"Depth": "0"}, auth=auth).status_code

        assert propfind(None) == 401
        assert propfind((DEFAULT_USER, "wrong")) == 401
        assert propfind((DEFAULT_USER, "lighthouse")) == 207


def test_the_http_session_can_be_injected_and_every_request_goes_through_it(
    radicale_calendar_url: str,
) -> None:
    """The seam the HTTP layer asks of every adapter: the caller may bring the session (TLS, proxy,
    a tenant's own limits); the adapter then sends nothing around it."""
    methods: list[str] = []
    session = dav_client(radicale_calendar_url, DEFAULT_USER)
    send = session.request

    def recording(url: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        methods.append(method)
        return send(url, method, *args, **kwargs)

    session.request = recording  # type: ignore[method-assign]
    calendar = CalDavCalendar(radicale_calendar_url, client=session)
    try:
        calendar.create(ITEM)
        assert [i.uid for i in calendar.snapshot(WINDOW).items] == ["visit-1"]
        assert len(methods) == calendar.requests >= 3 and "PUT" in methods and "REPORT" in methods
    finally:
        calendar.close()
