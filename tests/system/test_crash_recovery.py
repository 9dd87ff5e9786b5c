"""B2 with real processes: a Send or Get killed at every journal step, or losing a create's answer, and
run again in a fresh process, ends clean — no duplicate PSA item, every selected item linked exactly
once, links equal stamps, nothing lost, no pending intent.

Each run is its own process (``tests/system/crash_run.py``) on the real adapters: CalDAV against an
embedded Radicale and the local Autotask-compatible server over HTTP. The crashed process dies with
``os._exit(137)`` at the Nth ``checkpoint(step)``, so nothing after that point runs: no rollback, no
``finally``, no closing of connections. The re-run goes through ``calferry send|get --json`` when the
CLI has those commands, else through the same helper without a crash. What the runs left behind is
read back over HTTP and CalDAV by the test itself. No sleeps: every wait is for a process to end.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calferry import config
from calferry.model import ItemKey, Origin, PersonalItem, PsaKind, PsaRef, Window
from calferry.personal.caldav import CalDavCalendar
from calferry.personal.radicale import DEFAULT_USER, ensure_calendar
from calferry.plan import ActionKind
from calferry.psa.server.faults import FaultPlan
from calferry.wiring import open_service
from tests.fixtures.psa_server import PsaServer
from tests.system.crash_run import KILLED

ROOT = Path(__file__).resolve().parents[2]
HELPER = [sys.executable, "-m", "tests.system.crash_run"]
CLI = [sys.executable, "-c", "from calferry.cli import main; main()"]
ME = "tech.ny@demo.calferry.local"
SEND_STEPS = ("journaled", "created", "stamped", "linked", "settled")
GET_STEPS = ("journaled", "created", "linked", "settled")
TIMEOUT = 120


@dataclass
class Home:
    """A configured CALFERRY_HOME on a fresh Radicale collection and the reset demo PSA server."""

    calendar_url: str
    psa: PsaServer

    def calendar(self) -> CalDavCalendar:
        return CalDavCalendar(self.calendar_url, username=DEFAULT_USER)


@pytest.fixture
def home(radicale_calendar_url: str, psa_server: PsaServer, monkeypatch: pytest.MonkeyPatch) -> Home:
    return configure(radicale_calendar_url, psa_server, monkeypatch)


def configure(calendar_url: str, psa: PsaServer, monkeypatch: pytest.MonkeyPatch) -> Home:
    """config.toml written with ``set_value`` as ``calferry config set`` does; the secret in the env."""
    ensure_calendar(calendar_url)  # MKCALENDAR: the fixture's collection does not exist yet
    values = {
        "calendar.enabled": "true",
        "personal.backend": "caldav",
        "personal.url": calendar_url,
        "psa.base_url": psa.base_url,
        "psa.username": psa.headers["UserName"],
        "psa.integration_code": psa.headers["ApiIntegrationCode"],
        "psa.resource": ME,
    }
    for key, value in values.items():
        config.set_value(key, value)
    monkeypatch.setenv("CALFERRY_PSA_SECRET", psa.headers["Secret"])
    return Home(calendar_url, psa)


# --- running calferry in processes of its own ---------------------------------------------------


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True,
                          timeout=TIMEOUT)  # fmt: skip


def crash(operation: str, step: str, nth: int, refs: Sequence[str] = (), *flags: str) -> None:
    """The run dies at the ``nth`` ``step``; it must really have got there (exit 137, nothing printed)."""
    done = _run([*HELPER, operation, *refs, *flags, "--crash-at", step, "--nth", str(nth)])
    assert done.returncode == KILLED, f"not killed at {step} #{nth}: rc={done.returncode}\n{done.stderr}"
    assert done.stdout == ""


def run(operation: str, refs: Sequence[str] = (), *flags: str) -> list[dict[str, Any]]:
    """A whole run; its actions' JSON (outcome, psa_id, ...)."""
    done = _run([*HELPER, operation, *refs, *flags])
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout)["actions"])


def rerun(operation: str, refs: Sequence[str] = (), *flags: str) -> list[dict[str, Any]]:
    """The run after the crash, through the CLI when it has Send and Get (else the helper; same flags)."""
    if importlib.util.find_spec("calferry.commands.engine_cmd") is None:
        return run(operation, refs, *flags)
    done = _run([*CLI, operation, *refs, *flags, "--json"])
    body = json.loads(done.stdout or "{}")
    assert "actions" in body, f"rc={done.returncode}\n{done.stdout}\n{done.stderr}"
    # B2: the re-run finishes what the crash left, so it tells the truth: everything is done, exit 0
    assert done.returncode == 0, f"rc={done.returncode}\n{done.stdout}\n{done.stderr}"
    return list(body["actions"])


def outcomes(actions: list[dict[str, Any]]) -> list[str]:
    return [a["outcome"] for a in actions]


