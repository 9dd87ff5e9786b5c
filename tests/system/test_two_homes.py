"""Two calferry homes on one calendar (a laptop and a desktop, or a lost link store): the second home
knows the links only from the stamps, so it has no known last transfer, and never overwrites a
personal edit it cannot prove stale (R5-B), against the real Radicale and the real PSA server."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from calferry.model import ItemKey, PersonalItem
from tests.system.conftest import Cli, at
from tests.system.get_helpers import APPOINTMENT, ref
from tests.system.send_helpers import only, psa_item, resource_id


def second_home(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Another CALFERRY_HOME with the same settings (same calendar, same PSA), and no link store."""
    other = tmp_path / "second-home"
    other.mkdir()
    shutil.copy(cli.home / "config.toml", other / "config.toml")
    monkeypatch.setenv("CALFERRY_HOME", str(other))
    return other


def visit(n: int) -> PersonalItem:
    return PersonalItem(f"visit-{n}", at(2 + n, 9), at(2 + n, 10), f"Visit {n}")


def edit_subject(cli: Cli, uid: str, subject: str) -> None:
    """The technician edits an item in the calendar (not sent)."""
    cal = cli.calendar()
    try:
        cal.update(replace(cal.get(ItemKey(uid)), subject=subject))
    finally:
        cal.close()


def _psa_appointment(cli: Cli, title: str, day: int) -> int:
    body = {
        "title": title,
        "startDateTime": at(day, 14).isoformat(),
        "endDateTime": at(day, 15).isoformat(),
        "resourceID": resource_id(cli),
        "description": "made in the PSA",
    }
    with cli.psa() as client:
        answer = client.post("Appointments", json=body)
    answer.raise_for_status()
    return int(answer.json()["itemId"])


def test_r5_a_second_home_keeps_a_personal_edit_it_cannot_prove_stale(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        cli.create(visit(n))
    cli.ok("send", "visit-0", "visit-1", "visit-2")
    made = _psa_appointment(cli, "Made in the PSA", 4)
    cli.ok("get")
    edited = {"visit-1": "Visit 1 - bring the X-rays", ref(APPOINTMENT, made): "My own words"}
    for uid, subject in edited.items():
        edit_subject(cli, uid, subject)

    second_home(cli, tmp_path, monkeypatch)
    result = cli.ok("get")

    conflicts = {a["ref"] for a in result.actions(outcome="conflict")}
    assert conflicts == set(edited)
    for uid, subject in edited.items():
        assert cli.personal(uid).subject == subject  # the personal edit survives
    assert {a["outcome"] for a in result.actions() if a["ref"] not in edited} <= {"unchanged"}
    assert psa_item(cli, "Appointments", made)["title"] == "Made in the PSA"
    sent = only(cli.psa_query("Appointments", {"op": "eq", "field": "title", "value": "Visit 1"}))
    assert sent["title"] == "Visit 1"  # nothing went the other way either


def test_r5_a_second_home_with_psa_wins_takes_the_psa_version(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.create(visit(0))
    cli.ok("send", "visit-0")
    edit_subject(cli, "visit-0", "Edited here")

    second_home(cli, tmp_path, monkeypatch)
    result = cli.ok("get", "--policy", "psa-wins")

    assert only(result.actions(ref="visit-0"))["outcome"] == "done"
    assert cli.personal("visit-0").subject == "Visit 0"
