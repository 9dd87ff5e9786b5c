"""B1 through the CLI (preview, saved plans applied exactly, stale plans refused), the PSA's field
limits (truncated with a warning) and ``--json`` errors for bad input, against the real servers."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from calferry.mapping import FIELD_LIMITS
from calferry.model import PersonalItem, PsaKind
from tests.system.conftest import Cli, Outcome, at
from tests.system.send_helpers import appointment_ids, only, psa_item, psa_patch, todo_ids, vcalendar, vevent


def _save(plan: Outcome, path: Path) -> Path:
    path.write_text(plan.stdout, encoding="utf-8")
    return path


# --- B1: preview and saved plans --------------------------------------------------------------


def test_b1_dry_run_shows_the_plan_and_changes_nothing(cli: Cli) -> None:
    cli.create(PersonalItem("b1-a", at(2), at(2, 10), "Preview me", description="text"))
    cli.create(PersonalItem("b1-b", at(2, 11), at(2, 12), "And me"))
    appointments, todos = appointment_ids(cli), todo_ids(cli)

    plan = cli.ok("send", "b1-a", "b1-b", "--dry-run")
    assert plan.data["operation"] == "send"
    assert [(a["action"], a["ref"], a["psa_kind"]) for a in plan.data["actions"]] == [
        ("create", "b1-a", "appointment"), ("create", "b1-b", "appointment"),
    ]  # fmt: skip
    assert all(a["reason"] for a in plan.data["actions"])
    assert appointment_ids(cli) == appointments and todo_ids(cli) == todos
    assert cli.personal("b1-a").stamp is None and cli.personal("b1-b").stamp is None
    assert cli.ok("status").data["links"] == {}
    assert cli.ok("log").data["entries"] == []

    human = cli.run("send", "b1-a", "--dry-run", json_output=False)
    assert human.exit_code == 0 and "nothing changed yet" in human.stdout
    assert appointment_ids(cli) == appointments


def test_b1_a_saved_plan_is_applied_exactly(cli: Cli, tmp_path: Path) -> None:
    cli.create(PersonalItem("b1-todo", at(3), at(3, 10), "Call", description="Renewal"))
    plan = cli.ok("send", "b1-todo", "--as", "todo", "--company", "Contoso Dental", "--dry-run")
    planned = only(plan.data["actions"])["payload"]["psa_item"]
    saved = _save(plan, tmp_path / "plan.json")

    # the options change after the preview: the saved plan still applies what it showed
    cli.set("calendar.default_action_type", "1")
    cli.create(PersonalItem("b1-later", at(3, 11), at(3, 12), "Not in the plan"))
    before = todo_ids(cli), appointment_ids(cli)

    applied = cli.ok("send", "--plan", str(saved))
    done = only(applied.actions())
    assert (done["action"], done["ref"], done["outcome"]) == ("create", "b1-todo", "done")
    assert todo_ids(cli) - before[0] == {done["psa_id"]}
    assert appointment_ids(cli) == before[1]
    todo = psa_item(cli, "CompanyToDos", done["psa_id"])
    assert (
        (todo["actionType"], todo["companyID"])
        == (planned["action_type_id"], planned["company_id"])
        == (3, 1)
    )
    assert todo["activityDescription"] == "Renewal"
    assert cli.personal("b1-todo").stamp.psa_id == done["psa_id"]  # type: ignore[union-attr]
    assert cli.personal("b1-later").stamp is None


def test_b1_a_stale_saved_send_plan_fails_instead_of_overwriting(cli: Cli, tmp_path: Path) -> None:
    cli.create(PersonalItem("b1-stale", at(4), at(4, 10), "Old subject"))
    saved = _save(cli.ok("send", "b1-stale", "--dry-run"), tmp_path / "plan.json")
    cli.calendar().update(replace(cli.personal("b1-stale"), subject="New subject"))
    before = appointment_ids(cli)

    failed = cli.run("send", "--plan", str(saved))
    assert failed.exit_code == 7  # StaleVersion
    action = only(failed.actions(ref="b1-stale"))
    assert action["outcome"] == "failed" and "changed since the plan was made" in action["error"]
    assert appointment_ids(cli) == before
    assert cli.personal("b1-stale").stamp is None

    fresh = only(cli.ok("send", "b1-stale").actions(outcome="done"))
    assert psa_item(cli, "Appointments", fresh["psa_id"])["title"] == "New subject"


def test_b1_a_stale_saved_get_plan_fails_instead_of_overwriting(cli: Cli, tmp_path: Path) -> None:
    cli.create(PersonalItem("b1-get", at(5), at(5, 10), "Sent from here"))
    psa_id = only(cli.ok("send", "b1-get").actions(outcome="done"))["psa_id"]
    psa_patch(cli, "Appointments", id=psa_id, title="First PSA edit")
    plan = cli.ok("get", "--dry-run")
    update = only(plan.actions(ref="b1-get"))
    assert (update["action"], update["psa_id"]) == ("update", psa_id)
    saved = _save(plan, tmp_path / "get-plan.json")
    psa_patch(cli, "Appointments", id=psa_id, title="Second PSA edit")

    failed = cli.run("get", "--plan", str(saved))
    assert failed.exit_code == 7
    assert only(failed.actions(ref="b1-get"))["outcome"] == "failed"
    assert cli.personal("b1-get").subject == "Sent from here"  # neither edit was written from the stale plan

    cli.ok("get")
    assert cli.personal("b1-get").subject == "Second PSA edit"


def test_b1_a_plan_of_another_operation_is_refused(cli: Cli, tmp_path: Path) -> None:
    saved = _save(cli.ok("get", "--dry-run"), tmp_path / "get-plan.json")
    before = appointment_ids(cli)
    refused = cli.run("send", "--plan", str(saved))
    assert refused.exit_code == 5
    assert refused.data["error"]["type"] == "InputError"
    assert appointment_ids(cli) == before


# --- the PSA's field limits -------------------------------------------------------------------


def test_overlong_fields_are_truncated_to_the_psa_limits_with_a_warning(cli: Cli) -> None:
    title_limit = FIELD_LIMITS[(PsaKind.APPOINTMENT, "title")]
    text_limit = FIELD_LIMITS[(PsaKind.APPOINTMENT, "description")]
    title, text = "T" * (title_limit + 44), "d" * (text_limit + 1000)
    cli.create(PersonalItem("long", at(2), at(2, 10), title, description=text))

    preview = cli.ok("send", "long", "--dry-run")
    assert any("title truncated" in w for w in preview.data["warnings"])
    sent = cli.ok("send", "long")
    warnings = sent.data["warnings"]
    assert f"long: appointment title truncated from {len(title)} to {title_limit} characters" in warnings
    assert f"long: appointment description truncated from {len(text)} to {text_limit} characters" in warnings
    stored = psa_item(cli, "Appointments", only(sent.actions(outcome="done"))["psa_id"])
    assert stored["title"] == title[:title_limit] and stored["description"] == text[:text_limit]
    mine = cli.personal("long")
    assert (mine.subject, mine.description) == (title, text)  # the personal item keeps its full text

    cli.calendar().update(replace(mine, subject=title + "!"))
    human = cli.run("send", "long", json_output=False)
    assert human.exit_code == 0 and "Warning:" in human.stderr and "truncated" in human.stderr


def test_a_field_at_its_limit_is_sent_whole_without_warning(cli: Cli) -> None:
    limit = FIELD_LIMITS[(PsaKind.APPOINTMENT, "title")]
    cli.create(PersonalItem("exact", at(2), at(2, 10), "x" * limit))
    sent = cli.ok("send", "exact")
    assert sent.data["warnings"] == []
    stored = psa_item(cli, "Appointments", only(sent.actions(outcome="done"))["psa_id"])
    assert stored["title"] == "x" * limit


# --- times the PSA needs (R18: start and end are required) -------------------------------------


def test_an_item_ending_before_it_starts_is_not_sent(cli: Cli) -> None:
    cli.seed_ical(vcalendar(vevent("backwards", at(2, 14), at(2, 13), "Backwards")))
    before = appointment_ids(cli)
    refused = cli.run("send", "backwards")
    assert refused.exit_code == 5
    assert "ends before it starts" in only(refused.actions(ref="backwards"))["reason"]
    assert appointment_ids(cli) == before and cli.personal("backwards").stamp is None


def test_an_item_without_an_end_is_sent_as_lasting_no_time(cli: Cli) -> None:
    cli.seed_ical(vcalendar(vevent("no-end", at(2, 14), None, "Reminder only")))  # RFC 5545 3.6.1
    sent = only(cli.ok("send", "no-end").actions(outcome="done"))
    stored = psa_item(cli, "Appointments", sent["psa_id"])
    assert stored["startDateTime"] == stored["endDateTime"] == f"{at(2, 14):%Y-%m-%dT%H:%M:%SZ}"


# --- --json errors for bad input --------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "error_type", "exit_code", "says"),
    [
        (("send", "err", "--as", "todo", "--company", "Nowhere Ltd"), "LookupFailed", 5, "Nowhere Ltd"),
        (("send", "err", "--as", "todo", "--company", "99999"), "LookupFailed", 5, "99999"),
        (("send", "err", "--as", "todo", "--company", "Contoso Dental", "--contact", "Nobody"),
         "LookupFailed", 5, "Nobody"),
        (("send", "err", "--as", "todo", "--company", "Contoso Dental", "--action-type", "Juggling"),
         "LookupFailed", 5, "Juggling"),
        (("send", "err", "--contact", "Maria Garcia 1"), "LookupFailed", 5, "company"),
        (("send", "no-such-item"), "NotFound", 6, "no-such-item"),
        (("send", "err@20261301T090000Z"), "NotFound", 6, "err"),
        (("send", "--series", "err", "--from", "2026-13-01", "--to", "2026-12-31"), "InputError", 5, "--from"),
        (("items", "--from", "tomorrow", "--to", "2026-12-31"), "InputError", 5, "tomorrow"),
        (("send", "--series", "no-such-series"), "NotFound", 6, "no-such-series"),
        (("series", "delete", "no-such-series"), "NotFound", 6, "no-such-series"),
    ],
)  # fmt: skip
def test_bad_input_is_a_json_error_with_a_non_zero_exit(
    cli: Cli, args: tuple[str, ...], error_type: str, exit_code: int, says: str
) -> None:
    cli.create(PersonalItem("err", at(2), at(2, 10), "Innocent"))
    before = appointment_ids(cli), todo_ids(cli)
    refused = cli.run(*args)
    assert refused.exit_code == exit_code, refused.stdout
    assert set(refused.data) == {"error"}
    error = refused.data["error"]
    assert {"type", "message"} <= set(error)
    assert error["type"] == error_type
    assert says in error["message"]
    assert (appointment_ids(cli), todo_ids(cli)) == before
    assert cli.personal("err").stamp is None


def test_a_plan_file_that_is_not_a_plan_is_a_json_error(cli: Cli, tmp_path: Path) -> None:
    broken = tmp_path / "plan.json"
    broken.write_text(json.dumps({"actions": "none"}), encoding="utf-8")
    for path in (broken, tmp_path / "missing.json"):
        refused = cli.run("send", "--plan", str(path))
        assert refused.exit_code == 5
        assert refused.data["error"]["type"] == "InputError" and str(path) in refused.data["error"]["message"]
