"""The .ics adapter's lock and atomic replace: writers in several processes lose nothing, and a write
that fails midway leaves the file as it was."""

from __future__ import annotations

import multiprocessing
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calferry.errors import PersonalCalendarError
from calferry.model import PersonalItem, Window
from calferry.personal.ics import IcsCalendar
from tests.unit.test_ical_files import WINDOW, copy_fixture

PROCESSES = 4
ITEMS_EACH = 8
START = datetime(2026, 3, 2, 8, tzinfo=UTC)


def item(uid: str, hours: int = 0) -> PersonalItem:
    start = START + timedelta(hours=hours)
    return PersonalItem(uid, start, start + timedelta(minutes=30), subject=uid)


def create_items(path: str, worker: int, barrier: Any) -> None:
    """One writer process: wait for the others, then create its items one read-modify-write at a time."""
    calendar = IcsCalendar(path)
    barrier.wait()
    for n in range(ITEMS_EACH):
        calendar.create(item(f"w{worker}-{n}", hours=worker * ITEMS_EACH + n))


def test_writers_in_several_processes_lose_no_item(tmp_path: Path) -> None:
    path = tmp_path / "shared.ics"
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(PROCESSES)
    workers = [context.Process(target=create_items, args=(str(path), w, barrier)) for w in range(PROCESSES)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [w.exitcode for w in workers] == [0] * PROCESSES
    window = Window(START - timedelta(days=1), START + timedelta(days=3))
    uids = sorted(i.uid for i in IcsCalendar(path).snapshot(window).items)
    assert uids == sorted(f"w{w}-{n}" for w in range(PROCESSES) for n in range(ITEMS_EACH))


def fail(*args: object, **kwargs: object) -> None:
    raise OSError("disk full")


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_write_failing_midway_leaves_the_file_intact_and_no_temp_file(
    step: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "calendars"
    folder.mkdir()
    path = copy_fixture(folder, "outlook_windows_tzid.ics")
    before = path.read_bytes()
    calendar = IcsCalendar(path)
    with monkeypatch.context() as patched:
        patched.setattr(os, step, fail)
        with pytest.raises(PersonalCalendarError, match="disk full"):
            calendar.create(item("lost-1"))
    assert path.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == sorted([path.name, f"{path.name}.lock"])
    calendar.create(item("kept-1"))  # the lock was released: the next write goes through
    assert "kept-1" in {i.uid for i in calendar.snapshot(WINDOW).items}
