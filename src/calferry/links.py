"""The link store: which personal item is which PSA item, the journal of intents, and the audit log (B4).

One SQLite file, ``links.sqlite3`` in :func:`calferry.paths.home`. The schema is versioned with
``PRAGMA user_version`` and migrates forward only (``MIGRATIONS``: append, never edit). One run at a
time holds :class:`RunLock` (an ``flock`` on ``links.lock``); a second run fails fast with ``LockBusy``.

The store is the identity, but not the only copy of it: every linked personal item carries a stamp
(R16), so a lost link is restored from its item's stamp (:func:`links_from_stamps`, which the service
and the apply step use) and nothing is ever created twice in the PSA.

:class:`LinkRecords` is what the engine (the service and the Applier) asks of a link store; the org
service keeps the same records per technician in PostgreSQL (``calferry.org.pg_links``).

One module past 500 lines on purpose: the contract (``LinkRecords``), the row conversions and searches
both stores share, and the SQLite store sit together so the two stores read and write the same rows.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, Self

from calferry.errors import ConfigError, LockBusy
from calferry.mapping import personal_hash
from calferry.model import ItemKey, Link, Origin, Outcome, PersonalItem, PsaKind, PsaRef

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE links (
        personal_uid TEXT NOT NULL,
        recurrence_id TEXT NOT NULL DEFAULT '',
        psa_kind TEXT NOT NULL,
        psa_id INTEGER NOT NULL,
        origin TEXT NOT NULL,
        series_uid TEXT,
        company_id INTEGER,
        contact_id INTEGER,
        action_type_id INTEGER,
        personal_version TEXT,
        personal_hash TEXT,
        psa_version TEXT,
        psa_hash TEXT,
        PRIMARY KEY (personal_uid, recurrence_id),
        UNIQUE (psa_kind, psa_id)
    );
    CREATE INDEX links_series ON links (series_uid);
    CREATE TABLE journal (
        intent_id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        action TEXT NOT NULL,
        ref TEXT NOT NULL,
        psa_kind TEXT,
        fingerprint TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
        psa_id INTEGER,
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    );
    CREATE INDEX journal_state ON journal (state);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        run_id TEXT NOT NULL,
        action TEXT NOT NULL,
        ref TEXT NOT NULL,
        psa_kind TEXT,
        psa_id INTEGER,
        outcome TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    """
    ALTER TABLE audit ADD COLUMN subject TEXT NOT NULL DEFAULT '';
    ALTER TABLE audit ADD COLUMN rule TEXT NOT NULL DEFAULT '';
    """,
)
"""Forward-only schema steps; step N brings ``user_version`` from N to N + 1."""

FILE_NAME = "links.sqlite3"

_HAPPENED = {
    "create:psa": ("created in the PSA", "create it in the PSA"),
    "update:psa": ("updated in the PSA", "update it in the PSA"),
    "delete:psa": ("deleted in the PSA", "delete it in the PSA"),
    "create:personal": ("added to your calendar", "add it to your calendar"),
    "update:personal": ("updated in your calendar", "update it in your calendar"),
    "delete:personal": ("deleted from your calendar", "delete it from your calendar"),
}
"""An audit entry's ``action`` (what:where) as a past phrase, and as what was tried."""

_SEARCHED = ("subject", "message", "ref", "outcome", "action")
"""The audit columns a log filter looks in."""

LINK_COLUMNS = (
    "personal_uid",
    "recurrence_id",
    "psa_kind",
    "psa_id",
    "origin",
    "series_uid",
    "company_id",
    "contact_id",
    "action_type_id",
    "personal_version",
    "personal_hash",
    "psa_version",
    "psa_hash",
)
"""A link's columns, in the order of the table (and of :func:`link_row`)."""


@dataclass(frozen=True)
class Intent:
    """A journalled write: pending until done; a pending one after a crash is reconciled (B2)."""

    intent_id: int
    run_id: str
    action: str
    ref: str
    psa_kind: PsaKind | None
    fingerprint: dict[str, Any]
    payload: dict[str, Any]
    state: str
    psa_id: int | None


