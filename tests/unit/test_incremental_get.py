"""B3 incremental Get on MemoryCalendar + MemoryPsa: the same plans as a full read, from far fewer reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from calferry.incremental import GetCache
from calferry.model import ItemKey, PsaAppointment, PsaKind, PsaRef, PsaServiceCall, PsaToDo, Stamp, Window
from calferry.plan import Plan, downloaded_uid
from tests.unit.engine_helpers import ACME, NOW, Engine, at, item

APPT = PsaKind.APPOINTMENT
KICKOFF = PsaRef(APPT, 5)  # "mine" is sent as appointment 1


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = Engine(tmp_path)
    engine.calendar.create(item("mine", subject="Dentist"))
    engine.service.send(["mine"])
    engine.psa.items[KICKOFF] = PsaAppointment(5, "Kick-off", at(12, 9), at(12, 10), 7, "", NOW)
    engine.psa.items[PsaRef(PsaKind.TODO, 1)] = PsaToDo(
        1, 1, 3, 7, at(13, 9), at(13, 10), "call back", 11, NOW
    )
    call = PsaServiceCall(1, 1, at(14, 9), at(14, 11), "fix printer", (engine.psa.work_items[0],), NOW)
    engine.psa.items[PsaRef(PsaKind.SERVICE_CALL, 1)] = call
    engine.service.get()
    return engine


class Calls:
    """Counts calls of chosen adapter methods (the memory PSA counts requests, not which method)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, target: object, *names: str) -> None:
        self.counts = dict.fromkeys(names, 0)
        for name in names:
            monkeypatch.setattr(target, name, self._counted(name, getattr(target, name)))

    def _counted(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.counts[name] += 1
            return method(*args, **kwargs)

        return counted


def full_plan(engine: Engine) -> dict[str, Any]:
    """The plan after full reads of both sides (the cache dropped), then the cache put back."""
    kept = engine.store.get_state("get_cache")
    engine.store.set_state("get_cache", None)
    plan = engine.service.preview_get().to_json()
    engine.store.set_state("get_cache", kept)
    return plan


def token(engine: Engine) -> str | None:
    """The memory calendar's write counter: unchanged means nothing was written."""
    return engine.calendar.snapshot(Window(NOW - timedelta(days=400), NOW + timedelta(days=400))).token


# --- a no-change Get --------------------------------------------------------------------------


def test_b3_no_change_get_reads_markers_and_changes_only_and_writes_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, requests = token(engine), dict(engine.psa.counts)
    psa = Calls(monkeypatch, engine.psa, "snapshot", "markers", "fetch", "get")
    personal = Calls(monkeypatch, engine.calendar, "snapshot", "changes", "get")
    result = engine.service.get()
    assert psa.counts == {"snapshot": 0, "markers": 1, "fetch": 1, "get": 0}
    assert personal.counts == {"snapshot": 0, "changes": 1, "get": 0}
    assert result.results == [] and token(engine) == before
    spent = {k: v - requests.get(k, 0) for k, v in engine.psa.counts.items() if v != requests.get(k, 0)}
    assert spent == {"POST Appointments/query": 1, "POST ToDos/query": 1, "POST ServiceCalls/query": 1}


def test_b3_first_get_reads_in_full_and_keeps_its_own_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(tmp_path)
    engine.psa.items[PsaRef(APPT, 1)] = PsaAppointment(1, "Kick-off", at(12, 9), at(12, 10), 7, "", NOW)
    psa = Calls(monkeypatch, engine.psa, "snapshot", "markers")
    engine.service.get()
    assert psa.counts == {"snapshot": 1, "markers": 0}
    cache = GetCache.from_json(engine.store.get_state("get_cache"))
    assert cache is not None and [i.uid for i in cache.personal] == [downloaded_uid(PsaRef(APPT, 1))]
    assert cache.token == token(engine)  # the created item is in the cache: not read back next time


# --- the same plan as a full read ---------------------------------------------------------------


def edit_psa(engine: Engine) -> None:
    engine.psa.edit(KICKOFF, title="Kick-off (moved)", start=at(12, 11), end=at(12, 12))


def new_psa_items(engine: Engine) -> None:
    engine.psa.items[PsaRef(APPT, 9)] = PsaAppointment(9, "New", at(15, 9), at(15, 10), 7, "", NOW)
    engine.psa.items[PsaRef(PsaKind.TODO, 9)] = PsaToDo(9, 2, 4, 7, at(15, 11), at(15, 12), "", None, NOW)


def remove_from_psa(engine: Engine) -> None:
    engine.psa.remove(PsaRef(PsaKind.TODO, 1))


def rename_company(engine: Engine) -> None:
    """An unlinked item is rendered afresh, with the company's new name, though its marker stayed."""
    uid = downloaded_uid(PsaRef(PsaKind.SERVICE_CALL, 1))
    engine.store.remove(ItemKey(uid))
    engine.calendar.delete(ItemKey(uid))
    engine.psa.companies[1] = replace(ACME, name="Acme Renamed")


def edit_personal(engine: Engine) -> None:
    uid = downloaded_uid(KICKOFF)
    engine.calendar.update(replace(engine.calendar.get(ItemKey(uid)), subject="my notes"))
    engine.psa.touch(KICKOFF)  # noise: the marker moves, the mapped fields do not


def move_personal_out_of_window(engine: Engine) -> None:
    uid = downloaded_uid(KICKOFF)
    current = engine.calendar.get(ItemKey(uid))
    later = timedelta(days=90)
    engine.calendar.update(replace(current, start=current.start + later, end=current.end + later))
    edit_psa(engine)


def delete_personal(engine: Engine) -> None:
    engine.calendar.delete(ItemKey(downloaded_uid(PsaRef(PsaKind.SERVICE_CALL, 1))))
    engine.psa.edit(PsaRef(PsaKind.SERVICE_CALL, 1), description="again")


def copy_a_stamp(engine: Engine) -> None:
    stamp = Stamp(APPT, 1, engine.calendar.get(ItemKey("mine")).stamp.origin)  # type: ignore[union-attr]
    engine.calendar.create(item("copy", day=16, subject="pasted", stamp=stamp))


def add_a_series(engine: Engine) -> None:
    engine.calendar.add_series(item("s", day=17, subject="Stand-up"), "FREQ=DAILY;COUNT=3")
    engine.service.send(["s@20260318T090000Z"])
    engine.psa.edit(PsaRef(APPT, 2), title="changed in PSA")


CHANGES = [
    edit_psa,
    new_psa_items,
    remove_from_psa,
    rename_company,
    edit_personal,
    move_personal_out_of_window,
    delete_personal,
    copy_a_stamp,
    add_a_series,
]


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.__name__)
def test_b3_incremental_plan_equals_the_full_read_plan(
    engine: Engine, change: Callable[[Engine], None]
) -> None:
    change(engine)
    expected = full_plan(engine)
    assert expected["actions"], "the change should give the Get something to do"
    assert engine.service.preview_get().to_json() == expected
    engine.service.get()
    assert engine.service.preview_get().to_json() == full_plan(engine)


