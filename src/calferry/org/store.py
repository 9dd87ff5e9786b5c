"""The org store: technicians, settings, the PSA cache and the poll watermarks, in PostgreSQL.

One database serves every worker on every machine (SQLAlchemy 2 over psycopg 3). The schema lives in
:mod:`calferry.org.schema`; this module is the queries. Per-technician links, journal and audit rows
have the link store's shapes plus a ``technician_id``; the shared Autotask budget is
:mod:`calferry.org.budget`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, text

from calferry.config import ALL_KINDS, MAX_DAYS, to_policy
from calferry.errors import ConfigError, InputError, NotFound
from calferry.model import Policy, PsaKind, Window
from calferry.org import schema
from calferry.org.personal_settings import GRAPH_URL, PERSONAL_CHECKS
from calferry.org.refs import jsonb
from calferry.plan_categories import CategoryNames

__all__ = ["CachedItem", "OrgSettings", "OrgStore", "Technician", "engine_for", "libpq_url"]

ORG_BACKENDS = ("caldav", "graph")


def engine_for(url: str) -> Engine:
    """An engine on ``url``; a plain ``postgresql://`` URL is read as psycopg 3 (the driver calferry ships)."""
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if not url.startswith("postgresql+psycopg://"):
        raise ConfigError(
            "the org service needs a PostgreSQL database",
            hint="give an address such as postgresql://user@host/calferry",
        )
    return create_engine(url, pool_pre_ping=True)


def libpq_url(engine: Engine) -> str:
    """The engine's database as a libpq URL (procrastinate's connector takes that, not SQLAlchemy's)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class OrgSettings:
    """What the admin sets once for everyone (the technician page's Calendar tab, org-wide)."""

    cycle_minutes: int = 5
    past_days: int = 7
    future_days: int = 30
    kinds: tuple[str, ...] = ALL_KINDS
    policy: Policy = Policy.KEEP_PERSONAL
    budget_share: float = 0.25
    send_category: str = CategoryNames.send
    sent_category: str = CategoryNames.sent
    error_category: str = CategoryNames.error

    @property
    def category_names(self) -> CategoryNames:
        """The category send's three names (R3: the send category is the technician's per-item act)."""
        return CategoryNames(self.send_category, self.sent_category, self.error_category)

    # technicians' own calendars (calferry.org.personal_settings): the Graph app, the secret commands
    graph_tenant: str = ""
    graph_client_id: str = ""
    graph_secret_command: str = ""
    graph_certificate: str = ""
    graph_thumbprint: str = ""
    graph_url: str = GRAPH_URL
    graph_login_url: str = ""
    caldav_secret_command: str = ""

    def poll_window(self, now: datetime) -> Window:
        """The central poll's window: a day wider on each side than any technician's (theirs are whole
        days in their own zone, which may start up to a day before or after UTC's)."""
        return Window.around(now, self.past_days + 1, self.future_days + 1)

    @property
    def psa_kinds(self) -> tuple[PsaKind, ...]:
        return tuple(PsaKind(k) for k in self.kinds)

    def to_json(self) -> dict[str, Any]:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}

    def with_value(self, key: str, raw: Any) -> OrgSettings:
        """A copy with ``key`` set from ``raw`` (text or JSON value); ``InputError`` says what is wrong."""
        check = _CHECKS.get(key)
        if check is None:
            raise InputError(f"no org setting is called {key!r}", hint="settings: " + ", ".join(_CHECKS))
        updated = replace(self, **{key: check(raw)})
        names = {
            n.strip().casefold()
            for n in (updated.send_category, updated.sent_category, updated.error_category)
        }
        if len(names) < 3:
            raise InputError("the send, sent and error categories must be three different names")
        return updated


def _whole(low: int, high: int, what: str) -> Any:
    def check(raw: Any) -> int:
        try:
            value = int(raw)
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"{what} must be a whole number, not {raw!r}") from None
        if not low <= value <= high:
            raise InputError(f"{what} must be between {low} and {high}")
        return value

    return check