@dataclass(frozen=True)
class AuditEntry:
    """B4: one applied action: when, what, which ids, outcome."""

    at: datetime
    run_id: str
    action: str
    ref: str
    psa_kind: str | None
    psa_id: int | None
    outcome: Outcome
    message: str = ""
    subject: str = ""
    rule: str = ""

    def happened(self) -> str:
        """What the entry means, in a few words: "Added to your calendar", "Could not update it in the
        PSA", "Conflict: waiting for your choice" (the log as a person reads it)."""
        if self.outcome == Outcome.CONFLICT:
            return "Conflict: waiting for your choice"
        done, tried = _HAPPENED.get(self.action, (self.action, self.action))
        if self.outcome == Outcome.FAILED:
            return f"Could not {tried}"
        said = done[:1].upper() + done[1:]
        return said if self.outcome == Outcome.DONE else f"{said} ({self.outcome})"

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "run_id": self.run_id,
            "action": self.action,
            "ref": self.ref,
            "psa_kind": self.psa_kind,
            "psa_id": self.psa_id,
            "outcome": str(self.outcome),
            "message": self.message,
            "subject": self.subject,
            "rule": self.rule,
        }


AUDIT_COLUMNS = tuple(f.name for f in fields(AuditEntry))
"""The audit table's columns: an entry's fields, ``at`` first."""


