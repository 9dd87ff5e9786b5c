"""The CLI end to end: ``calferry`` commands against the real PSA server and a real Radicale, over HTTP.

``cli`` is a configured CALFERRY_HOME (integration enabled, the demo PSA's technician Nora York of New
York, a fresh Radicale calendar) with helpers to run commands (in-process through Typer's runner, but
every call goes over loopback HTTP to the servers), to put items into the personal calendar and to
look at both sides directly. ``cli.run(...)`` parses ``--json`` output; tests assert on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from calferry import config
from calferry.cli import app
from calferry.model import ItemKey, PersonalItem, Window
from calferry.personal.caldav import CalDavCalendar
from calferry.personal.radicale import DEFAULT_USER, bulk_put
from tests.fixtures.psa_server import PsaServer, configure_calferry

NORA = "tech.ny@demo.calferry.local"  # CRM access, America/New_York
NOAH = "tech.nocrm@demo.calferry.local"  # no CRM access (R33)
EVERYTHING = Window(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


@dataclass
class Outcome:
    """One command's exit code, output and (for --json) the parsed document."""

    exit_code: int
    stdout: str
    stderr: str
    data: Any = None

    def actions(self, **match: Any) -> list[dict[str, Any]]:
        """The JSON actions whose keys equal ``match`` (all of them without arguments)."""
        found = self.data.get("actions", []) if isinstance(self.data, dict) else []
        return [a for a in found if all(a.get(k) == v for k, v in match.items())]


@dataclass
class Cli:
    home: Path
    psa_server: PsaServer
    calendar_url: str
    runner: CliRunner = field(default_factory=CliRunner)

    def run(self, *args: str, json_output: bool = True, input: str | None = None) -> Outcome:
        argv = [*args, "--json"] if json_output else list(args)
        result = self.runner.invoke(app, argv, input=input, catch_exceptions=False)
        data = None
        if json_output and result.stdout.strip():
            data = json.loads(result.stdout)
        return Outcome(result.exit_code, result.stdout, result.stderr, data)

    def ok(self, *args: str) -> Outcome:
        """Run and insist on exit code 0 (the output is in the assertion message otherwise)."""
        outcome = self.run(*args)
        assert outcome.exit_code == 0, (outcome.stdout, outcome.stderr)
        return outcome

    def set(self, key: str, value: str) -> None:
        config.set_value(key, value)

    # --- the personal calendar ---------------------------------------------------------------

    def calendar(self) -> CalDavCalendar:
        return CalDavCalendar(self.calendar_url, username=DEFAULT_USER)

    def seed_ical(self, text: str) -> None:
        """Replace the personal calendar's whole content with a VCALENDAR (one request)."""
        bulk_put(self.calendar_url, text.encode("utf-8"))

    def create(self, item: PersonalItem) -> PersonalItem:
        cal = self.calendar()
        try:
            return cal.create(item)
        finally:
            cal.close()

    def personal(self, ref: str) -> PersonalItem:
        cal = self.calendar()
        try:
            return cal.get(ItemKey.from_ref(ref))
        finally:
            cal.close()

    def personal_items(self) -> list[PersonalItem]:
        cal = self.calendar()
        try:
            return list(cal.snapshot(EVERYTHING).items)
        finally:
            cal.close()

    # --- the PSA, raw ------------------------------------------------------------------------

    def psa(self) -> httpx.Client:
        return self.psa_server.client()

    def psa_get(self, entity: str, item_id: int) -> dict[str, Any] | None:
        with self.psa() as client:
            answer = client.get(f"{entity}/{item_id}")
        if answer.status_code == 404:  # Autotask answers a missing id with 404
            return None
        answer.raise_for_status()
        item: dict[str, Any] | None = answer.json().get("item")
        return item

    def psa_query(self, entity: str, *filters: dict[str, Any]) -> list[dict[str, Any]]:
        body = {"filter": list(filters) or [{"op": "gte", "field": "id", "value": 0}]}
        with self.psa() as client:
            answer = client.post(f"{entity}/query", json=body)
        answer.raise_for_status()
        items: list[dict[str, Any]] = answer.json()["items"]
        return items


@pytest.fixture
def cli(
    calferry_home: Path,
    demo_psa: PsaServer,
    radicale_calendar_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Cli:
    """A configured, enabled calferry for Nora York: fresh demo PSA data and an empty personal calendar."""
    demo_psa.state.reset()
    bulk_put(
        radicale_calendar_url, b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nEND:VCALENDAR\r\n"
    )
    monkeypatch.setenv("COLUMNS", "200")
    configure_calferry(demo_psa, radicale_calendar_url, NORA, monkeypatch)
    return Cli(calferry_home, demo_psa, radicale_calendar_url)


def at(days: int, hour: int = 9, minutes: int = 0) -> datetime:
    """A time ``days`` from now at ``hour`` UTC: inside the default Get window for -7 <= days <= 30."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=days, hours=hour, minutes=minutes)
