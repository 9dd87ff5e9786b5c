"""The options (R1, R2): defaults, validation with every problem at once, the CLI round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from calferry import config
from calferry.cli import app
from calferry.errors import ConfigError
from calferry.model import PsaKind

runner = CliRunner()


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


def test_r1_config_show_json_on_empty_home() -> None:
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["calendar"]["enabled"] is False
    assert data["calendar"]["conflict_policy"] == "keep-personal"
    for key in ("get_past_days", "get_future_days", "get_kinds", "default_action_type"):
        assert key in data["calendar"]
    for key in ("base_url", "zone_user", "username", "integration_code", "resource"):
        assert key in data["psa"]
    for key in ("backend", "url", "username", "path"):
        assert key in data["personal"]


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


def test_broken_toml_is_a_clear_error(calferry_home: Path) -> None:
    (calferry_home / "config.toml").write_text("[calendar\nenabled = true\n")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 3
    assert "not valid TOML" in result.stderr


def test_no_secret_key_exists_in_the_schema() -> None:
    assert not [o.key for o in config.SCHEMA if "secret" in o.key or "password" in o.key]


def test_docs_table_lists_every_key() -> None:
    table = config.markdown_table()
    assert all(f"`{o.key}`" in table for o in config.SCHEMA)
