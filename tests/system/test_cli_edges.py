"""The CLI's rough edges, against the real servers: usage errors as JSON, flags that would be silently
ignored, refs that stay whole in narrow tables, short messages for an unreachable calendar or PSA,
and the progress bar of longer runs."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from rich.console import Console

from calferry.commands import engine_cmd
from calferry.model import PersonalItem
from calferry.psa import autotask
from tests.system.conftest import Cli, at
from tests.system.send_helpers import appointment_ids, daily_series, todo_ids, vcalendar

# --- usage errors with --json -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("send", "x", "--as", "meeting"), "meeting"),
        (("add", "foo"), "foo"),
        (("get", "--policy", "bogus"), "bogus"),
        (("log", "--limit", "abc"), "--limit"),
        (("no-such-command",), "no-such-command"),
        (("series", "delete"), "series_uid"),
    ],
)
def test_a_usage_error_with_json_is_a_json_error(cli: Cli, args: tuple[str, ...], says: str) -> None:
    refused = cli.run(*args)
    assert refused.exit_code == 2
    error = refused.data["error"]
    assert set(refused.data) == {"error"} and set(error) == {"type", "message", "exit_code"}
    assert (error["type"], error["exit_code"]) == ("UsageError", 2)
    assert says in error["message"]


def test_json_anywhere_in_the_arguments_makes_a_usage_error_json(cli: Cli) -> None:
    refused = cli.run("log", "--json", "--limit", "abc", json_output=False)
    assert refused.exit_code == 2
    assert json.loads(refused.stdout)["error"]["type"] == "UsageError"


def test_a_usage_error_without_json_keeps_the_usage_box(cli: Cli) -> None:
    refused = cli.run("send", "x", "--as", "meeting", json_output=False)
    assert refused.exit_code == 2
    assert refused.stdout == ""
    assert "Usage: " in refused.stderr and "meeting" in refused.stderr


def test_a_config_error_with_json_lists_every_problem(cli: Cli) -> None:
    (cli.home / "config.toml").write_text('[calendar]\nget_future_days = "x"\nbogus = 1\n', encoding="utf-8")
    refused = cli.run("config", "show")
    assert refused.exit_code == 3
    error = refused.data["error"]
    assert error["type"] == "ConfigError"
    assert error["problems"] == [
        "line 2: calendar.get_future_days: expected a whole number, got 'x'",
        "line 3: calendar.bogus: unknown setting",
    ]


def test_an_error_without_problems_has_no_problems_key(cli: Cli) -> None:
    refused = cli.run("send", "no-such-item")
    assert refused.data["error"]["type"] == "NotFound"
    assert "problems" not in refused.data["error"]


# --- flags that would be silently ignored -----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("send", "--series", "standup", "--from", "2026-12-01"), "give both --from and --to"),
        (("send", "--series", "standup", "--to", "2026-12-31"), "give both --from and --to"),
        (("items", "--from", "2026-12-01"), "give both --from and --to"),
        (("items", "--from", "2026-12-31", "--to", "2026-12-01"), "--from 2026-12-31 is later than --to 2026-12-01"),
        (("send", "--series", "standup", "--from", "2026-12-31", "--to", "2026-12-01"), "is later than"),
        (("send", "--from", "2026-12-01", "--to", "2026-12-31"), "give --series too"),
    ],
)  # fmt: skip
def test_a_half_or_backwards_range_is_refused(cli: Cli, args: tuple[str, ...], says: str) -> None:
    cli.seed_ical(vcalendar(daily_series("standup", at(1, 14), 3, "Standup")))
    before = appointment_ids(cli)
    refused = cli.run(*args)
    assert refused.exit_code == 5, refused.stdout
    assert refused.data["error"]["type"] == "InputError"
    assert says in refused.data["error"]["message"]
    assert appointment_ids(cli) == before


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (("other",), "refs"),
        (("--as", "todo", "--company", "Contoso Dental"), "--as, --company"),
        (("--series", "standup"), "--series"),
        (("--dry-run",), "--dry-run"),
    ],
)
def test_send_with_a_saved_plan_refuses_the_flags_it_would_ignore(
    cli: Cli, tmp_path: Path, extra: tuple[str, ...], named: str
) -> None:
    cli.create(PersonalItem("planned", at(2), at(2, 10), "In the plan"))
    cli.create(PersonalItem("other", at(2, 11), at(2, 12), "Not in the plan"))
    saved = tmp_path / "plan.json"
    saved.write_text(cli.ok("send", "planned", "--dry-run").stdout, encoding="utf-8")
    before = appointment_ids(cli), todo_ids(cli)

    refused = cli.run("send", "--plan", str(saved), *extra)
    assert refused.exit_code == 5
    assert refused.data["error"]["type"] == "InputError"
    assert (
        f"--plan applies the saved plan as it is; {named} would be ignored"
        in refused.data["error"]["message"]
    )
    assert (appointment_ids(cli), todo_ids(cli)) == before
    assert cli.personal("planned").stamp is None and cli.personal("other").stamp is None

    assert cli.ok("send", "--plan", str(saved)).actions(ref="planned", outcome="done")


def test_get_with_a_saved_plan_refuses_the_flags_it_would_ignore(cli: Cli, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    saved.write_text(cli.ok("get", "--dry-run").stdout, encoding="utf-8")
    refused = cli.run("get", "--plan", str(saved), "--policy", "psa-wins", "--force-delete")
    assert refused.exit_code == 5
    assert "--policy, --force-delete would be ignored" in refused.data["error"]["message"]
    assert cli.personal_items() == []


# --- refs stay on one line --------------------------------------------------------------------

_LONG_UID = "demo-weekly-standup-with-a-long-uid"


def _narrow_table(cli: Cli, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    monkeypatch.setattr(engine_cmd, "console", Console(width=80))
    shown = cli.run(*args, json_output=False)
    assert shown.exit_code == 0, shown.stderr
    assert max(len(line) for line in shown.stdout.splitlines()) <= 80
    return shown.stdout


def test_items_shows_whole_refs_in_80_columns(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.seed_ical(vcalendar(daily_series(_LONG_UID, at(1, 14), 2, "A standup with a rather long subject")))
    refs = [i.ref for i in cli.personal_items()]
    assert len(refs) == 2 and all(len(r) > 40 for r in refs)
    shown = _narrow_table(cli, monkeypatch, "items")
    for ref in refs:
        assert ref in shown  # on one line, to copy into the next command


def test_results_show_whole_refs_in_80_columns(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.seed_ical(vcalendar(daily_series(_LONG_UID, at(1, 14), 2, "A standup with a rather long subject")))
    refs = [i.ref for i in cli.personal_items()]
    preview = _narrow_table(cli, monkeypatch, "send", *refs, "--dry-run")
    done = _narrow_table(cli, monkeypatch, "send", *refs)
    log = _narrow_table(cli, monkeypatch, "log")
    for shown in (preview, done):
        for ref in refs:
            assert ref in shown
    assert "standup" in log  # the log names items by subject


# --- an unreachable calendar or PSA -----------------------------------------------------------


def _closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_calendar_gives_a_short_message_with_a_hint(cli: Cli) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/calferry/calendar/"
    cli.set("personal.url", url)
    refused = cli.run("items")
    assert refused.exit_code == 9
    assert refused.data["error"] == {
        "type": "PersonalUnavailable",
        "message": f"cannot reach the calendar at {url} (connection refused) "
        "(start `calferry calendar serve` or set personal.url)",
        "exit_code": 9,
    }
    human = cli.run("items", json_output=False)
    assert human.exit_code == 9
    assert "object at 0x" not in human.stderr and "Max retries" not in human.stderr
    assert len(human.stderr) < 200


def test_an_unreachable_psa_gives_a_short_message_with_a_hint(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every try fails at once: no waiting between them
    monkeypatch.setattr(autotask.RetryPolicy, "backoff", lambda self, attempt: 0.0)
    base = f"http://127.0.0.1:{_closed_port()}/atservicesrest/"
    cli.set("psa.base_url", base)
    refused = cli.run("get")
    assert refused.exit_code == 9
    assert refused.data["error"] == {
        "type": "PsaUnavailable",
        "message": f"cannot reach the PSA at {base} (connection refused) "
        "(check psa.base_url, and that the PSA server is running)",
        "exit_code": 9,
    }


# --- the progress bar -------------------------------------------------------------------------


def _terminal_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's stderr is no terminal, and Rich shows no live bar there: pretend it is one."""
    monkeypatch.setattr(engine_cmd, "err_console", Console(stderr=True, force_terminal=True, width=100))


