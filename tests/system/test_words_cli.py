"""The CLI speaks the technician's words: a full send / get / add / conflict run in human mode shows no rule
code (R14) and no command-line flag in what it prints; the rules stay in ``--json`` for scripts.
"""

from __future__ import annotations

import re

import pytest

from calferry.commands import common
from calferry.model import PersonalItem
from tests.system.conftest import Cli, Outcome, at
from tests.system.get_helpers import APPOINTMENT, edit_personal, first_appointment, patch, ref

JARGON = re.compile(r"\bR\d+\b|--[a-z]")


def _human(cli: Cli, *args: str) -> Outcome:
    return cli.run(*args, json_output=False)


def _jargon(outcomes: list[Outcome]) -> list[str]:
    return [
        m.group(0) + " in: " + o.stdout + o.stderr
        for o in outcomes
        for m in JARGON.finditer(o.stdout + o.stderr)
    ]


def test_b12_a_full_run_in_human_mode_names_no_rule_and_no_flag(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common.console, "_width", 250)  # no reason wraps inside its table cell
    cli.create(PersonalItem("words-dentist", at(2), at(2, 10), "Dentist"))
    cli.create(PersonalItem("words-call", at(3), at(3, 10), "Call the bank"))
    row = first_appointment(cli)
    downloaded = ref(APPOINTMENT, row["id"])
    seen = [
        _human(cli, "items"),
        _human(cli, "send", "words-dentist", "--dry-run"),
        _human(cli, "send", "words-dentist"),
        _human(cli, "send", "words-dentist"),  # unchanged
        _human(cli, "send", "words-call", "--as", "todo"),  # no company: not sent, with the reason
        _human(cli, "send", "words-dentist", "--as", "todo", "--company", "Contoso Dental"),  # kind is fixed
        _human(cli, "send"),  # nothing selected
        _human(cli, "get", "--dry-run"),
        _human(cli, "get"),
    ]
    edit_personal(cli, downloaded, subject="My own title")
    patch(cli, "Appointments", {"id": row["id"], "title": "The PSA's title"})
    seen += [
        _human(cli, "get"),  # a conflict
        _human(cli, "resolve", downloaded, "--keep", "psa"),
        _human(cli, "add", "todo", "--start", f"{at(4):%Y-%m-%dT%H:%M}", "--end", f"{at(4, 10):%Y-%m-%dT%H:%M}"),
        _human(cli, "add", "service-call", "--company", "Contoso Dental",
               "--start", f"{at(4):%Y-%m-%dT%H:%M}", "--end", f"{at(4, 10):%Y-%m-%dT%H:%M}"),
        _human(cli, "log"),
        _human(cli, "status"),
    ]  # fmt: skip
    cli.ok("config", "disable")
    seen.append(_human(cli, "get"))

    conflict = seen[9]
    assert conflict.stdout.count("edited on both sides") == 1  # the reason once, not again as the outcome
    assert "a To-Do needs a company" in seen[4].stdout and seen[4].exit_code == 5
    assert "select at least one item" in seen[6].stderr
    assert "calendar integration is disabled" in seen[-1].stderr
    history = seen[13].stdout  # the log names items and says what happened
    assert "Dentist" in history and "Created in the PSA" in history and "Conflict: waiting" in history
    assert _jargon(seen) == []


def test_b12_the_rule_stays_in_json(cli: Cli) -> None:
    cli.create(PersonalItem("words-json", at(2), at(2, 10), "Call the bank"))
    refused = cli.run("send", "words-json", "--as", "todo")
    [skip] = refused.actions(ref="words-json")
    assert (skip["reason"], skip["rule"]) == ("a To-Do needs a company", "R14")
    nothing = cli.run("send")
    assert nothing.data["error"]["rule"] == "R13"
    cli.ok("send", "words-json")
    [entry] = cli.ok("log").data["entries"]
    assert (entry["subject"], entry["rule"], entry["message"]) == (
        "Call the bank",
        "R16",
        "first send: creates the PSA item",
    )
