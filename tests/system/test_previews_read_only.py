"""B1 through the CLI and the pages: every preview (``--dry-run`` of send, get, add, series delete and
resolve; the Get preview and the mapping page) shows what would happen and changes nothing: the link
store (links, journal, run state) stays byte for byte, and so do both calendars, read over HTTP."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from calferry.links import FILE_NAME
from calferry.personal.radicale import DEFAULT_USER
from calferry.web.app import default_service_factory
from tests.fixtures.web_client import WebClient
from tests.system.conftest import Cli, at
from tests.system.get_helpers import APPOINTMENT, edit_personal, nora_appointments, patch, ref, state_of
from tests.system.send_helpers import daily_series, vcalendar, vevent
from tests.system.test_add_rules import COUNTED, wall_clock

PSA_ENTITIES = (*COUNTED, "ServiceCallTicketResources", "ServiceCallTaskResources")
"""Every PSA entity a run of calferry writes."""

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter></C:filter>
</C:calendar-query>"""

SYNC_TOKEN = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:sync-token/></D:prop></D:propfind>"""


def _days(first: int, last: int) -> tuple[str, str, str, str]:
    today = datetime.now(UTC).date()
    return "--from", f"{today + timedelta(days=first)}", "--to", f"{today + timedelta(days=last)}"


def _personal_side(cli: Cli) -> dict[str, str]:
    """The calendar collection as Radicale serves it: every item with its ETag, and the sync token
    (which moves on any write, even one that leaves the items' text as it was)."""
    auth = (DEFAULT_USER, "")
    with httpx.Client(auth=auth, timeout=30) as http:
        items = http.request("REPORT", cli.calendar_url, content=REPORT, headers={"Depth": "1"})
        token = http.request("PROPFIND", cli.calendar_url, content=SYNC_TOKEN, headers={"Depth": "0"})
    assert items.status_code == 207 and token.status_code == 207
    return {"items": items.text, "sync-token": token.text}


def _store(cli: Cli) -> dict[str, Any]:
    """The link store: its bytes, and its tables as rows (so a difference names what moved)."""
    path = cli.home / FILE_NAME
    assert (
        not path.with_name(FILE_NAME + "-wal").exists()
        or not path.with_name(FILE_NAME + "-wal").stat().st_size
    )
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {
            name: db.execute(f"SELECT * FROM {name} ORDER BY 1, 2").fetchall()
            for name in ("links", "journal", "audit", "state")
        }
    finally:
        db.close()
    return {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), **tables}


def _everything(cli: Cli) -> dict[str, Any]:
    return {
        "store": _store(cli),
        "personal": _personal_side(cli),
        "psa": {entity: cli.psa_query(entity) for entity in PSA_ENTITIES},
    }


@pytest.fixture
def lived_in(cli: Cli) -> Iterator[dict[str, str]]:
    """A home with a history: a sent series, a sent item whose link the store lost (restored from its
    stamp on the next read), items downloaded by Get, a conflict Get reported, an unsent item, and a
    PSA change since the last Get (the next Get's view differs from the cached one)."""
    cli.seed_ical(
        vcalendar(
            daily_series("standup", at(2), 3, "Standup"),
            vevent("lost", at(3, 11), at(3, 12), "Link lost"),
            vevent("fresh", at(4, 11), at(4, 12), "Not sent yet"),
        )
    )
    cli.ok("send", "--series", "standup", *_days(2, 4))
    cli.ok("send", "lost")
    first, second = sorted(nora_appointments(cli), key=lambda r: r["startDateTime"])[:2]
    conflict = ref(APPOINTMENT, first["id"])
    cli.ok("get")
    edit_personal(cli, conflict, subject="My own title")
    patch(cli, "Appointments", {"id": first["id"], "title": "The PSA's title"})
    cli.ok("get")
    assert state_of(cli, conflict) == "conflict"
    db = sqlite3.connect(cli.home / FILE_NAME)
    with db:
        db.execute("DELETE FROM links WHERE personal_uid = 'lost'")
    db.close()
    patch(cli, "Appointments", {"id": second["id"], "title": "Moved by the dispatcher"})
    occurrence = next(i.ref for i in cli.personal_items() if i.uid == "standup")
    yield {"conflict": conflict, "occurrence": occurrence.split("@")[1]}


def test_b1_every_preview_leaves_the_store_and_both_calendars_as_they_were(
    cli: Cli, lived_in: dict[str, str]
) -> None:
    before = _everything(cli)
    appointment = [*wall_clock(3, 9)[:1], *wall_clock(3, 10)[:1]]

    previews = [
        ("send", "fresh", "lost", "--dry-run"),
        ("send", "--series", "standup", *_days(2, 4), "--dry-run"),
        ("get", "--dry-run"),
        ("get", "--dry-run", "--policy", "psa-wins"),
        ("add", "appointment", "--title", "Survey", "--start", appointment[0], "--end", appointment[1], "--dry-run"),
        ("add", "todo", "--company", "Contoso Dental", "--start", appointment[0], "--end", appointment[1], "--dry-run"),
        ("series", "delete", "standup", "--dry-run"),
        ("series", "delete", "standup", "--occurrence", lived_in["occurrence"], "--dry-run"),
        ("resolve", lived_in["conflict"], "--keep", "psa", "--dry-run"),
        ("resolve", lived_in["conflict"], "--keep", "personal", "--dry-run"),
        ("items",),
    ]  # fmt: skip
    for args in previews:
        shown = cli.ok(*args)
        assert shown.data.get("actions") or shown.data.get("items"), args
    web = WebClient(default_service_factory(), raise_server_exceptions=True)
    for path, params in (
        ("/get", {}),
        ("/get", {"policy": "psa-wins"}),
        ("/send", {"ref": ["fresh", "lost", lived_in["conflict"]]}),
        ("/conflicts", {}),
    ):
        page = web.get(path, **params)
        assert page.status_code == 200, (path, page.text)

    after = _everything(cli)
    assert after["store"] == before["store"]
    assert after["personal"] == before["personal"]
    assert after["psa"] == before["psa"]


