"""Times are the technician's: what is entered or listed through the web page and the CLI is read and
shown in the PSA resource's zone, whatever the machine's, and lands at the same instant in the PSA and
in the personal calendar. Real ``calferry psa serve`` app and Radicale over loopback.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from calferry.model import PersonalItem
from calferry.psa.query import parse_utc
from calferry.web.app import default_service_factory
from tests.fixtures.web_client import WebClient
from tests.system.conftest import Cli

# Both sides of the date line (UTC+14 to UTC-11), a 45-minute offset, and zones with DST on each hemisphere.
ZONES = (
    "Pacific/Kiritimati",
    "Pacific/Tongatapu",
    "Pacific/Chatham",
    "Pacific/Auckland",
    "Asia/Tokyo",
    "UTC",
    "America/New_York",
    "Pacific/Honolulu",
    "Pacific/Pago_Pago",
)
NEW_YORK_LOCATION = 1  # Nora York's internal location in the demo PSA
_titles = itertools.count()


def set_zone(cli: Cli, zone: str) -> None:
    """The PSA administrator moves Nora's office to ``zone`` (the REST API cannot write locations)."""
    with cli.psa_server.state.engine.begin() as conn:
        conn.execute(
            text('UPDATE "InternalLocations" SET "timeZone" = :zone WHERE id = :id'),
            {"zone": zone, "id": NEW_YORK_LOCATION},
        )


def web_client() -> WebClient:
    """The page as ``calferry web`` serves it: the configured adapters, opened per request."""
    return WebClient(default_service_factory())


def psa_start(cli: Cli, title: str) -> datetime:
    [row] = cli.psa_query("Appointments", {"op": "eq", "field": "title", "value": title})
    return parse_utc(row["startDateTime"])


def personal(cli: Cli, title: str) -> PersonalItem:
    [item] = [i for i in cli.personal_items() if i.subject == title]
    return item


def instant(value: object) -> datetime:
    assert isinstance(value, datetime), value
    return value.astimezone(UTC)


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    zone=st.sampled_from(ZONES),
    days_ahead=st.integers(min_value=1, max_value=20),
    hour=st.sampled_from((0, 6, 10, 13, 23)),
    minute=st.sampled_from((0, 30)),
)
def test_added_through_page_and_cli_lands_at_the_technicians_wall_clock(
    cli: Cli, zone: str, days_ahead: int, hour: int, minute: int
) -> None:
    set_zone(cli, zone)
    day = datetime.now(ZoneInfo(zone)).date() + timedelta(days=days_ahead)
    local = datetime.combine(day, time(hour, minute), ZoneInfo(zone))
    wall, wall_end = (
        local.strftime("%Y-%m-%dT%H:%M"),
        (local + timedelta(minutes=45)).strftime("%Y-%m-%dT%H:%M"),
    )
    by_web, by_cli = f"Visit {next(_titles)} web", f"Visit {next(_titles)} cli"

    page = web_client()
    added = page.post("/add", {"kind": "appointment", "title": by_web, "start": wall, "end": wall_end})
    assert added.status_code == 200, added.text
    cli.ok("add", "appointment", "--title", by_cli, "--start", wall, "--end", wall_end)

    for title in (by_web, by_cli):
        assert psa_start(cli, title) == local.astimezone(UTC)
        assert instant(personal(cli, title).start) == local.astimezone(UTC)
    assert_listed_at_wall_clock(cli, page, zone, day, local, (by_web, by_cli))


def assert_listed_at_wall_clock(
    cli: Cli, page: WebClient, zone: str, day: date, local: datetime, titles: tuple[str, str]
) -> None:
    """The day's listing (cut at the technician's midnights) holds both, shown at the wall-clock time."""
    listed = cli.ok("items", "--from", day.isoformat(), "--to", day.isoformat()).data["items"]
    assert set(titles) <= {i["subject"] for i in listed}
    table = cli.run("items", "--from", day.isoformat(), "--to", day.isoformat(), json_output=False).stdout
    assert f"times in {zone}" in table
    calendar = page.get("/calendar", start=day.isoformat(), end=day.isoformat()).text
    assert f"Times in {zone}" in calendar
    shown = f"{local:%a} {local.day} {local:%b} {local:%H:%M}–"
    for title in titles:
        assert re.search(re.escape(title) + r".*?" + re.escape(shown), calendar, re.S), (title, shown)
        assert f"{local:%H:%M}" in table


