"""Which calendar and which PSA: no hidden default calendar, ``status`` says what is in use, ``items``
needs only the personal side, and a failed zone look-up says to set psa.base_url."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from calferry import config
from calferry.cli import app
from calferry.model import PersonalItem
from calferry.personal.caldav import CalDavCalendar
from calferry.personal.radicale import DEFAULT_USER
from calferry.wiring import ZONE_URL_ENV
from tests.system.conftest import NORA, Cli, at

runner = CliRunner()


def _closed_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/atservicesrest/v1.0/"


def test_an_empty_personal_url_is_a_config_error_that_says_what_to_set(cli: Cli) -> None:
    cli.set("personal.url", "")
    for command in ("items", "send", "get"):
        refused = cli.run(command, *(["nothing"] if command == "send" else []))
        assert refused.exit_code == 3, refused.stdout
        assert refused.data["error"]["type"] == "ConfigError"
        assert "personal.url is not set" in refused.data["error"]["message"]
    assert "calendar serve" in cli.run("items").data["error"]["message"]


def test_status_shows_the_calendar_the_psa_and_the_resource_in_use(cli: Cli) -> None:
    info = cli.ok("status").data
    assert info["calendar_url"] == cli.calendar_url
    assert info["psa_url"] == cli.psa_server.base_url
    assert info["resource"] == NORA
    human = cli.run("status", json_output=False)
    assert human.exit_code == 0
    for shown in (cli.calendar_url, cli.psa_server.base_url, NORA):
        assert shown in human.stdout


def test_status_shows_the_zone_the_look_up_found(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ZONE_URL_ENV, cli.psa_server.base_url)  # the local server answers zoneInformation
    cli.set("psa.base_url", "")
    assert cli.ok("status").data["psa_url"].startswith("looked up from the Autotask zone of")
    assert cli.ok("get", "--dry-run").exit_code == 0  # looks the zone up, and keeps it
    assert cli.ok("status").data["psa_url"].rstrip("/").lower().endswith("v1.0")


def test_items_lists_the_calendar_with_only_the_personal_side_configured(
    calferry_home: Path, radicale_calendar_url: str
) -> None:
    config.write_settings(
        {
            "personal.backend": "caldav",
            "personal.url": radicale_calendar_url,
            "personal.username": DEFAULT_USER,
        }
    )
    calendar = CalDavCalendar(radicale_calendar_url, username=DEFAULT_USER)
    try:
        calendar.create(PersonalItem("only-mine", at(1), at(1, 10), "Dentist"))
    finally:
        calendar.close()
    listed = runner.invoke(app, ["items", "--json"])
    assert listed.exit_code == 0, listed.output
    assert "only-mine" in listed.stdout and "Dentist" in listed.stdout
    refused = runner.invoke(app, ["send", "only-mine", "--json"])
    assert refused.exit_code == 3  # what needs the PSA still says what to set


def test_a_failed_zone_look_up_says_to_set_psa_base_url(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ZONE_URL_ENV, _closed_url())
    cli.set("psa.base_url", "")
    cli.create(PersonalItem("zone", at(1), at(1, 10), "Visit"))
    refused = cli.run("send", "zone")
    assert refused.exit_code == 9
    assert "zone look-up" in refused.data["error"]["message"]
    assert "set psa.base_url" in refused.data["error"]["message"]
    assert cli.personal("zone").stamp is None