class RunGuard:
    """One run at a time: ``acquire`` raises ``LockBusy`` while another holder has it; held in a ``with``."""

    def acquire(self) -> None:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class RunLock(RunGuard):
    """One exclusive calferry run per home: a non-blocking ``flock`` on ``links.lock``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockBusy(
                f"another calferry run is using {self.path.parent}",
                hint="wait for it to finish (or stop it), then try again",
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class LinkRecords(Protocol):
    """What the engine keeps for one person: links, the journal of intents, the audit log, run state.

    Two stores keep them: :class:`LinkStore` (a SQLite file in CALFERRY_HOME) and the org service's
    ``PgLinkStore`` (one technician's rows in PostgreSQL). Both subclass this protocol for the two
    methods written once here on top of the others.
    """

    def lock(self) -> RunGuard: ...

    def close(self) -> None: ...

    def transaction(self) -> AbstractContextManager[None]:
        """Every write inside commits together or not at all; one inside another is part of it."""
        ...

    def links(self) -> list[Link]: ...

    def link_for(self, key: ItemKey) -> Link | None: ...

    def save(self, link: Link) -> None:
        """Insert or replace the link of ``link.personal`` (and drop any other link to the same PSA item)."""
        ...

    def remove(self, key: ItemKey) -> None: ...

    def journal(
        self,
        run_id: str,
        action: str,
        ref: str,
        psa_kind: PsaKind | None,
        fingerprint: dict[str, Any],
        payload: dict[str, Any],
    ) -> int:
        """Record an intent as pending, durably, before the write it announces."""
        ...

    def settle(self, intent_id: int, state: Outcome, psa_id: int | None = None) -> None:
        """Mark an intent done or failed (with the PSA id it produced, if any)."""
        ...

    def pending(self) -> list[Intent]: ...

    def audit(self, entry: AuditEntry) -> None: ...

    def log(self, limit: int = 50, offset: int = 0, search: str = "") -> list[AuditEntry]:
        """The newest ``limit`` entries after the first ``offset``, newest first; ``search`` keeps those
        whose subject, message, ref, outcome or action contains it (any case)."""
        ...

    def get_state(self, key: str) -> Any: ...

    def set_state(self, key: str, value: Any) -> None: ...

    def counts(self) -> dict[str, int]:
        """Links by ``kind/origin``, for ``status``."""
        ...

    def device_id(self) -> str:
        """This home's name in the claims it writes (B9): made once, kept in the store."""
        device = self.get_state("device")
        if not device:
            device = uuid.uuid4().hex[:12]
            self.set_state("device", device)
        return str(device)


class LinkStore(LinkRecords):
    """Links, journal, audit log and small run state in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        migrate(self._db)

    @classmethod
    def open(cls, path: Path | None = None) -> LinkStore:
        """The store in CALFERRY_HOME (or ``path``)."""
        from calferry.paths import home

        return cls(path or home() / FILE_NAME)

    def lock(self) -> RunLock:
        return RunLock(self.path.with_suffix(".lock"))

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._db.in_transaction:
            yield  # part of the transaction around it (a save inside one)
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- links -------------------------------------------------------------------------------

    def links(self) -> list[Link]:
        return [
            link_from(row) for row in self._rows("SELECT * FROM links ORDER BY personal_uid, recurrence_id")
        ]

    def link_for(self, key: ItemKey) -> Link | None:
        rows = self._rows(
            "SELECT * FROM links WHERE personal_uid = ? AND recurrence_id = ?",
            (key.uid, key.recurrence_id or ""),
        )
        return link_from(rows[0]) if rows else None

    def save(self, link: Link) -> None:
        """Insert or replace the link of ``link.personal`` (and drop any other link to the same PSA item)."""
        with self.transaction():
            self._db.execute(
                "DELETE FROM links WHERE psa_kind = ? AND psa_id = ?", (link.psa.kind.value, link.psa.id)
            )
            self._db.execute(
                "INSERT OR REPLACE INTO links VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", link_row(link)
            )

    def remove(self, key: ItemKey) -> None:
        self._db.execute(
            "DELETE FROM links WHERE personal_uid = ? AND recurrence_id = ?",
            (key.uid, key.recurrence_id or ""),
        )

    # --- journal -----------------------------------------------------------------------------

    def journal(
        self,
        run_id: str,
        action: str,
        ref: str,
        psa_kind: PsaKind | None,
        fingerprint: dict[str, Any],
        payload: dict[str, Any],
    ) -> int:
        """Record an intent as pending, durably, before the write it announces."""
        now = _now()
        cur = self._db.execute(
            "INSERT INTO journal (run_id, action, ref, psa_kind, fingerprint, payload, state, created, updated)"
            " VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            (run_id, action, ref, None if psa_kind is None else psa_kind.value, *intent_texts(fingerprint, payload),
             now, now),
        )  # fmt: skip
        return int(cur.lastrowid or 0)

    def settle(self, intent_id: int, state: Outcome, psa_id: int | None = None) -> None:
        """Mark an intent done or failed (with the PSA id it produced, if any)."""
        self._db.execute(
            "UPDATE journal SET state = ?, psa_id = COALESCE(?, psa_id), updated = ? WHERE intent_id = ?",
            (state, psa_id, _now(), intent_id),
        )

    def pending(self) -> list[Intent]:
        return [
            intent_from(row)
            for row in self._rows("SELECT * FROM journal WHERE state = 'pending' ORDER BY intent_id")
        ]

    # --- audit log (B4) ----------------------------------------------------------------------

    def audit(self, entry: AuditEntry) -> None:
        self._db.execute(
            f"INSERT INTO audit ({', '.join(AUDIT_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry.at.isoformat(), *astuple(entry)[1:]),
        )

    def log(self, limit: int = 50, offset: int = 0, search: str = "") -> list[AuditEntry]:
        cur = self._db.execute(
            f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit WHERE {log_filter('LIKE')}"
            " ORDER BY id DESC LIMIT :limit OFFSET :offset",
            {**log_params(search), "limit": limit, "offset": offset},
        )
        return [_audit_entry(row) for row in cur.fetchall()]

    # --- run state ---------------------------------------------------------------------------

    def get_state(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_state(self, key: str, value: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (key, state_text(value)))

    def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT psa_kind, origin, COUNT(*) FROM links GROUP BY psa_kind, origin")
        return {f"{kind}/{origin}": n for kind, origin, n in rows.fetchall()}

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[dict[str, Any]]:
        cur = self._db.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def migrate(db: sqlite3.Connection) -> int:
    """Run every migration step newer than the file's ``user_version``; returns the new version."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise ConfigError(f"the link store is from a newer calferry (schema {version}); upgrade calferry")
    for step in range(version, len(MIGRATIONS)):
        db.executescript(f"BEGIN; {MIGRATIONS[step]} PRAGMA user_version = {step + 1}; COMMIT;")
    return len(MIGRATIONS)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def intent_texts(fingerprint: dict[str, Any], payload: dict[str, Any]) -> tuple[str, str]:
    """An intent's fingerprint and payload as the journal keeps them (JSON text)."""
    return json.dumps(fingerprint, sort_keys=True, default=str), json.dumps(payload)


def state_text(value: Any) -> str:
    """A run state value as the store keeps it (JSON text)."""
    return json.dumps(value, default=str)


def log_filter(like: str) -> str:
    """The audit log's WHERE clause: no search, or the search's words in one of the searched columns
    (``like`` is the database's case-blind LIKE: SQLite's ``LIKE``, PostgreSQL's ``ILIKE``)."""
    matches = " OR ".join(f"{column} {like} :pattern ESCAPE '\\'" for column in _SEARCHED)
    return f"(:search = '' OR {matches})"


def log_params(search: str) -> dict[str, str]:
    """The parameters of :func:`log_filter`: wildcards in ``search`` are plain text."""
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return {"search": search, "pattern": f"%{escaped}%"}


def link_row(link: Link) -> tuple[object, ...]:
    """The link's values in the order of ``LINK_COLUMNS``."""
    return (
        link.personal.uid,
        link.personal.recurrence_id or "",
        link.psa.kind.value,
        link.psa.id,
        link.origin.value,
        link.series_uid,
        link.company_id,
        link.contact_id,
        link.action_type_id,
        link.personal_version,
        link.personal_hash,
        link.psa_version,
        link.psa_hash,
    )


def link_from(d: Mapping[str, Any]) -> Link:
    """A link from its row (by column name)."""
    return Link(
        personal=ItemKey(d["personal_uid"], d["recurrence_id"] or None),
        psa=PsaRef(PsaKind(d["psa_kind"]), d["psa_id"]),
        origin=Origin(d["origin"]),
        series_uid=d["series_uid"],
        company_id=d["company_id"],
        contact_id=d["contact_id"],
        action_type_id=d["action_type_id"],
        personal_version=d["personal_version"],
        personal_hash=d["personal_hash"],
        psa_version=d["psa_version"],
        psa_hash=d["psa_hash"],
    )


def intent_from(d: Mapping[str, Any]) -> Intent:
    """An intent from its journal row (by column name)."""
    return Intent(
        intent_id=d["intent_id"],
        run_id=d["run_id"],
        action=d["action"],
        ref=d["ref"],
        psa_kind=None if d["psa_kind"] is None else PsaKind(d["psa_kind"]),
        fingerprint=json.loads(d["fingerprint"]),
        payload=json.loads(d["payload"]),
        state=d["state"],
        psa_id=d["psa_id"],
    )


def _audit_entry(row: tuple[Any, ...]) -> AuditEntry:
    at, run_id, action, ref, psa_kind, psa_id, outcome, *rest = row
    return AuditEntry(
        datetime.fromisoformat(at), run_id, action, ref, psa_kind, psa_id, Outcome(outcome), *rest
    )


def links_from_stamps(items: Iterable[PersonalItem], links: Iterable[Link]) -> list[Link]:
    """The links the stamps of ``items`` imply and ``links`` lack (a stamp seen twice implies none)."""
    known = list(links)
    keys, refs = {link.personal for link in known}, {link.psa for link in known}
    stamped = [(i, PsaRef(i.stamp.psa_kind, i.stamp.psa_id)) for i in items if i.stamp is not None]
    counts = Counter(ref for _, ref in stamped)
    return [
        _from_stamp(item, ref)
        for item, ref in stamped
        if counts[ref] == 1 and item.key not in keys and ref not in refs
    ]


def _from_stamp(item: PersonalItem, ref: PsaRef) -> Link:
    stamp = item.stamp
    return Link(
        personal=item.key,
        psa=ref,
        origin=Origin.SENT if stamp is None else stamp.origin,
        series_uid=item.series_uid,
        company_id=None if stamp is None else stamp.company_id,
        personal_version=item.version,
        personal_hash=personal_hash(item),
    )