def test_a_sunday_evening_item_belongs_to_its_own_week(cli: Cli) -> None:
    """New York, Sunday 20:00 is Monday in UTC: it is listed in the week it is in for the technician."""
    monday = date.today() - timedelta(days=date.today().weekday()) + timedelta(days=7)
    sunday = monday + timedelta(days=6)
    evening = datetime.combine(sunday, time(20), ZoneInfo("America/New_York"))
    cli.ok(
        "add", "appointment", "--title", "Late call", "--start", f"{sunday}T20:00", "--end", f"{sunday}T21:00"
    )
    assert instant(personal(cli, "Late call").start) == evening.astimezone(UTC)

    page = web_client()
    this_week = page.get("/calendar", start=monday.isoformat(), end=sunday.isoformat()).text
    next_week = page.get(
        "/calendar",
        start=(monday + timedelta(days=7)).isoformat(),
        end=(sunday + timedelta(days=7)).isoformat(),
    ).text
    assert "Late call" in this_week and f"Sun {sunday.day} {sunday:%b} 20:00–21:00" in this_week
    assert "Late call" not in next_week


def test_all_day_items_read_all_day(cli: Cli) -> None:
    day = date.today() + timedelta(days=3)
    cli.seed_ical(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:offsite\r\n"
        "DTSTAMP:20260101T000000Z\r\nSUMMARY:Offsite\r\n"
        f"DTSTART;VALUE=DATE:{day:%Y%m%d}\r\nDTEND;VALUE=DATE:{day + timedelta(days=1):%Y%m%d}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    calendar = web_client().get("/calendar", start=day.isoformat(), end=day.isoformat()).text
    assert f"{day:%a} {day.day} {day:%b}, all day" in calendar
    assert "00:00" not in calendar
    table = cli.run("items", "--from", day.isoformat(), "--to", day.isoformat(), json_output=False).stdout
    assert "all day" in table


def test_every_page_with_times_says_the_zone_once_and_shows_them_in_it(cli: Cli) -> None:
    """Kiritimati (UTC+14): the calendar, mapping, Get preview, conflicts and the audit log all say the
    zone in their header and show the technician's wall-clock time, never UTC or the machine's."""
    zone = "Pacific/Kiritimati"
    set_zone(cli, zone)
    day = datetime.now(ZoneInfo(zone)).date() + timedelta(days=2)
    page = web_client()
    before = datetime.now(ZoneInfo(zone))
    added = page.post(
        "/add",
        {"kind": "appointment", "title": "Reef survey", "start": f"{day}T07:30", "end": f"{day}T08:15"},
    )
    after = datetime.now(ZoneInfo(zone))
    assert added.status_code == 200 and "Times in Pacific/Kiritimati" in added.text
    wall = f"{day:%a} {day.day} {day:%b} 07:30–08:15"
    assert wall in added.text  # the automatic Get's line for the new item
    ref = personal(cli, "Reef survey").ref
    pages = {
        "calendar": page.get("/calendar", start=day.isoformat(), end=day.isoformat()).text,
        "mapping": page.get("/send", ref=ref, start=day.isoformat(), end=day.isoformat()).text,
        "conflicts": page.get("/conflicts").text,
        "log": page.get("/log").text,
        "get": page.get("/get").text,
    }
    for name, shown in pages.items():
        assert shown.count(f"Times in {zone}") == 1, name
    assert wall in pages["calendar"] and wall in pages["mapping"]
    stamps = {f"{t:%a} {t.day} {t:%b} {t:%Y %H:%M}" for t in (before, after)}
    assert any(s in pages["log"] for s in stamps), stamps
