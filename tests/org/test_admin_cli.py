"""``calferry org init`` and the ``org status --json`` twins of the admin page, on real PostgreSQL."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from calferry.cli import app
from calferry.org.admin.accounts import MAX_FAILURES, AdminAccounts, SignInRefused, SignInThrottled
from calferry.org.store import OrgStore
from tests.org import admin_data as data

pytestmark = pytest.mark.postgres
runner = CliRunner()


def _run(*args: str, stdin: str | None = None) -> tuple[int, Any]:
    result = runner.invoke(app, [*args, "--json"], input=stdin, catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def org(org_store: OrgStore, monkeypatch: pytest.MonkeyPatch) -> OrgStore:
    monkeypatch.setenv("CALFERRY_ORG_DB", org_store.engine.url.render_as_string(hide_password=False))
    return org_store


def test_init_keeps_only_an_argon2_hash_and_the_password_then_signs_in(org: OrgStore) -> None:
    code, answer = _run("org", "init", "--password-stdin", stdin=data.PASSWORD + "\n")
    assert code == 0 and answer == {"admin_password": "set", "sessions_ended": 0}
    with org.engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM admins")).scalar_one()
    assert stored.startswith("$argon2id$") and data.PASSWORD not in stored
    accounts = AdminAccounts(org.engine)
    assert accounts.signed_in(accounts.sign_in(data.PASSWORD, "127.0.0.1"))


def test_init_asks_twice_and_takes_the_password_once_both_agree(org: OrgStore) -> None:
    typed = "first try password\nsomething else entirely\n" + (data.PASSWORD + "\n") * 2
    result = runner.invoke(app, ["org", "init"], input=typed, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output and "The admin password is set." in result.output
    AdminAccounts(org.engine).sign_in(data.PASSWORD, "127.0.0.1")  # no SignInRefused


def test_init_again_changes_the_password_and_ends_every_session(org: OrgStore) -> None:
    accounts = AdminAccounts(org.engine)
    accounts.set_password(data.PASSWORD)
    sessions = [accounts.sign_in(data.PASSWORD, "127.0.0.1") for _ in range(2)]
    code, answer = _run("org", "init", "--password-stdin", stdin="a brand new passphrase\n")
    assert code == 0 and answer["sessions_ended"] == 2
    assert not any(accounts.signed_in(s) for s in sessions)
    with pytest.raises(SignInRefused):
        accounts.sign_in(data.PASSWORD, "127.0.0.1")
    assert accounts.signed_in(accounts.sign_in("a brand new passphrase", "127.0.0.1"))


def test_a_short_password_is_refused_in_words_and_nothing_is_set(org: OrgStore) -> None:
    code, answer = _run("org", "init", "--password-stdin", stdin="short\n")
    assert code != 0 and "at least 10 characters" in answer["error"]["message"]
    assert not AdminAccounts(org.engine).has_password()


def test_repeated_bad_passwords_are_throttled_per_address_even_with_the_right_one_next(org: OrgStore) -> None:
    accounts = AdminAccounts(org.engine)
    accounts.set_password(data.PASSWORD)
    for _ in range(MAX_FAILURES):
        with pytest.raises(SignInRefused):
            accounts.sign_in("guessing wrong", "10.0.0.9")
    with pytest.raises(SignInThrottled) as throttled:
        accounts.sign_in(data.PASSWORD, "10.0.0.9")
    assert 0 < throttled.value.retry_in <= 15 * 60 and "try again in 15 minutes" in str(throttled.value)
    assert accounts.signed_in(accounts.sign_in(data.PASSWORD, "127.0.0.1"))  # another address is not blocked


def test_an_expired_session_is_not_signed_in(org: OrgStore) -> None:
    accounts = AdminAccounts(org.engine)
    accounts.set_password(data.PASSWORD)
    session = accounts.sign_in(data.PASSWORD, "127.0.0.1")
    with org.engine.begin() as conn:
        conn.execute(text("UPDATE admin_sessions SET expires = now() - interval '1 second'"))
    assert not accounts.signed_in(session)
    with org.engine.connect() as conn:
        kept = conn.execute(text("SELECT id_hash FROM admin_sessions")).scalar_one()
    assert session not in kept  # the table keeps a digest, not the cookie's value


def test_status_json_has_each_technicians_links_conflicts_and_errors(org: OrgStore) -> None:
    nora = org.add_technician(101, "nora@example.com", "caldav", "http://cal/nora/", name="Nora York")
    omar = org.add_technician(102, "omar@example.com", "graph", "omar@example.com")
    now = datetime.now(UTC)
    for n in range(3):
        data.link(org, nora.id, f"uid-{n}", 500 + n)
    data.open_conflicts(org, nora.id, ["uid-1", "uid-2"])
    data.audit(org, nora.id, now - timedelta(hours=1), "uid-0", "failed", "the calendar refused the change")
    data.audit(org, nora.id, now - timedelta(hours=30), "uid-0", "failed", "an old error")  # older than a day
    code, status = _run("org", "status")
    assert code == 0
    rows = {t["email"]: t for t in status["technicians"]}
    assert (rows[nora.email]["items_linked"], rows[nora.email]["conflicts"], rows[nora.email]["errors"]) == (
        3,
        2,
        1,
    )
    assert (rows[omar.email]["items_linked"], rows[omar.email]["conflicts"], rows[omar.email]["errors"]) == (
        0,
        0,
        0,
    )


def test_status_json_has_the_requests_per_hour_of_the_last_24_hours(org: OrgStore) -> None:
    data.requests_at(org, 0, 17)
    data.requests_at(org, 5, 96)
    data.requests_at(org, 30, 999)  # older than the chart
    code, status = _run("org", "status")
    series = status["requests_per_hour"]
    assert code == 0 and len(series["hours"]) == 24
    assert [h["requests"] for h in series["hours"]][-1] == 17 and series["hours"][-6]["requests"] == 96
    assert sum(h["requests"] for h in series["hours"]) == 17 + 96
    hours = [datetime.fromisoformat(h["hour"]) for h in series["hours"]]
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(hours))
    assert series["threshold"] == 10_000 and series["capacity"] == 2500


def test_status_of_one_technician_pages_their_audit_newest_first(org: OrgStore) -> None:
    nora = org.add_technician(101, "nora@example.com", "caldav", "http://cal/nora/")
    other = org.add_technician(102, "omar@example.com", "caldav", "http://cal/omar/")
    start = datetime.now(UTC) - timedelta(hours=2)
    for n in range(5):
        data.audit(org, nora.id, start + timedelta(minutes=n), f"uid-{n}", message=f"entry {n}")
    data.audit(org, nora.id, start - timedelta(minutes=1), "uid-9", "conflict", "both sides changed")
    data.audit(org, other.id, start, "not-noras")
    data.open_conflicts(org, nora.id, ["uid-9"])
    code, first = _run("org", "status", "--technician", str(nora.id), "--limit", "2")
    assert code == 0
    assert [e["message"] for e in first["audit"]] == ["entry 4", "entry 3"] and first["older"] is True
    assert [(c["ref"], c["message"]) for c in first["conflicts"]] == [("uid-9", "both sides changed")]
    code, last = _run("org", "status", "--technician", str(nora.id), "--limit", "2", "--offset", "4")
    refs = [e["ref"] for e in last["audit"]]
    assert refs == ["uid-0", "uid-9"] and last["older"] is False and "not-noras" not in refs


def test_status_of_a_technician_nobody_has_says_so(org: OrgStore) -> None:
    code, answer = _run("org", "status", "--technician", "4711")
    assert code != 0 and "4711" in answer["error"]["message"]


def test_org_web_refuses_another_machines_address_unless_allowed(org: OrgStore) -> None:
    code, answer = _run("org", "web", "--host", "0.0.0.0")
    assert code != 0 and "only this machine may reach it" in answer["error"]["message"]


def test_org_web_serves_the_sign_in_on_loopback_until_ctrl_c(org: OrgStore) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}"}
    args = ["org", "web", "--port", "0", "--zone", "Europe/Berlin", "--json"]
    web = subprocess.Popen([sys.executable, "-c", "from calferry.cli import main; main()", *args], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert web.stdout is not None
        lines: list[str] = []
        while not "".join(lines).rstrip().endswith("}"):
            line = web.stdout.readline()
            assert line, web.stderr.read() if web.stderr else ""
            lines.append(line)
        started = json.loads("".join(lines))
        assert started["url"].startswith("http://127.0.0.1:") and started["zone"] == "Europe/Berlin"
        with httpx.Client(base_url=started["url"]) as client:
            assert client.get("/technicians").headers["location"] == "/signin"
            signin = client.get("/signin")
            assert signin.status_code == 200 and "No admin password is set yet" in signin.text
            assert "Times in Europe/Berlin" in signin.text
    finally:
        web.send_signal(signal.SIGINT)
        _, err = web.communicate(timeout=60)
    assert web.returncode in (0, 130), err  # 130: ended by Ctrl-C, as shells count it
    assert "Traceback" not in err
