"""B9: two homes (a laptop and a desktop) on one calendar and one PSA, running calferry in processes
of their own started at the same moment, round after round, on CalDAV (the real Radicale) and on a
shared .ics file: the same items sent and fetched by both make no twin on either side."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from calferry.model import PersonalItem
from calferry.personal.ics import IcsCalendar
from tests.system.conftest import EVERYTHING, Cli, at

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from calferry.cli import main; main()"]
ROUNDS = 3
ITEMS = 6
TIMEOUT = 180


def together(*runs: tuple[Path, Sequence[str]]) -> list[tuple[int, dict[str, Any], str]]:
    """Start every (home, command) at once, then wait for all: exit code, JSON answer, stderr."""
    started = [
        subprocess.Popen(
            [*CLI, *args, "--json"],
            cwd=ROOT,
            env={**os.environ, "CALFERRY_HOME": str(home)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for home, args in runs
    ]
    finished = []
    for process in started:
        out, err = process.communicate(timeout=TIMEOUT)
        finished.append((process.returncode, json.loads(out or "{}"), err))
    return finished


def second_home(cli: Cli, tmp_path: Path) -> Path:
    other = tmp_path / "desktop-home"
    other.mkdir()
    shutil.copy(cli.home / "config.toml", other / "config.toml")
    return other


def round_items(n: int) -> list[PersonalItem]:
    return [
        PersonalItem(f"r{n}-{i}", at(1 + i, 8 + n), at(1 + i, 9 + n), f"Round {n} item {i}")
        for i in range(ITEMS)
    ]


def assert_no_twins(cli: Cli, personal: list[PersonalItem], rounds: int) -> None:
    """One PSA appointment per sent item, stamped on it; no PSA item copied into the calendar twice."""
    for n in range(rounds):
        for sent in round_items(n):
            found = cli.psa_query("Appointments", {"op": "eq", "field": "title", "value": sent.subject})
            assert len(found) == 1, (sent.subject, found)
            mine = [p for p in personal if p.uid == sent.uid]
            assert len(mine) == 1 and mine[0].stamp is not None and mine[0].stamp.psa_id == found[0]["id"]
    stamps = Counter((p.stamp.psa_kind, p.stamp.psa_id) for p in personal if p.stamp is not None)
    assert [ref for ref, count in stamps.items() if count > 1] == []
    assert all(p.claim is None for p in personal)  # every claim was replaced by its stamp


def run_rounds(cli: Cli, other: Path, create: Callable[[PersonalItem], object]) -> None:
    laptop = cli.home
    for n in range(ROUNDS):
        items = round_items(n)
        for new in items:
            create(new)
        refs = [i.uid for i in items]
        if n % 2 == 0:  # both send the same items, then both fetch
            phases = [
                ((laptop, ["send", *refs]), (other, ["send", *refs])),
                ((laptop, ["get"]), (other, ["get"])),
            ]
        else:  # one sends while the other fetches, then the other way round
            phases = [
                ((laptop, ["send", *refs]), (other, ["get"])),
                ((other, ["send", *refs]), (laptop, ["get"])),
            ]
        for phase in phases:
            for code, answer, err in together(*phase):
                assert code == 0, (answer, err)
                assert not [a for a in answer.get("actions", []) if a["outcome"] == "failed"], answer


def test_b9_two_homes_on_one_caldav_calendar_make_no_twins(cli: Cli, tmp_path: Path) -> None:
    other = second_home(cli, tmp_path)
    run_rounds(cli, other, cli.create)
    assert_no_twins(cli, cli.personal_items(), ROUNDS)


def test_b9_two_homes_on_one_ics_file_make_no_twins(cli: Cli, tmp_path: Path) -> None:
    shared = tmp_path / "shared.ics"
    cli.set("personal.backend", "ics")
    cli.set("personal.path", str(shared))
    other = second_home(cli, tmp_path)
    calendar = IcsCalendar(shared)
    run_rounds(cli, other, calendar.create)
    assert_no_twins(cli, list(calendar.snapshot(EVERYTHING).items), ROUNDS)


@pytest.fixture(autouse=True)
def _psa_secret_for_children(cli: Cli) -> None:
    """The processes read the PSA secret from the environment, as the fixture set it."""
    assert os.environ.get("CALFERRY_PSA_SECRET")