def test_b3_changes_one_after_another_keep_plans_equal(engine: Engine) -> None:
    for change in CHANGES:
        change(engine)
        assert engine.service.preview_get().to_json() == full_plan(engine), change.__name__
        engine.service.get(force_delete=True)
    assert Plan.from_json(full_plan(engine)).actions == engine.service.preview_get().actions


def test_b3_only_new_and_changed_psa_items_are_fetched(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit_psa(engine)
    new_psa_items(engine)
    asked: list[list[PsaRef]] = []
    fetch = engine.psa.fetch
    monkeypatch.setattr(engine.psa, "fetch", lambda refs: asked.append(list(refs)) or fetch(asked[-1]))
    engine.service.get()
    assert sorted(asked[0], key=str) == sorted([KICKOFF, PsaRef(APPT, 9), PsaRef(PsaKind.TODO, 9)], key=str)


# --- falling back to full reads ---------------------------------------------------------------


def test_b3_next_days_window_reads_both_sides_in_full(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    psa = Calls(monkeypatch, engine.psa, "snapshot", "markers")
    personal = Calls(monkeypatch, engine.calendar, "snapshot", "changes")
    engine.clock = NOW + timedelta(days=1)
    engine.service.get()
    assert psa.counts == {"snapshot": 1, "markers": 0}
    assert personal.counts == {"snapshot": 1, "changes": 0}


def test_b3_refused_token_lists_the_window(engine: Engine) -> None:
    cache = engine.store.get_state("get_cache")
    engine.store.set_state("get_cache", {**cache, "token": "not-a-token"})
    edit_personal(engine)
    assert engine.service.preview_get().to_json() == full_plan(engine)


@pytest.mark.parametrize("broken", [{"format": 0}, {"format": 1, "window": "x"}, "garbage"])
def test_b3_unreadable_cache_means_a_full_read(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, broken: object
) -> None:
    engine.store.set_state("get_cache", broken)
    psa = Calls(monkeypatch, engine.psa, "snapshot", "markers")
    edit_psa(engine)
    assert [r.action.kind.value for r in engine.service.get().results] == ["update"]
    assert psa.counts == {"snapshot": 1, "markers": 0}


def test_b3_adapter_that_cannot_name_changed_uids_lists_the_window(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    changes = engine.calendar.changes
    monkeypatch.setattr(
        engine.calendar, "changes", lambda window, token: replace(changes(window, token), changed_uids=None)
    )
    personal = Calls(monkeypatch, engine.calendar, "snapshot")
    move_personal_out_of_window(engine)
    assert engine.service.preview_get().to_json() == full_plan(engine)
    assert personal.counts["snapshot"] == 2  # the incremental preview and the full one both listed


def test_b3_problem_in_changes_lists_the_window(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    changes = engine.calendar.changes
    monkeypatch.setattr(
        engine.calendar, "changes", lambda window, token: replace(changes(window, token), problems=("bad",))
    )
    personal = Calls(monkeypatch, engine.calendar, "snapshot")
    engine.service.preview_get()
    assert personal.counts["snapshot"] == 1