def _kinds(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, str | list | tuple):
        raise InputError(f"kinds must be a list such as {','.join(ALL_KINDS)}")
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    kinds = tuple(dict.fromkeys(str(k).strip() for k in items if str(k).strip()))
    unknown = [k for k in kinds if k not in ALL_KINDS]
    if unknown or not kinds:
        raise InputError(f"kinds must be some of {', '.join(ALL_KINDS)}")
    return kinds


def _share(raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InputError(f"the budget share must be a fraction such as 0.25, not {raw!r}") from None
    if not 0.01 <= value <= 1.0:
        raise InputError("the budget share must be between 0.01 and 1 (1 is the whole hourly limit)")
    return value


def _category(raw: Any) -> str:
    name = str(raw).strip() if isinstance(raw, str) else ""
    if not name or len(name) > 255 or "," in name or any(ord(c) < 32 for c in name):
        raise InputError("a category name is 1 to 255 characters, without commas or line breaks")
    return name


_CHECKS = {
    "cycle_minutes": _whole(1, 24 * 60, "the cycle (minutes)"),
    "past_days": _whole(0, MAX_DAYS, "the days back"),
    "future_days": _whole(0, MAX_DAYS, "the days ahead"),
    "kinds": _kinds,
    "policy": to_policy,
    "budget_share": _share,
    "send_category": _category,
    "sent_category": _category,
    "error_category": _category,
    **PERSONAL_CHECKS,
}


@dataclass(frozen=True)
class Technician:
    """One technician the org service syncs: their PSA resource and their own calendar."""

    id: int
    resource_id: int
    email: str
    backend: str
    calendar: str  # the CalDAV calendar URL, or the Graph mailbox
    name: str = ""
    username: str = ""
    enabled: bool = True
    disabled_reason: str = ""
    last_run: datetime | None = None
    next_run: datetime | None = None
    last_error: str = ""
    send_errors: list[dict[str, Any]] = field(default_factory=list)
    """Items the category send could not send, and why (:class:`calferry.plan_categories.SendError`)."""

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("last_run", "next_run"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


@dataclass(frozen=True)
class CachedItem:
    """One PSA item as the central poll last saw it, once per resource it belongs to."""

    kind: PsaKind
    psa_id: int
    resource_id: int
    updated: datetime | None
    start: datetime
    end: datetime
    hash: str = ""
    row: Mapping[str, Any] = field(default_factory=dict)


class OrgStore:
    """The queries of the org database; thread-safe (one pooled engine)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> OrgStore:
        """Connect and bring the schema up to date."""
        store = cls(engine_for(url))
        schema.migrate(store.engine)
        return store

    def close(self) -> None:
        self.engine.dispose()

    # --- technicians -------------------------------------------------------------------------

    def add_technician(
        self, resource_id: int, email: str, backend: str, calendar: str, *, name: str = "", username: str = ""
    ) -> Technician:
        if backend not in ORG_BACKENDS:
            raise InputError(f"a technician's calendar is one of {', '.join(ORG_BACKENDS)}, not {backend!r}")
        if "@" not in email:
            raise InputError(f"{email!r} is not an e-mail address")
        with self.engine.begin() as conn:
            row = conn.execute(
                text(
                    "INSERT INTO technicians (resource_id, email, name, backend, calendar, username) "
                    "VALUES (:r, :e, :n, :b, :c, :u) ON CONFLICT (resource_id) DO UPDATE SET email = :e, "
                    "name = :n, backend = :b, calendar = :c, username = :u RETURNING *"
                ),
                {"r": resource_id, "e": email, "n": name, "b": backend, "c": calendar, "u": username},
            ).mappings()
            return _technician(next(iter(row)))

    def technicians(self, *, enabled_only: bool = False) -> list[Technician]:
        where = " WHERE enabled" if enabled_only else ""
        with self.engine.connect() as conn:
            rows = conn.execute(text(f"SELECT * FROM technicians{where} ORDER BY id")).mappings()
            return [_technician(r) for r in rows]

    def technician(self, technician_id: int) -> Technician:
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT * FROM technicians WHERE id = :i"), {"i": technician_id})
            found = row.mappings().first()
        if found is None:
            raise NotFound(f"no technician has the number {technician_id}")
        return _technician(found)

    def set_enabled(self, technician_id: int, enabled: bool, reason: str = "") -> None:
        """R1 per technician: a disabled technician's calendar is left alone, nothing deleted."""
        with self.engine.begin() as conn:
            conn.execute(
                text("UPDATE technicians SET enabled = :e, disabled_reason = :r WHERE id = :i"),
                {"e": enabled, "r": "" if enabled else reason, "i": technician_id},
            )

    def record_run(self, technician_id: int, at: datetime, next_run: datetime, error: str = "") -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text("UPDATE technicians SET last_run = :at, next_run = :n, last_error = :e WHERE id = :i"),
                {"at": at, "n": next_run, "e": error, "i": technician_id},
            )

    def technicians_for(self, resource_ids: Iterable[int]) -> list[Technician]:
        """The enabled technicians of these PSA resources."""
        ids = sorted(set(resource_ids))
        if not ids:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT * FROM technicians WHERE enabled AND resource_id = ANY(:ids) ORDER BY id"),
                {"ids": ids},
            ).mappings()
            return [_technician(r) for r in rows]

    # --- settings ----------------------------------------------------------------------------

    def settings(self) -> OrgSettings:
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT key, value FROM settings")).all()
        current = OrgSettings()
        for key, value in rows:
            if key in _CHECKS:
                current = current.with_value(key, value)
        return current

    def set_setting(self, key: str, raw: Any) -> OrgSettings:
        updated = self.settings().with_value(key, raw)
        value = updated.to_json()[key]
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO settings (key, value) VALUES (:k, CAST(:v AS JSONB)) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
                ),
                {"k": key, "v": json.dumps(value)},
            )
        return updated

    # --- the PSA cache and the poll watermarks -----------------------------------------------

    def watermark(self, kind: PsaKind) -> datetime | None:
        """The newest change marker the poll has taken in for ``kind``."""
        return self._poll_row(kind)[0]

    def window_end(self, kind: PsaKind) -> datetime | None:
        """Where the window ended at the last poll (the days since entered the window unchanged)."""
        return self._poll_row(kind)[1]

    def poll_due(self, cycle: timedelta) -> bool:
        """Whether ``cycle`` has passed since the central poll last finished, by the database's clock
        (the one clock every worker shares)."""
        with self.engine.connect() as conn:
            last_ok = conn.execute(
                text("SELECT max(polled_at) > now() - :cycle FROM poll_watermarks"), {"cycle": cycle}
            ).scalar()
        return not last_ok

    def _poll_row(self, kind: PsaKind) -> tuple[datetime | None, datetime | None]:
        with self.engine.connect() as conn:
            row = conn.execute(
                text("SELECT updated, window_end FROM poll_watermarks WHERE kind = :k"), {"k": kind.value}
            ).first()
        return (row[0], row[1]) if row else (None, None)

    def set_watermark(
        self, kind: PsaKind, updated: datetime | None, window_end: datetime | None = None
    ) -> None:
        """After a poll: the marker moves forward only (a poll that saw nothing newer leaves it)."""
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO poll_watermarks (kind, updated, window_end) VALUES (:k, :u, :w) "
                    "ON CONFLICT (kind) DO UPDATE SET updated = GREATEST(poll_watermarks.updated, "
                    "EXCLUDED.updated), window_end = coalesce(EXCLUDED.window_end, poll_watermarks.window_end), "
                    "polled_at = now()"
                ),
                {"k": kind.value, "u": updated, "w": window_end},
            )

    def prune_cache(self, kind: PsaKind, window: Window) -> int:
        """Forget items the window has moved past; how many rows went."""
        with self.engine.begin() as conn:
            result = conn.execute(
                text("DELETE FROM psa_cache WHERE kind = :k AND end_at <= :s"),
                {"k": kind.value, "s": window.start},
            )
        return int(result.rowcount)

    def cached(self, kind: PsaKind, ids: Iterable[int]) -> dict[int, list[CachedItem]]:
        """The cache's rows of these items, by id."""
        wanted = sorted(set(ids))
        out: dict[int, list[CachedItem]] = {i: [] for i in wanted}
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT * FROM psa_cache WHERE kind = :k AND psa_id = ANY(:ids)"),
                {"k": kind.value, "ids": wanted},
            ).mappings()
            for row in rows:
                out[row["psa_id"]].append(_cached(row))
        return out

    def replace_cached(self, kind: PsaKind, items: Mapping[int, list[CachedItem]]) -> None:
        """Each id's rows become exactly ``items[id]`` (no rows: the item left the cache)."""
        with self.engine.begin() as conn:
            conn.execute(
                text("DELETE FROM psa_cache WHERE kind = :k AND psa_id = ANY(:ids)"),
                {"k": kind.value, "ids": sorted(items)},
            )
            rows = [_cache_params(item) for group in items.values() for item in group]
            if rows:
                conn.execute(
                    text(
                        "INSERT INTO psa_cache (kind, psa_id, resource_id, updated, start_at, end_at, hash, row) "
                        "VALUES (:kind, :psa_id, :resource_id, :updated, :start_at, :end_at, :hash, "
                        "CAST(:row AS JSONB))"
                    ),
                    rows,
                )

    def cached_for(self, resource_id: int, kinds: Iterable[PsaKind], window: Window) -> list[CachedItem]:
        """One resource's cached items of ``kinds`` meeting ``window``, by kind and id."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT * FROM psa_cache WHERE resource_id = :r AND kind = ANY(:k) AND start_at < :e "
                    "AND end_at > :s ORDER BY kind, psa_id"
                ),
                {"r": resource_id, "k": [k.value for k in kinds], "s": window.start, "e": window.end},
            ).mappings()
            return [_cached(r) for r in rows]

    def cached_count(self, kind: PsaKind, window: Window, low: int = 0, high: int | None = None) -> int:
        """Distinct items of ``kind`` the cache holds overlapping ``window`` with ``low <= id < high``."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(DISTINCT psa_id) FROM psa_cache WHERE kind = :k AND start_at < :e "
                        "AND end_at > :s AND psa_id >= :lo AND (CAST(:hi AS BIGINT) IS NULL OR psa_id < :hi)"
                    ),
                    {"k": kind.value, "s": window.start, "e": window.end, "lo": low, "hi": high},
                ).scalar_one()
            )

    def cached_ids(self, kind: PsaKind, window: Window, low: int, high: int | None) -> dict[int, set[int]]:
        """Items in ``window`` and ``[low, high)``: id -> the resources they belong to."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT psa_id, resource_id FROM psa_cache WHERE kind = :k AND start_at < :e "
                    "AND end_at > :s AND psa_id >= :lo AND (CAST(:hi AS BIGINT) IS NULL OR psa_id < :hi)"
                ),
                {"k": kind.value, "s": window.start, "e": window.end, "lo": low, "hi": high},
            ).all()
        out: dict[int, set[int]] = {}
        for psa_id, resource in rows:
            out.setdefault(psa_id, set()).add(resource)
        return out


def _technician(row: Mapping[Any, Any]) -> Technician:
    names = {f.name for f in fields(Technician)}
    return Technician(**{k: v for k, v in row.items() if k in names})


def _cached(row: Mapping[Any, Any]) -> CachedItem:
    return CachedItem(
        PsaKind(row["kind"]), row["psa_id"], row["resource_id"], row["updated"], row["start_at"], row["end_at"],
        row["hash"], dict(row["row"]),
    )  # fmt: skip


def _cache_params(item: CachedItem) -> dict[str, Any]:
    return {
        "kind": item.kind.value,
        "psa_id": item.psa_id,
        "resource_id": item.resource_id,
        "updated": item.updated,
        "start_at": item.start,
        "end_at": item.end,
        "hash": item.hash,
        "row": jsonb(item.row),
    }