# --- reading back what the runs left ------------------------------------------------------------


def psa_titles(server: PsaServer, title: str) -> list[dict[str, Any]]:
    """The PSA's appointments with this exact title, asked over HTTP as any client would."""
    body = {"filter": [{"op": "eq", "field": "title", "value": title}]}
    with server.client() as client:
        answer = client.post("Appointments/query", json=body)
    answer.raise_for_status()
    return list(answer.json()["items"])


@dataclass(frozen=True)
class State:
    """Links, stamps and pending intents after the runs, read by a Service in this process."""

    links: dict[ItemKey, PsaRef]
    stamps: dict[ItemKey, PsaRef]
    pending: int
    replan: list[ActionKind]


def state(operation: str, refs: Sequence[str] = ()) -> State:
    with open_service() as service:
        listed = service.personal.snapshot(window()).items
        stamps = {i.key: PsaRef(i.stamp.psa_kind, i.stamp.psa_id) for i in listed if i.stamp is not None}
        links = {link.personal: link.psa for link in service.store.links()}
        for key, ref in links.items():
            stamp = service.personal.get(key).stamp  # every link's item is there and carries its stamp
            assert stamp is not None and PsaRef(stamp.psa_kind, stamp.psa_id) == ref, key
        plan = service.preview_get() if operation == "get" else service.preview_send(refs)
        return State(links, stamps, len(service.store.pending()), [a.kind for a in plan.actions])


def window() -> Window:
    cal = config.load_settings().calendar
    return Window.around(datetime.now(UTC), cal.get_past_days, cal.get_future_days)


def assert_clean(operation: str, refs: Sequence[str] = ()) -> State:
    """Links equal stamps, no PSA item is linked or stamped twice, nothing is left pending or to create."""
    found = state(operation, refs)
    assert found.links == found.stamps
    assert len(set(found.links.values())) == len(found.links)
    assert found.pending == 0
    assert ActionKind.CREATE not in found.replan and ActionKind.DELETE not in found.replan
    return found


# --- Send ---------------------------------------------------------------------------------------


def personal_items(home: Home, names: Sequence[str], *, description: bool = False) -> dict[str, str]:
    """Items tomorrow, one hour each, with titles (and, if asked, descriptions) unique to this test."""
    start = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=1)
    tag = Path(home.calendar_url.rstrip("/")).name
    titles = {}
    calendar = home.calendar()
    try:
        for n, name in enumerate(names):
            at = start + timedelta(hours=n)
            title = f"{name} {tag}"
            text = title if description else ""
            calendar.create(PersonalItem(name, at, at + timedelta(hours=1), subject=title, description=text))
            titles[name] = title
    finally:
        calendar.close()
    return titles


def assert_sent_once(home: Home, titles: dict[str, str]) -> None:
    """Every selected item: one PSA appointment of its title, linked to it and stamped with its id."""
    found = assert_clean("send", list(titles))
    for uid, title in titles.items():
        (appointment,) = psa_titles(home.psa, title)
        ref = PsaRef(PsaKind.APPOINTMENT, int(appointment["id"]))
        assert found.links[ItemKey(uid)] == ref
        assert appointment["resourceID"] == state_me(home)


def state_me(home: Home) -> int:
    with home.psa.client() as client:
        body = {"filter": [{"op": "eq", "field": "email", "value": ME}]}
        return int(client.post("Resources/query", json=body).json()["items"][0]["id"])


@pytest.mark.parametrize("step", SEND_STEPS)
def test_b2_send_killed_at_every_step_then_rerun_has_no_duplicate(home: Home, step: str) -> None:
    titles = personal_items(home, ["a", "b", "c"])
    crash("send", step, nth=2, refs=list(titles))  # a is through, b is cut at the step, c never started
    assert len(psa_titles(home.psa, titles["a"])) == 1
    assert psa_titles(home.psa, titles["c"]) == []
    rerun("send", list(titles))
    assert_sent_once(home, titles)


def test_b2_send_killed_at_the_first_journal_entry_creates_everything_once(home: Home) -> None:
    titles = personal_items(home, ["a", "b"])
    crash("send", "journaled", nth=1, refs=list(titles))
    assert all(psa_titles(home.psa, t) == [] for t in titles.values())
    actions = rerun("send", list(titles))
    assert outcomes(actions) == ["failed", "done", "done"]  # the open intent: nothing was made, planned again
    assert_sent_once(home, titles)


def test_b2_a_recovery_killed_while_adopting_is_itself_recovered(home: Home) -> None:
    titles = personal_items(home, ["a", "b"])
    crash("send", "created", nth=1, refs=list(titles))  # a exists in the PSA, calferry does not know it
    crash("send", "stamped", nth=1, refs=list(titles))  # killed again while the re-run adopts a
    assert len(psa_titles(home.psa, titles["a"])) == 1 and psa_titles(home.psa, titles["b"]) == []
    actions = rerun("send", list(titles))
    assert outcomes(actions)[0] == "adopted"
    assert_sent_once(home, titles)


