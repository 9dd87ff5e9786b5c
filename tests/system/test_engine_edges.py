"""The engine's safety edges through the CLI, against the real servers: a saved Send plan applied
again never makes a twin (B1/R16), ``series delete`` only deletes series (R22), ``status`` and ``log``
need neither calendar nor PSA, a disabled home says R1 before connecting anywhere, and a re-send of
an unchanged item writes nothing (R17)."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from calferry.cli import app
from calferry.model import ItemKey, PersonalItem
from calferry.psa import autotask
from tests.system.conftest import Cli, at
from tests.system.send_helpers import daily_series, only, psa_item, vcalendar


def _closed_url(path: str = "/") -> str:
    """A loopback URL nothing listens on (its port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    return f"http://127.0.0.1:{port}{path}"


def _appointments_titled(cli: Cli, title: str) -> list[int]:
    found = cli.psa_query("Appointments", {"op": "eq", "field": "title", "value": title})
    return [int(a["id"]) for a in found]


def _offline(cli: Cli) -> None:
    """Neither the calendar nor the PSA can be reached any more."""
    cli.set("personal.url", _closed_url("/calferry/calendar/"))
    cli.set("psa.base_url", _closed_url("/atservicesrest/"))


# --- B1/R16: a saved plan applied again -------------------------------------------------------


def test_r16_a_saved_send_plan_applied_again_fails_as_stale_never_a_twin(cli: Cli, tmp_path: Path) -> None:
    cli.create(PersonalItem("twice", at(3), at(3, 10), "Apply me once"))
    plan = tmp_path / "plan.json"
    plan.write_text(cli.ok("send", "twice", "--dry-run").stdout, encoding="utf-8")

    first = only(cli.ok("send", "--plan", str(plan)).actions(ref="twice"))
    assert (first["action"], first["outcome"]) == ("create", "done")
    for _ in range(2):
        again = cli.run("send", "--plan", str(plan))
        assert again.exit_code == 7  # StaleVersion
        stale = only(again.actions(ref="twice"))
        assert stale["outcome"] == "failed"
        assert stale["error"] == f"twice already sent as appointment {first['psa_id']}; make a new preview"
    assert _appointments_titled(cli, "Apply me once") == [first["psa_id"]]
    assert cli.personal("twice").stamp.psa_id == first["psa_id"]  # type: ignore[union-attr]


def test_b2_a_partly_stale_plan_exits_non_zero_naming_only_the_item_not_done(
    cli: Cli, tmp_path: Path
) -> None:
    for uid in ("kept", "edited"):
        cli.create(PersonalItem(uid, at(3), at(3, 10), f"Plan {uid}"))
    plan = tmp_path / "plan.json"
    plan.write_text(cli.ok("send", "kept", "edited", "--dry-run").stdout, encoding="utf-8")
    calendar = cli.calendar()
    calendar.update(replace(calendar.get(ItemKey("edited")), subject="Edited after the plan"))
    calendar.close()

    outcome = cli.run("send", "--plan", str(plan))
    assert outcome.exit_code == 7  # StaleVersion: the edited item is still not sent
    assert [a["outcome"] for a in outcome.actions()] == ["done", "failed"]
    assert "1 item(s) not done: edited;" in outcome.stderr


# --- R22: series delete only deletes series ---------------------------------------------------


def test_r22_series_delete_of_a_plain_item_is_refused_and_deletes_nothing(cli: Cli) -> None:
    cli.create(PersonalItem("plain", at(4), at(4, 10), "Not a series"))
    psa_id = only(cli.ok("send", "plain").actions(outcome="done"))["psa_id"]

    refused = cli.run("series", "delete", "plain")
    assert refused.exit_code == 5
    assert refused.data["error"]["type"] == "InputError"
    assert refused.data["error"]["message"].startswith("plain is not a recurring series")
    assert cli.personal("plain").subject == "Not a series"
    assert psa_item(cli, "Appointments", psa_id)["title"] == "Not a series"


@pytest.mark.parametrize("occurrence", ["garbage", "2099", "20261130T14"])
def test_r22_a_malformed_occurrence_id_is_an_input_error_showing_the_form(cli: Cli, occurrence: str) -> None:
    cli.seed_ical(vcalendar(daily_series("standup", at(2), 3, "Stand-up")))
    refused = cli.run("series", "delete", "standup", "--occurrence", occurrence)
    assert refused.exit_code == 5
    error = refused.data["error"]
    assert error["type"] == "InputError"
    assert repr(occurrence) in error["message"] and "20261130T140000Z" in error["message"]
    assert len(cli.personal_items()) == 3

    human = cli.run("series", "delete", "standup", "--occurrence", occurrence, json_output=False)
    assert human.exit_code == 5 and "Traceback" not in human.stderr + human.stdout


# --- status and log read the link store only --------------------------------------------------


def test_status_and_log_answer_without_calendar_or_psa(cli: Cli) -> None:
    cli.create(PersonalItem("logged", at(5), at(5, 10), "Sent before going offline"))
    psa_id = only(cli.ok("send", "logged").actions(outcome="done"))["psa_id"]
    _offline(cli)
    cli.ok("config", "disable")

    status = cli.ok("status").data
    assert status["enabled"] is False and status["links"] == {"appointment/sent": 1}
    assert status["last_run"]["operation"] == "send"
    entries = cli.ok("log").data["entries"]
    assert [(e["action"], e["ref"], e["psa_id"]) for e in entries] == [("create:psa", "logged", psa_id)]
    human = cli.run("status", json_output=False)
    assert (
        human.exit_code == 0 and "Calendar integration: disabled" in human.stdout and "R1" not in human.stdout
    )


def test_status_and_log_answer_on_a_fresh_home(calferry_home: Path) -> None:
    runner = CliRunner()
    status = runner.invoke(app, ["status"], catch_exceptions=False)
    assert status.exit_code == 0, status.stderr
    assert "Calendar integration: disabled\n" in status.stdout and "Links: none" in status.stdout
    log = runner.invoke(app, ["log", "--json"], catch_exceptions=False)
    assert (log.exit_code, json.loads(log.stdout)) == (0, {"entries": []})


# --- R1 before any connection -----------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("send", "x"),
        ("send", "x", "--dry-run"),
        ("get",),
        ("get", "--dry-run"),
        ("add", "appointment", "--title", "T", "--start", "2026-12-02T09:00", "--end", "2026-12-02T10:00"),
        ("series", "delete", "x"),
    ],
)
def test_r1_a_disabled_offline_home_says_so_not_a_connection_error(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    monkeypatch.setattr(autotask.RetryPolicy, "backoff", lambda self, attempt: 0.0)
    _offline(cli)
    cli.ok("config", "disable")
    refused = cli.run(*command)
    assert refused.exit_code == 3
    assert refused.data["error"]["type"] == "IntegrationDisabled"
    assert refused.data["error"]["rule"] == "R1" and "R1" not in refused.data["error"]["message"]
    assert "turn it on in the options" in refused.data["error"]["message"]


# --- R17: nothing to update is not sent --------------------------------------------------------


def test_r17_a_resend_of_an_unchanged_item_writes_nothing_and_succeeds(cli: Cli) -> None:
    cli.create(PersonalItem("same", at(6), at(6, 10), "Unchanged"))
    psa_id = only(cli.ok("send", "same").actions(outcome="done"))["psa_id"]
    before = psa_item(cli, "Appointments", psa_id)

    again = cli.ok("send", "same")  # exit 0: an unchanged item is no "not sent" failure
    skipped = only(again.actions(ref="same"))
    assert (skipped["action"], skipped["outcome"], skipped["psa_id"]) == ("skip", "skipped", psa_id)
    assert skipped["reason"].startswith("unchanged")
    assert not [r for r in again.data["requests"] if r.startswith(("PATCH", "PUT"))]
    assert psa_item(cli, "Appointments", psa_id) == before
    human = cli.run("send", "same", json_output=False)
    assert human.exit_code == 0 and "not sent" not in human.stderr

    cli.calendar().update(replace(cli.personal("same"), subject="Changed"))
    updated = only(cli.ok("send", "same").actions(ref="same"))
    assert (updated["action"], updated["outcome"], updated["psa_id"]) == ("update", "done", psa_id)
    assert psa_item(cli, "Appointments", psa_id)["title"] == "Changed"
