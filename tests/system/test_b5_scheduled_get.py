"""B5: a Get that a timer runs unattended: it asks nothing, and a run overlapping another stops cleanly."""

from __future__ import annotations

from calferry.links import LinkStore
from tests.system.conftest import Cli


def test_b5_get_overlapping_another_run_stops_with_lock_busy_and_writes_nothing(cli: Cli) -> None:
    store = LinkStore.open()
    try:
        with store.lock():
            busy = cli.run("get")
    finally:
        store.close()
    assert busy.exit_code == 10  # not 7: that is a stale saved plan, which needs a new plan
    assert busy.data["error"]["type"] == "LockBusy"
    assert cli.personal_items() == []
    first = cli.ok("get")
    assert first.actions(action="create", outcome="done"), "the next scheduled run does the work"


def test_b5_repeated_unattended_get_needs_no_input_and_changes_nothing_the_second_time(cli: Cli) -> None:
    first = cli.run("get", input="")
    assert first.exit_code == 0 and first.actions(outcome="done")
    again = cli.run("get", input="")
    assert again.exit_code == 0
    assert not [a for a in again.actions() if a["outcome"] == "done"]
    assert len(cli.personal_items()) == len(first.actions(outcome="done"))