# --- the three previews added to send's and get's -------------------------------------------------


def test_b1_add_dry_run_shows_the_item_it_would_create_and_creates_nothing(cli: Cli) -> None:
    start_text, start = wall_clock(3, 9)
    end_text, end = wall_clock(3, 10, 30)
    before = {entity: cli.psa_query(entity) for entity in COUNTED}
    args = ("add", "appointment", "--title", "Site survey", "--start", start_text, "--end", end_text)

    plan = cli.ok(*args, "--dry-run")

    assert plan.data["operation"] == "add"
    [action] = plan.data["actions"]
    assert (action["action"], action["ref"], action["psa_kind"], action["rule"]) == (
        "create", "", "appointment", "R30"
    )  # fmt: skip
    planned = action["payload"]["psa_item"]
    assert planned["title"] == "Site survey"
    times = [datetime.fromisoformat(planned[t]["$datetime"]) for t in ("start", "end")]
    assert times == [start, end]
    human = cli.run(*args, "--dry-run", json_output=False)
    assert human.exit_code == 0 and "nothing changed yet" in human.stdout and "R30" not in human.stdout
    refused = cli.run("add", "todo", "--start", start_text, "--end", end_text, "--dry-run")
    assert (refused.exit_code, refused.data["error"]["type"]) == (5, "InputError")
    assert "needs a company" in refused.data["error"]["message"]
    assert {entity: cli.psa_query(entity) for entity in COUNTED} == before


def test_b1_series_delete_dry_run_names_every_copy_it_would_delete(cli: Cli) -> None:
    cli.seed_ical(vcalendar(daily_series("standup", at(2), 3, "Standup")))
    sent = cli.ok("send", "--series", "standup", *_days(2, 4))
    copies = {a["ref"]: a["psa_id"] for a in sent.actions(outcome="done")}
    assert len(copies) == 3
    one = sorted(copies)[1]

    whole = cli.ok("series", "delete", "standup", "--dry-run")
    single = cli.ok("series", "delete", "standup", "--occurrence", one.split("@")[1], "--dry-run")

    assert whole.data["operation"] == "delete-series"
    assert {(a["ref"], a["psa_id"]) for a in whole.actions(psa_kind="appointment")} == set(copies.items())
    assert [(a["ref"], a["psa_id"]) for a in whole.actions(psa_kind=None)] == [("standup", None)]
    assert [(a["action"], a["ref"], a["psa_id"]) for a in single.data["actions"]] == [
        ("delete", one, copies[one]), ("delete", one, None),
    ]  # fmt: skip
    assert all(a["rule"] == "R22" for a in whole.data["actions"] + single.data["actions"])
    assert all(cli.psa_get("Appointments", psa_id) for psa_id in copies.values())
    assert len([i for i in cli.personal_items() if i.uid == "standup"]) == 3
    missing = cli.run("series", "delete", "no-such-series", "--dry-run")
    assert (missing.exit_code, missing.data["error"]["type"]) == (6, "NotFound")


def test_b1_resolve_dry_run_shows_either_side_winning(cli: Cli) -> None:
    first = min(nora_appointments(cli), key=lambda r: r["startDateTime"])
    conflict = ref(APPOINTMENT, first["id"])
    cli.ok("get")
    edit_personal(cli, conflict, subject="My own title")
    patch(cli, "Appointments", {"id": first["id"], "title": "The PSA's title"})
    cli.ok("get")

    psa_wins = cli.ok("resolve", conflict, "--keep", "psa", "--dry-run")
    mine_wins = cli.ok("resolve", conflict, "--keep", "personal", "--dry-run")

    [taken] = psa_wins.data["actions"]
    assert (psa_wins.data["operation"], taken["action"], taken["ref"], taken["rule"]) == (
        "resolve", "update", conflict, "R24"
    )  # fmt: skip
    assert taken["payload"]["target"]["value"] == "personal"
    assert taken["payload"]["fields"]["subject"] == "The PSA's title"
    [sent] = mine_wins.data["actions"]
    assert (mine_wins.data["operation"], sent["action"], sent["psa_id"], sent["rule"]) == (
        "send", "update", first["id"], "R17"
    )  # fmt: skip
    assert sent["payload"]["psa_item"]["title"] == "My own title"
    human = cli.run("resolve", conflict, "--keep", "psa", "--dry-run", json_output=False)
    assert human.exit_code == 0 and "PSA's version taken" in human.stdout
    assert cli.personal(conflict).subject == "My own title"
    assert (cli.psa_get("Appointments", first["id"]) or {})["title"] == "The PSA's title"
    assert state_of(cli, conflict) == "conflict"
