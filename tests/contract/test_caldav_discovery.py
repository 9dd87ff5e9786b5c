"""CalDAV calendar discovery by URL against a real Radicale: a missing calendar, a user's home."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from calferry.model import PersonalItem, Window
from calferry.personal.caldav import CalDavCalendar
from calferry.personal.radicale import DEFAULT_USER, RadicaleServer

START = datetime(2026, 12, 2, 9, tzinfo=UTC)
AROUND = Window(START - timedelta(days=1), START + timedelta(days=1))


def test_a_calendar_url_that_does_not_exist_yet_is_created_on_first_use(radicale_calendar_url: str) -> None:
    calendar = CalDavCalendar(radicale_calendar_url, DEFAULT_USER)
    try:
        calendar.create(PersonalItem("first", START, START + timedelta(hours=1), "First item"))
        assert [i.subject for i in calendar.snapshot(AROUND).items] == ["First item"]
    finally:
        calendar.close()
    found = httpx.request("PROPFIND", radicale_calendar_url, headers={"Depth": "0"}, auth=(DEFAULT_USER, ""))
    assert found.status_code == 207 and "calendar" in found.text


def test_a_users_home_url_finds_the_calendar_inside(
    radicale_server: RadicaleServer, radicale_calendar_url: str
) -> None:
    CalDavCalendar(radicale_calendar_url, DEFAULT_USER).close()  # makes it
    home = f"{radicale_server.base_url}/{DEFAULT_USER}/"
    calendar = CalDavCalendar(home, DEFAULT_USER)
    try:
        created = calendar.create(PersonalItem("in-home", START, START + timedelta(hours=1), "Found"))
        assert calendar.get(created.key).subject == "Found"
    finally:
        calendar.close()
