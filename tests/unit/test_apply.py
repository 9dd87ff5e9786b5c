"""B2: a Send or Get interrupted at any journal step, or losing a create's answer, ends clean on re-run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from calferry.errors import StaleVersion
from calferry.model import ItemKey, PsaAppointment, PsaKind, PsaRef
from calferry.plan import Plan, downloaded_uid
from tests.unit.engine_helpers import NOW, Engine, at, item

STEPS = ("journaled", "created", "stamped", "linked", "settled")
GET_STEPS = ("journaled", "created", "linked", "settled")


class Crash(BaseException):
    """The process dies: nothing after this point runs (not a CalferryError, so nothing catches it)."""


def crash_at(step: str, nth: int = 1):  # type: ignore[no-untyped-def]
    seen = {"n": 0}

    def checkpoint(name: str) -> None:
        if name == step:
            seen["n"] += 1
            if seen["n"] == nth:
                raise Crash(step)

    return checkpoint


def assert_clean_send(engine: Engine, uids: list[str]) -> None:
    """One PSA item per personal item, each linked and stamped with its id, no pending intent."""
    titles = sorted(i.title for i in engine.psa.items.values() if isinstance(i, PsaAppointment))
    assert titles == sorted(uids)
    for uid in uids:
        link = engine.store.link_for(ItemKey(uid))
        assert link is not None
        assert engine.calendar.get(ItemKey(uid)).stamp.psa_id == link.psa.id
        assert engine.psa.items[link.psa].title == uid
    assert engine.store.pending() == []


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("nth", [1, 2])
def test_b2_send_crash_at_every_step_then_rerun_has_no_duplicate(tmp_path: Path, step: str, nth: int) -> None:
    engine = Engine(tmp_path)
    for uid in ("a", "b", "c"):
        engine.calendar.create(item(uid, subject=uid))
    with pytest.raises(Crash):
        engine.with_checkpoint(crash_at(step, nth)).send(["a", "b", "c"])
    engine.service.send(["a", "b", "c"])
    assert_clean_send(engine, ["a", "b", "c"])


@pytest.mark.parametrize("step", GET_STEPS)
def test_b2_get_crash_at_every_step_then_rerun_downloads_once(tmp_path: Path, step: str) -> None:
    engine = Engine(tmp_path)
    for n in (1, 2):
        engine.psa.items[PsaRef(PsaKind.APPOINTMENT, n)] = PsaAppointment(
            n, f"p{n}", at(12, 8 + n), at(12, 9 + n), 7, "", NOW
        )
    with pytest.raises(Crash):
        engine.with_checkpoint(crash_at(step)).get()
    engine.service.get()
    assert engine.service.get().results == []
    items = engine.calendar.snapshot(engine.service._window()).items
    assert sorted(i.uid for i in items) == [downloaded_uid(PsaRef(PsaKind.APPOINTMENT, n)) for n in (1, 2)]
    assert len(engine.store.links()) == 2 and engine.store.pending() == []


def test_b2_get_delete_crash_then_rerun_drops_the_link(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.calendar.create(item("a"))
    engine.calendar.create(item("b"))
    engine.service.send(["a", "b"])
    engine.psa.remove(PsaRef(PsaKind.APPOINTMENT, 1))
    with pytest.raises(Crash):
        engine.with_checkpoint(crash_at("deleted")).get()
    engine.service.get()
    assert [link.personal.uid for link in engine.store.links()] == ["b"]


def test_b2_lost_create_answer_is_adopted_not_duplicated(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.calendar.create(item("a", subject="a"))
    engine.calendar.create(item("b", subject="b"))
    engine.psa.lose_next_create_answer()
    first = engine.service.send(["a", "b"])
    assert [r["outcome"] for r in first.to_json()["actions"]] == ["failed", "done"]
    assert len(engine.store.pending()) == 1
    second = engine.service.send(["a"])
    adopted, resent = second.to_json()["actions"]
    assert (adopted["outcome"], resent["outcome"]) == ("adopted", "skipped")  # the adopted item is current
    assert resent["reason"].startswith("unchanged")
    assert_clean_send(engine, ["a", "b"])


def test_b2_pending_intent_with_nothing_created_is_planned_again(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.calendar.create(item("a", subject="a"))
    with pytest.raises(Crash):
        engine.with_checkpoint(crash_at("journaled")).send(["a"])
    assert engine.psa.items == {} and len(engine.store.pending()) == 1
    assert "reconciled first" in engine.service.preview_send(["a"]).warnings[0]
    result = engine.service.send(["a"])
    assert [r["outcome"] for r in result.to_json()["actions"]] == ["failed", "done"]
    assert_clean_send(engine, ["a"])


def test_b2_an_item_stamped_before_the_crash_keeps_its_link_when_its_psa_copy_is_deleted(
    tmp_path: Path,
) -> None:
    """Recovery stamps the item it adopts, then the run dies before the link; the PSA copy is deleted
    before the next run, so no fingerprint matches: the stamp still names the item, and it is linked."""
    engine = Engine(tmp_path)
    engine.calendar.create(item("a", subject="a"))
    engine.calendar.create(item("b", subject="b", hour=11))
    with pytest.raises(Crash):
        engine.with_checkpoint(crash_at("created")).send(["b"])
    with pytest.raises(Crash):  # the recovery of b's create stamps b, and the run dies there
        engine.with_checkpoint(crash_at("stamped")).send(["a"])
    assert engine.calendar.get(ItemKey("b")).stamp is not None and engine.store.link_for(ItemKey("b")) is None
    engine.psa.remove(PsaRef(PsaKind.APPOINTMENT, 1))
    recovered, sent = engine.service.send(["a"]).to_json()["actions"]
    assert (recovered["ref"], recovered["outcome"], recovered["psa_id"]) == ("b", "adopted", 1)
    assert sent["outcome"] == "done" and engine.store.pending() == []
    stamps = {
        i.key: i.stamp.psa_id for i in engine.calendar.snapshot(engine.service._window()).items if i.stamp
    }
    assert stamps == {link.personal: link.psa.id for link in engine.store.links()}


def test_one_failing_item_is_reported_and_the_rest_go_on(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.calendar.create(item("bad", hours=-1))
    engine.calendar.create(item("good", subject="good"))
    result = engine.service.send(["bad", "good"])
    actions = result.to_json()["actions"]
    assert [a["outcome"] for a in actions] == ["skipped", "done"]
    assert "ends before it starts" in actions[0]["reason"]


def test_progress_callback_counts_every_action(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    for uid in ("a", "b"):
        engine.calendar.create(item(uid))
    seen: list[tuple[int, int]] = []
    engine.service.on_progress = lambda done, total: seen.append((done, total))
    engine.service.send(["a", "b"])
    assert seen == [(1, 2), (2, 2)]


def test_stale_personal_version_with_same_content_is_not_a_conflict(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.calendar.add_series(item("s", subject="Stand-up"), "FREQ=DAILY;COUNT=3")
    plan = engine.service.preview_send(["s@20260311T090000Z", "s@20260312T090000Z"])
    current = engine.calendar.get(ItemKey("s", "20260313T090000Z"))
    engine.calendar.update(replace(current, description="touch another occurrence"))
    result = engine.service.send(plan=plan)
    assert [r["outcome"] for r in result.to_json()["actions"]] == ["done", "done"]


def test_b1_a_saved_send_plan_applied_twice_creates_one_psa_item(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.calendar.create(item("a", subject="a"))
    plan = Plan.from_json(engine.service.preview_send(["a"]).to_json())
    first = engine.service.send(plan=plan)
    assert [r.outcome for r in first.results] == ["done"]
    again = engine.service.send(plan=plan)
    (failed,) = again.failed
    assert isinstance(failed.exc, StaleVersion)
    assert failed.error == f"a already sent as appointment {first.results[0].psa_id}; make a new preview"
    assert_clean_send(engine, ["a"])


def test_b9_a_saved_create_of_an_item_stamped_since_links_the_stamp_never_a_twin(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.calendar.create(item("a", subject="a"))
    plan = engine.service.preview_send(["a"])
    first = engine.service.send(["a"])
    engine.lose_store()  # the stamp is all that tells the item was sent (as on a second device)
    (adopted,) = engine.service.send(plan=plan).results
    assert (adopted.outcome, adopted.psa_id) == ("adopted", first.results[0].psa_id)
    assert len(engine.psa.items) == 1
    assert [link.psa.id for link in engine.store.links()] == [first.results[0].psa_id]


def test_b2_a_failure_made_good_later_in_the_run_is_no_failure_of_the_run(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.calendar.create(item("a", subject="a"))
    engine.calendar.create(item("b", subject="b", day=12))
    with pytest.raises(Crash):
        engine.with_checkpoint(crash_at("journaled")).send(["a", "b"])
    result = engine.service.send(["a", "b"])
    assert [r.outcome for r in result.results] == ["failed", "done", "done"]
    assert result.failed == []
