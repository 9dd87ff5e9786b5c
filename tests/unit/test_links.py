"""The link store: schema versions, links, stamps, journal, audit log and the run lock."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from calferry.errors import ConfigError, LockBusy
from calferry.links import MIGRATIONS, AuditEntry, LinkStore, links_from_stamps, migrate
from calferry.model import ItemKey, Link, Origin, PsaKind, PsaRef, Stamp
from tests.unit.engine_helpers import item


def test_store_lives_in_calferry_home(calferry_home: Path) -> None:
    store = LinkStore.open()
    assert store.path == calferry_home / "links.sqlite3" and store.path.exists()
    store.close()


def test_schema_version_migrates_forward_only(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "x.sqlite3", isolation_level=None)
    assert migrate(db) == len(MIGRATIONS)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert migrate(db) == len(MIGRATIONS)  # idempotent
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(ConfigError, match="newer calferry"):
        migrate(db)


def test_links_round_trip_and_one_link_per_psa_item(tmp_path: Path) -> None:
    store = LinkStore(tmp_path / "links.sqlite3")
    link = Link(
        ItemKey("s", "20260311T090000Z"),
        PsaRef(PsaKind.TODO, 4),
        Origin.SENT,
        "s",
        1,
        11,
        3,
        "v1",
        "h1",
        "p1",
        "ph",
    )
    store.save(link)
    assert store.links() == [link] and store.link_for(link.personal) == link
    moved = Link(ItemKey("other"), PsaRef(PsaKind.TODO, 4), Origin.SENT)
    store.save(moved)
    assert store.links() == [moved]
    store.remove(ItemKey("other"))
    assert store.links() == []


def test_links_from_stamps_ignores_copied_stamps(tmp_path: Path) -> None:
    store = LinkStore(tmp_path / "links.sqlite3")
    stamp = Stamp(PsaKind.APPOINTMENT, 5, Origin.SENT)
    items = [
        item("a", stamp=stamp),
        item("copy", stamp=stamp),
        item("d", stamp=Stamp(PsaKind.TODO, 2, Origin.DOWNLOADED, 1)),
    ]
    adopted = links_from_stamps(items, store.links())
    for link in adopted:
        store.save(link)
    assert [(link.personal.uid, link.psa, link.origin, link.company_id) for link in adopted] == [
        ("d", PsaRef(PsaKind.TODO, 2), Origin.DOWNLOADED, 1)
    ]
    assert links_from_stamps(items, store.links()) == []


def test_journal_and_audit(tmp_path: Path) -> None:
    store = LinkStore(tmp_path / "links.sqlite3")
    intent = store.journal("run1", "create", "a", PsaKind.APPOINTMENT, {"title": "x"}, {"payload": 1})
    (pending,) = store.pending()
    assert (pending.intent_id, pending.fingerprint, pending.payload, pending.state) == (
        intent,
        {"title": "x"},
        {"payload": 1},
        "pending",
    )
    store.settle(intent, "done", 42)
    assert store.pending() == []
    when = datetime(2026, 3, 10, tzinfo=UTC)
    store.audit(AuditEntry(when, "run1", "create:psa", "a", "appointment", 42, "done", "R16"))
    store.audit(AuditEntry(when, "run1", "update:personal", "a", "appointment", 42, "failed", "boom"))
    assert [e.outcome for e in store.log()] == ["failed", "done"] and store.log(1)[0].message == "boom"
    assert store.log()[1].to_json()["psa_id"] == 42


def test_b4_audit_log_pages_and_filters_by_subject_or_words(tmp_path: Path) -> None:
    store = LinkStore(tmp_path / "links.sqlite3")
    when = datetime(2026, 3, 10, tzinfo=UTC)
    for n, subject in enumerate(("Dentist", "Budget review", "100%_sure", "Dentist again")):
        entry = AuditEntry(
            when, "run1", "create:psa", f"r{n}", "appointment", n, "done", "sent", subject, "R16"
        )
        store.audit(entry)
    assert [e.subject for e in store.log(2)] == ["Dentist again", "100%_sure"]
    assert [e.subject for e in store.log(2, 2)] == ["Budget review", "Dentist"]
    assert [e.subject for e in store.log(search="dentist")] == ["Dentist again", "Dentist"]
    assert [e.subject for e in store.log(search="%_")] == ["100%_sure"]  # wildcards are plain text
    assert store.log(search="R16") == []  # the rule is data, not words to find
    assert store.log(1)[0].to_json()["rule"] == "R16"


def test_b4_an_audit_log_of_the_first_schema_gains_subject_and_rule(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "links.sqlite3", isolation_level=None)
    db.executescript(f"BEGIN; {MIGRATIONS[0]} PRAGMA user_version = 1; COMMIT;")
    db.execute(
        "INSERT INTO audit (at, run_id, action, ref, outcome) VALUES ('2026-03-10T00:00:00+00:00', 'r', 'create:psa', 'a', 'done')"
    )
    db.close()
    (old,) = LinkStore(tmp_path / "links.sqlite3").log()
    assert (old.ref, old.subject, old.rule) == ("a", "", "")


def test_state_survives_reopen(tmp_path: Path) -> None:
    store = LinkStore(tmp_path / "links.sqlite3")
    store.set_state("conflicts", ["a"])
    store.close()
    assert LinkStore(tmp_path / "links.sqlite3").get_state("conflicts") == ["a"]


def test_run_lock_refuses_a_second_process(tmp_path: Path) -> None:
    store = LinkStore(tmp_path / "links.sqlite3")
    code = (
        "import sys; from pathlib import Path; from calferry.links import LinkStore; from calferry.errors import LockBusy\n"
        f"s = LinkStore(Path({str(store.path)!r}))\n"
        "try:\n    s.lock().acquire()\nexcept LockBusy as e:\n    print(e); sys.exit(7)\n"
    )
    with store.lock():
        busy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert busy.returncode == 7 and "another calferry run" in busy.stdout
    free = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert free.returncode == 0
    with pytest.raises(LockBusy), store.lock():
        store.lock().acquire()