def todos_of(home: Home, company: int, tag: str) -> list[dict[str, Any]]:
    body = {"filter": [{"op": "eq", "field": "companyID", "value": company},
                       {"op": "contains", "field": "activityDescription", "value": tag}]}  # fmt: skip
    with home.psa.client() as client:
        answer = client.post("CompanyToDos/query", json=body)
    answer.raise_for_status()
    return list(answer.json()["items"])


@pytest.mark.parametrize("step", ["created", "stamped"])
def test_b2_todo_send_killed_after_the_create_is_adopted_with_its_company(home: Home, step: str) -> None:
    titles = personal_items(home, ["a", "b"], description=True)
    with home.psa.client() as client:
        body = {"filter": [{"op": "eq", "field": "companyName", "value": "Contoso Dental"}]}
        company = int(client.post("Companies/query", json=body).json()["items"][0]["id"])
    todo = ("--as", "todo", "--company", "Contoso Dental")
    crash("send", step, 2, list(titles), *todo)
    rerun("send", list(titles), *todo)
    found = assert_clean("send", list(titles))
    for uid, title in titles.items():
        (made,) = todos_of(home, company, title)
        assert found.links[ItemKey(uid)] == PsaRef(PsaKind.TODO, int(made["id"]))
    calendar = home.calendar()
    try:
        stamps = [calendar.get(ItemKey(uid)).stamp for uid in titles]
    finally:
        calendar.close()
    assert all(s is not None and s.company_id == company for s in stamps)


# --- Get ----------------------------------------------------------------------------------------


def assert_downloaded_once(expected: set[PsaRef]) -> None:
    found = assert_clean("get")
    assert set(found.links.values()) == expected


def demo_items() -> set[PsaRef]:
    """What a Get brings from the demo PSA into the empty calendar, by its preview (which writes nothing)."""
    with open_service() as service:
        plan = service.preview_get()
    creates = [a for a in plan.actions if a.kind is ActionKind.CREATE]
    return {PsaRef(a.psa_kind, a.psa_id) for a in creates if a.psa_kind is not None and a.psa_id is not None}


@pytest.mark.parametrize("step", GET_STEPS)
def test_b2_get_killed_at_every_step_then_rerun_downloads_once(home: Home, step: str) -> None:
    expected = demo_items()
    assert len(expected) >= 3
    crash("get", step, nth=2)
    rerun("get")
    assert_downloaded_once(expected)


def test_b2_get_killed_after_a_personal_delete_then_rerun_drops_the_link(home: Home) -> None:
    titles = personal_items(home, ["a", "b"])
    run("send", list(titles))
    (gone,) = psa_titles(home.psa, titles["a"])
    with home.psa.client() as client:
        client.delete(f"Appointments/{gone['id']}").raise_for_status()
    crash("get", "deleted", nth=1)
    rerun("get")
    found = assert_clean("get")
    assert ItemKey("a") not in found.links and ItemKey("b") in found.links
    calendar = home.calendar()
    try:
        assert [i.uid for i in calendar.snapshot(window()).items if i.uid in titles] == ["b"]
    finally:
        calendar.close()


# --- a create whose answer is lost (the server applies it, then drops the connection) -----------


def test_b2_lost_create_answer_is_reported_then_adopted_not_duplicated(
    radicale_calendar_url: str,
    psa_server_factory: Callable[..., PsaServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    faults = FaultPlan(rate=1.0, kinds=("lost-answer",))  # every write applied, its answer dropped
    home = configure(radicale_calendar_url, psa_server_factory(faults=faults), monkeypatch)
    titles = personal_items(home, ["a", "b"])
    first = run("send", list(titles))
    assert outcomes(first) == ["failed", "failed"]
    assert all("did not answer" in str(a["error"]) for a in first)
    assert all(len(psa_titles(home.psa, t)) == 1 for t in titles.values())  # made, but unknown to calferry
    assert state("send", list(titles)).pending == 2
    faults.rate = 0.0  # the PSA answers again
    second = rerun("send", list(titles))
    assert outcomes(second)[:2] == ["adopted", "adopted"]
    assert {a["psa_id"] for a in second[:2]} == {
        int(psa_titles(home.psa, t)[0]["id"]) for t in titles.values()
    }
    assert_sent_once(home, titles)
    for uid in titles:
        calendar = home.calendar()
        try:
            stamp = calendar.get(ItemKey(uid)).stamp
        finally:
            calendar.close()
        assert stamp is not None and stamp.origin is Origin.SENT
