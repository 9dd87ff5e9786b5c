"""The typed vocabulary: one conflict policy (R5-B) read the same from the config, the org settings and
a page, and outcomes (B4) that are members of one enum in memory yet the same plain words on disk."""

from __future__ import annotations

import json
import sqlite3
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calferry import config
from calferry.errors import InputError
from calferry.links import AuditEntry, LinkStore
from calferry.model import Outcome, Policy
from calferry.org.store import OrgSettings
from calferry.plan import Action, ActionKind
from calferry.results import ActionResult, RunResult

WHEN = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("policy", list(Policy))
def test_r5b_every_policy_reads_as_the_same_member_from_config_org_and_page(
    policy: Policy, calferry_home: Path
) -> None:
    settings = config.set_value("calendar.conflict_policy", policy.value)
    assert settings.calendar.conflict_policy is policy
    assert OrgSettings().with_value("policy", policy.value).policy is policy
    assert config.to_policy(policy.value) is policy
    written = tomllib.loads((calferry_home / "config.toml").read_text(encoding="utf-8"))
    assert written["calendar"]["conflict_policy"] == policy.value  # the file keeps the plain words
    assert config.load_settings().to_dict()["calendar"]["conflict_policy"] == policy.value


@given(st.text(max_size=20).filter(lambda t: t not in config.POLICIES))
def test_r5b_an_unknown_policy_is_refused_naming_the_three(text: str) -> None:
    with pytest.raises(InputError, match="keep-personal, psa-wins, ask"):
        config.to_policy(text)
    with pytest.raises(InputError, match="keep-personal, psa-wins, ask"):
        OrgSettings().with_value("policy", text)


def test_b4_outcomes_are_members_in_memory_and_plain_words_in_the_log_and_json(tmp_path: Path) -> None:
    store = LinkStore(tmp_path / "links.sqlite3")
    for outcome in Outcome:
        store.audit(AuditEntry(WHEN, "run1", "create:psa", outcome.value, "appointment", 1, outcome))
    store.close()
    on_disk = sqlite3.connect(tmp_path / "links.sqlite3").execute("SELECT ref, outcome FROM audit").fetchall()
    assert on_disk == [(o.value, o.value) for o in Outcome]
    read = LinkStore(tmp_path / "links.sqlite3").log(limit=len(Outcome))
    assert {e.ref: e.outcome for e in read} == {o.value: o for o in Outcome}
    assert all(type(e.outcome) is Outcome and type(e.to_json()["outcome"]) is str for e in read)


def test_b4_a_run_counts_its_outcomes_by_member_and_writes_plain_words() -> None:
    skip = Action(ActionKind.SKIP, "a", None, None, "private")
    result = RunResult([ActionResult(skip, Outcome.SKIPPED), ActionResult(skip, Outcome.FAILED, "boom")])
    assert result.outcomes() == {Outcome.SKIPPED: 1, Outcome.FAILED: 1}
    assert [r.outcome for r in result.failed] == [Outcome.FAILED]
    written = json.loads(json.dumps(result.to_json()))
    assert [a["outcome"] for a in written["actions"]] == ["skipped", "failed"]
    assert all(type(a["outcome"]) is str for a in result.to_json()["actions"])
