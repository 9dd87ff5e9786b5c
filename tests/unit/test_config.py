"""The options (R1, R2): defaults, validation with every problem at once, the CLI round trip."""

from __future__ import annotations

import json
from itertools import takewhile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from calferry import config
from calferry.cli import app
from calferry.errors import ConfigError
from calferry.model import PsaKind

runner = CliRunner()
README = Path(__file__).parents[2] / "README.md"


def test_r1_integration_starts_disabled(calferry_home: Path) -> None:
    settings = config.load_settings()
    assert settings.calendar.enabled is False
    assert not (calferry_home / "config.toml").exists()


def test_r2_defaults_cover_every_option() -> None:
    settings = config.load_settings()
    assert settings.calendar.get_kinds == (PsaKind.APPOINTMENT, PsaKind.TODO, PsaKind.SERVICE_CALL)
    assert settings.calendar.conflict_policy == "keep-personal"
    assert settings.calendar.get_past_days >= 0 and settings.calendar.get_future_days > 0
    assert settings.personal.backend == "caldav"


def test_r1_config_show_json_on_empty_home(calferry_home: Path) -> None:
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data.pop("path") == str(calferry_home / "config.toml")
    assert data == config.Settings.from_dict({}).to_dict()
    assert {f"{section}.{name}" for section in data for name in data[section]} == set(config.OPTIONS)
    assert data["calendar"]["enabled"] is False


def test_r1_enable_and_disable_round_trip(calferry_home: Path) -> None:
    assert runner.invoke(app, ["config", "enable"]).exit_code == 0
    assert config.load_settings().calendar.enabled is True
    assert "enabled = true" in (calferry_home / "config.toml").read_text()
    assert runner.invoke(app, ["config", "disable", "--json"]).exit_code == 0
    assert config.load_settings().calendar.enabled is False


def test_r2_set_validates_before_writing(calferry_home: Path) -> None:
    ok = runner.invoke(app, ["config", "set", "calendar.get_kinds", "todo,appointment", "--json"])
    assert json.loads(ok.stdout)["value"] == ["todo", "appointment"]
    bad = runner.invoke(app, ["config", "set", "calendar.get_future_days", "soon", "--json"])
    assert bad.exit_code == 3
    error = json.loads(bad.stdout)["error"]
    assert error["type"] == "ConfigError" and "whole number" in error["message"]
    assert config.load_settings().calendar.get_future_days == 30


def test_unknown_key_is_refused_with_the_known_ones() -> None:
    result = runner.invoke(app, ["config", "set", "calendar.colour", "red", "--json"])
    assert result.exit_code == 3
    assert "calendar.enabled" in json.loads(result.stdout)["error"]["message"]


def test_every_problem_in_a_file_is_reported_at_once_with_lines(calferry_home: Path) -> None:
    (calferry_home / "config.toml").write_text(
        "[calendar]\nenabled = 'maybe'\nget_past_days = -3\nconflict_policy = 'coin-toss'\n"
        "[psa]\nbase_url = 'http://x'\nflavour = 1\n"
    )
    with pytest.raises(ConfigError) as caught:
        config.load_settings()
    problems = caught.value.problems
    assert len(problems) == 4
    assert problems[0].startswith("line 2: calendar.enabled")
    assert any(p.startswith("line 3: calendar.get_past_days") for p in problems)
    assert any(p.startswith("line 4: calendar.conflict_policy") for p in problems)
    assert any(p.startswith("line 7: psa.flavour: unknown setting") for p in problems)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            '[psa]\nbase_url = "http://x"\n"integration_code" = 5.5\n',
            "line 3: psa.integration_code: expected text",
            id="quoted-key",
        ),
        pytest.param(
            "[ 'psa' ]  # the PSA\n\t'integration_code'   = 5.5\n",
            "line 2: psa.integration_code: expected text",
            id="quoted-header",
        ),
        pytest.param(
            '# mine\ncalendar.enabled = "x"\n',
            "line 2: calendar.enabled: expected true",
            id="top-level-dotted",
        ),
        pytest.param(
            '\ncalendar = { enabled = "x" }\n', "line 2: calendar.enabled: expected true", id="inline-table"
        ),
        pytest.param(
            '[bogus]\n\npersonal.url = "x"\n',
            "line 3: bogus.personal: unknown setting",
            id="dotted-in-section",
        ),
        pytest.param(
            "[calendar]\nenabled = true\n[calendar.extra] # more\nx = 1\n",
            "line 3: calendar.extra: unknown setting",
            id="sub-table",
        ),
        pytest.param(
            '[psa]\nintegration_code = """\n[calendar]\nenabled = no\n"""\n[calendar]\nenabled.x = 1\n',
            "line 7: calendar.enabled: expected true",
            id="header-inside-a-multi-line-string",
        ),
        pytest.param("\ncalendar = 5\n", "line 2: [calendar] must be a table", id="not-a-table"),
    ],
)
def test_every_way_of_writing_a_key_is_reported_with_its_line(
    calferry_home: Path, text: str, problem: str
) -> None:
    (calferry_home / "config.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        config.load_settings()
    assert [p[: len(problem)] for p in caught.value.problems] == [problem]


def test_problems_in_dotted_quoted_and_inline_keys_are_reported_at_once(calferry_home: Path) -> None:
    (calferry_home / "config.toml").write_text(
        'calendar.get_past_days = "x"\npsa = { integration_code = 5.5 }\n'
        '[personal]\n"backend" = "fax"\n[bogus]\npersonal.url = "x"\n'
    )
    with pytest.raises(ConfigError) as caught:
        config.load_settings()
    assert [p.split(": ")[:2] for p in caught.value.problems] == [
        ["line 1", "calendar.get_past_days"],
        ["line 2", "psa.integration_code"],
        ["line 4", "personal.backend"],
        ["line 6", "bogus.personal"],
    ]


def test_broken_toml_is_a_clear_error(calferry_home: Path) -> None:
    (calferry_home / "config.toml").write_text("[calendar\nenabled = true\n")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 3
    assert "not valid TOML" in result.stderr


def test_no_secret_key_exists_in_the_schema() -> None:
    secretish = [o.key for o in config.SCHEMA if "secret" in o.key or "password" in o.key]
    assert all(key.endswith("_command") for key in secretish)  # commands that print a secret, never one


def test_docs_table_lists_every_key() -> None:
    table = config.markdown_table()
    assert all(f"`{o.key}`" in table for o in config.SCHEMA)


def test_readme_settings_table_is_the_generated_one() -> None:
    """The README's table starts at its header row and runs to the first line that is not a row."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("| key | default | meaning |")
    assert "\n".join(takewhile(lambda line: line.startswith("|"), lines[start:])) == config.markdown_table()
