"""The link store: schema versions, links, stamps, journal, audit log and the run lock.

The store's behaviour is a contract (``calferry.links.LinkRecords``) with two implementations: the SQLite
file of one home and the org service's PostgreSQL rows of one technician. The tests taking ``records``
run on both; the others are about the SQLite file itself.
"""

from __future__ import annotations

import itertools
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calferry.errors import ConfigError, InputError, LockBusy
from calferry.links import MIGRATIONS, AuditEntry, LinkRecords, LinkStore, links_from_stamps, migrate
from calferry.model import ItemKey, Link, Origin, PsaKind, PsaRef, Stamp
from calferry.org.cluster import PrivateCluster
from calferry.org.pg_links import PgLinkStore
from calferry.org.store import OrgStore
from tests.unit.engine_helpers import item

_numbers = itertools.count(1)


@dataclass
class Records:
    """One person's link store, opened as often as a test needs (each open is a new connection)."""

    kind: str
    opener: Callable[[str], LinkRecords]
    code: Callable[[str], str]
    """Python that opens the same store as ``s`` in another process."""
    opened: list[LinkRecords] = field(default_factory=list)

    def open(self, person: str = "me") -> LinkRecords:
        store = self.opener(person)
        self.opened.append(store)
        return store


@pytest.fixture(scope="module")
def _org_db(postgres_cluster: PrivateCluster) -> Iterator[OrgStore]:
    store = OrgStore.open(postgres_cluster.create_database("link_records"))
    yield store
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def records(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Records]:
    """A fresh link store of the kind the parameter names: a file of its own, or a technician of their own."""
    if request.param == "sqlite":
        made = Records(
            "sqlite",
            lambda person: LinkStore(tmp_path / person / "links.sqlite3"),
            lambda person: (
                f"from calferry.links import LinkStore as S; from pathlib import Path; s = S(Path({str(tmp_path / person / 'links.sqlite3')!r}))"
            ),
        )
    else:
        org: OrgStore = request.getfixturevalue("_org_db")
        url = org.engine.url.render_as_string(hide_password=False)
        ids: dict[str, int] = {}

        def technician(person: str) -> int:
            if person not in ids:
                n = next(_numbers)
                ids[person] = org.add_technician(n, f"{person}{n}@example.com", "caldav", "http://x/").id
            return ids[person]

        made = Records(
            "postgres",
            lambda person: PgLinkStore(org.engine, technician(person)),
            lambda person: (
                "from calferry.org.pg_links import PgLinkStore as S; from calferry.org.store import engine_for\n"
                f"s = S(engine_for({url!r}), {technician(person)})"
            ),
        )
    yield made
    for store in made.opened:
        store.close()


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


def test_links_round_trip_and_one_link_per_psa_item(records: Records) -> None:
    store = records.open()
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


def test_links_from_stamps_ignores_copied_stamps(records: Records) -> None:
    store = records.open()
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


def test_journal_and_audit(records: Records) -> None:
    store = records.open()
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


def test_b4_audit_log_pages_and_filters_by_subject_or_words(records: Records) -> None:
    store = records.open()
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


def test_state_survives_reopen(records: Records) -> None:
    store = records.open()
    store.set_state("conflicts", ["a"])
    device = store.device_id()
    store.close()
    again = records.open()
    assert again.get_state("conflicts") == ["a"] and again.get_state("missing") is None
    assert again.device_id() == device


def test_run_lock_refuses_a_second_process(records: Records) -> None:
    store = records.open()
    code = (
        f"import sys; from calferry.errors import LockBusy\n{records.code('me')}\n"
        "try:\n    s.lock().acquire()\nexcept LockBusy as e:\n    print(e); sys.exit(7)\n"
    )
    with store.lock():
        busy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert busy.returncode == 7 and "another calferry run" in busy.stdout
    free = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert free.returncode == 0
    with pytest.raises(LockBusy), store.lock():
        store.lock().acquire()