def _bar(stderr: str) -> list[str]:
    """The bar's states as "done/total", its colours and cursor moves left out."""
    return re.findall(r"applying .*? (\d+/\d+)", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stderr))


def test_a_run_of_more_than_five_items_shows_a_progress_bar_on_stderr(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _terminal_stderr(monkeypatch)
    cli.seed_ical(vcalendar(daily_series("many", at(1, 14), engine_cmd.PROGRESS_FROM + 2, "Standup")))
    refs = [i.ref for i in cli.personal_items()]
    sent = cli.run("send", *refs, json_output=False)
    assert sent.exit_code == 0, sent.stderr
    bars, total = _bar(sent.stderr), len(refs)
    assert bars and bars[-1] == f"{total}/{total}"  # the bar's last state: every item applied
    assert "applying" not in sent.stdout


def test_a_short_run_and_a_json_run_show_no_progress_bar(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    _terminal_stderr(monkeypatch)
    cli.seed_ical(vcalendar(daily_series("few", at(1, 14), engine_cmd.PROGRESS_FROM, "Standup")))
    refs = [i.ref for i in cli.personal_items()]
    few = cli.run("send", *refs, json_output=False)
    assert few.exit_code == 0, few.stderr
    assert _bar(few.stderr) == []

    cli.seed_ical(vcalendar(daily_series("many", at(1, 14), engine_cmd.PROGRESS_FROM + 2, "Standup")))
    refs = [i.ref for i in cli.personal_items()]
    quiet = cli.run("send", *refs)
    assert quiet.exit_code == 0 and len(quiet.actions(outcome="done")) == len(refs)
    assert "applying" not in quiet.stderr
