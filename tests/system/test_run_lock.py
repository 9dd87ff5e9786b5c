"""Reading never waits for the run lock. While another run holds it (a scheduled Get), ``items``,
``send --dry-run``, ``get --dry-run``, ``status`` and ``log`` answer at once, and leave the link store
as they found it; a run that writes still stops with LockBusy."""

from __future__ import annotations

from calferry.links import LinkStore
from calferry.model import ItemKey, PersonalItem
from tests.system.conftest import Cli, at
from tests.system.send_helpers import only


def test_reading_commands_answer_while_another_run_holds_the_lock(cli: Cli) -> None:
    cli.create(PersonalItem("visit", at(2), at(2, 10), "Visit"))
    sent = only(cli.ok("send", "visit").actions())["psa_id"]
    store = LinkStore.open()
    store.remove(ItemKey("visit"))  # as on a second home: only the stamp tells what "visit" is
    try:
        with store.lock():  # another calferry run (e.g. a scheduled Get) is busy
            listed = cli.ok("items").data["items"]
            assert [(i["ref"], i["psa_id"]) for i in listed] == [("visit", sent)]
            assert cli.ok("send", "visit", "--dry-run").data["operation"] == "send"
            assert cli.ok("get", "--dry-run").data["operation"] == "get"
            assert cli.ok("status").data["enabled"] is True
            assert cli.ok("log").data["entries"]
            busy = cli.run("get")
            assert busy.exit_code != 0 and busy.data["error"]["type"] == "LockBusy"
        assert store.links() == []  # reading restored the link for itself only, wrote nothing
    finally:
        store.close()