def test_one_persons_records_are_not_anothers(records: Records) -> None:
    """Two homes, or two technicians of one org database: nothing of one is seen, counted or locked by the other."""
    mine, theirs = records.open("me"), records.open("them")
    mine.save(Link(ItemKey("a"), PsaRef(PsaKind.APPOINTMENT, 7), Origin.SENT))
    theirs.save(Link(ItemKey("b"), PsaRef(PsaKind.APPOINTMENT, 7), Origin.DOWNLOADED))  # the same PSA item
    mine.journal("run1", "create", "a", PsaKind.APPOINTMENT, {}, {})
    mine.audit(AuditEntry(datetime(2026, 3, 10, tzinfo=UTC), "run1", "create:psa", "a", None, None, "done"))
    mine.set_state("conflicts", ["a"])
    assert [link.personal.uid for link in theirs.links()] == ["b"]
    assert [link.psa for link in theirs.links()] == [PsaRef(PsaKind.APPOINTMENT, 7)]
    assert theirs.link_for(ItemKey("a")) is None and theirs.counts() == {"appointment/downloaded": 1}
    assert theirs.pending() == [] and theirs.log() == [] and theirs.get_state("conflicts") is None
    assert mine.device_id() != theirs.device_id()
    with mine.lock(), theirs.lock():
        pass


def test_a_transaction_keeps_all_or_nothing(records: Records) -> None:
    store = records.open()
    with pytest.raises(RuntimeError), store.transaction():
        store.save(Link(ItemKey("a"), PsaRef(PsaKind.TODO, 1), Origin.SENT))
        store.set_state("k", 1)
        raise RuntimeError("interrupted")
    assert store.links() == [] and store.get_state("k") is None
    with store.transaction():
        store.save(Link(ItemKey("a"), PsaRef(PsaKind.TODO, 1), Origin.SENT))
    assert [link.personal.uid for link in records.open().links()] == ["a"]  # committed: seen from elsewhere


_TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(uid=_TEXT, rid=_TEXT, subject=_TEXT, fingerprint=st.dictionaries(_TEXT, _JSON, max_size=4),
       state=_JSON)  # fmt: skip
def test_hostile_values_come_back_as_they_went_in(
    records: Records, uid: str, rid: str, subject: str, fingerprint: dict[str, object], state: object
) -> None:
    """Any text a calendar may carry (quotes, wildcards, newlines, any script, JSON escapes) is kept as is."""
    store = records.opened[0] if records.opened else records.open()
    link = Link(
        ItemKey(uid, rid or None), PsaRef(PsaKind.APPOINTMENT, 1), Origin.SENT, uid, None, None, None, rid
    )
    store.save(link)
    assert store.link_for(link.personal) == link and link in store.links()
    intent = store.journal("run", "create", uid, None, fingerprint, {"state": state})
    (pending,) = store.pending()
    assert (pending.intent_id, pending.ref, pending.fingerprint, pending.payload) == (
        intent, uid, fingerprint, {"state": state}
    )  # fmt: skip
    store.settle(intent, "done")
    store.set_state(uid, state)
    assert store.get_state(uid) == state
    store.audit(
        AuditEntry(
            datetime(2026, 3, 10, tzinfo=UTC), "run", "create:psa", uid, None, None, "done", subject=subject
        )
    )
    assert store.log(1)[0].subject == subject


def test_an_id_postgresql_cannot_keep_is_refused_before_anything_is_written(records: Records) -> None:
    """A NUL character in a calendar item's id: the SQLite file keeps it; PostgreSQL's text cannot, so the
    org's store refuses that item alone (a clear error, nothing journalled) and its log shows the rest."""
    store = records.open()
    odd = Link(ItemKey("a\x00b"), PsaRef(PsaKind.APPOINTMENT, 1), Origin.SENT)
    if records.kind == "sqlite":
        store.save(odd)
        assert store.link_for(odd.personal) == odd
        return
    with pytest.raises(InputError, match="NUL character"):
        store.journal("run", "create", "a\x00b", PsaKind.APPOINTMENT, {}, {})
    with pytest.raises(InputError, match="NUL character"):
        store.save(odd)
    assert store.pending() == [] and store.links() == []
    when = datetime(2026, 3, 10, tzinfo=UTC)
    store.audit(AuditEntry(when, "run", "create:psa", "a\x00b", None, None, "failed", subject="Dentist\x00"))
    assert (store.log()[0].ref, store.log()[0].subject) == ("a\ufffdb", "Dentist\ufffd")
