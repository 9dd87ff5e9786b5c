"""The org store on real PostgreSQL: forward-only migrations, technicians, settings, cache, watermarks."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from calferry.errors import ConfigError, InputError
from calferry.model import PsaKind, Window
from calferry.org import schema
from calferry.org.store import CachedItem, OrgSettings, OrgStore, engine_for

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_an_empty_database_is_migrated_once_with_the_job_queue_tables(org_db_url: str) -> None:
    engine = engine_for(org_db_url)
    assert schema.current_version(engine) == 0
    assert schema.migrate(engine) == len(schema.MIGRATIONS)
    assert schema.migrate(engine) == len(schema.MIGRATIONS)  # nothing left to do, nothing applied twice
    with engine.connect() as conn:
        tables = set(
            conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
        )
    assert {
        "technicians",
        "links",
        "journal",
        "audit",
        "psa_cache",
        "poll_watermarks",
        "budget",
        "settings",
    } <= tables
    assert "procrastinate_jobs" in tables
    assert schema.current_version(engine) == len(schema.MIGRATIONS)
    engine.dispose()


def test_workers_starting_together_migrate_the_database_once(org_db_url: str) -> None:
    engines = [engine_for(org_db_url) for _ in range(3)]
    errors: list[BaseException] = []

    def start(engine: object) -> None:
        try:
            schema.migrate(engine)  # type: ignore[arg-type]
        except BaseException as exc:  # pragma: no cover - the assertion shows it
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert schema.current_version(engines[0]) == len(schema.MIGRATIONS)
    for engine in engines:
        engine.dispose()


def test_a_database_newer_than_this_calferry_is_refused_unchanged(org_store: OrgStore) -> None:
    with org_store.engine.begin() as conn:
        conn.execute(text("UPDATE schema_version SET version = 99"))
    with pytest.raises(ConfigError, match="newer than this calferry knows"):
        schema.migrate(org_store.engine)
    assert schema.current_version(org_store.engine) == 99


def test_only_postgresql_is_accepted() -> None:
    with pytest.raises(ConfigError, match="needs a PostgreSQL database"):
        engine_for("sqlite:///x.db")


def test_technicians_are_added_updated_by_resource_and_disabled_with_a_reason(org_store: OrgStore) -> None:
    alice = org_store.add_technician(
        29682885, "alice@example.com", "caldav", "http://cal/alice/", name="Alice"
    )
    org_store.add_technician(29682885, "alice@example.com", "caldav", "http://cal/alice2/", name="Alice")
    bob = org_store.add_technician(29682886, "bob@example.com", "graph", "bob@example.com")
    assert [t.calendar for t in org_store.technicians()] == ["http://cal/alice2/", "bob@example.com"]
    org_store.set_enabled(bob.id, False, "no longer in the PSA")
    assert [t.id for t in org_store.technicians(enabled_only=True)] == [alice.id]
    assert org_store.technician(bob.id).disabled_reason == "no longer in the PSA"
    assert [t.id for t in org_store.technicians_for([29682885, 29682886, 1])] == [alice.id]
    org_store.record_run(alice.id, T0, T0 + timedelta(minutes=5), "calendar unreachable")
    seen = org_store.technician(alice.id)
    assert (seen.last_run, seen.next_run, seen.last_error) == (
        T0,
        T0 + timedelta(minutes=5),
        "calendar unreachable",
    )


def test_a_second_technician_with_the_same_email_in_other_case_is_refused(org_store: OrgStore) -> None:
    from sqlalchemy.exc import IntegrityError

    org_store.add_technician(1, "Alice@Example.com", "caldav", "http://cal/a/")
    with pytest.raises(IntegrityError):
        org_store.add_technician(2, "alice@example.com", "caldav", "http://cal/b/")


@pytest.mark.parametrize(
    ("backend", "email"), [("ics", "a@example.com"), ("caldav", "not-an-address")], ids=["backend", "email"]
)
def test_a_technician_with_bad_details_is_refused(org_store: OrgStore, backend: str, email: str) -> None:
    with pytest.raises(InputError):
        org_store.add_technician(1, email, backend, "http://cal/a/")
    assert org_store.technicians() == []


def test_settings_start_at_the_defaults_and_keep_what_the_admin_sets(org_store: OrgStore) -> None:
    assert org_store.settings() == OrgSettings()
    assert org_store.settings().budget_share == 0.25
    org_store.set_setting("cycle_minutes", "10")
    org_store.set_setting("kinds", "appointment,todo")
    org_store.set_setting("budget_share", 0.4)
    current = org_store.settings()
    assert (current.cycle_minutes, current.kinds, current.budget_share) == (10, ("appointment", "todo"), 0.4)
    with pytest.raises(InputError, match=r"between 0\.01 and 1"):
        org_store.set_setting("budget_share", "3")
    with pytest.raises(InputError, match="no org setting"):
        org_store.set_setting("drop table", "1")
    assert org_store.settings() == current


@settings(max_examples=60, deadline=None)
@given(
    key=st.sampled_from(["cycle_minutes", "past_days", "kinds", "policy", "budget_share"]),
    raw=st.one_of(
        st.text(max_size=30),
        st.integers(),
        st.floats(allow_nan=True),
        st.lists(st.text(max_size=5), max_size=4),
    ),
)
def test_hostile_setting_values_are_refused_with_an_input_error_or_kept_valid(key: str, raw: object) -> None:
    try:
        updated = OrgSettings().with_value(key, raw)
    except InputError:
        return
    assert (
        OrgSettings().with_value(key, updated.to_json()[key]) == updated
    )  # what is kept reads back the same


def test_the_watermark_only_moves_forward(org_store: OrgStore) -> None:
    assert org_store.watermark(PsaKind.APPOINTMENT) is None
    org_store.set_watermark(PsaKind.APPOINTMENT, T0)
    org_store.set_watermark(PsaKind.APPOINTMENT, T0 - timedelta(hours=1))
    assert org_store.watermark(PsaKind.APPOINTMENT) == T0
    assert org_store.watermark(PsaKind.TODO) is None


def test_the_cache_counts_items_in_the_window_once_whatever_their_resources(org_store: OrgStore) -> None:
    def item(psa_id: int, resource: int, day: int) -> CachedItem:
        start = T0 + timedelta(days=day)
        return CachedItem(PsaKind.SERVICE_CALL, psa_id, resource, T0, start, start + timedelta(hours=1), "h")

    org_store.replace_cached(
        PsaKind.SERVICE_CALL,
        {10: [item(10, 1, 0), item(10, 2, 0)], 11: [item(11, 1, 1)], 12: [item(12, 1, 40)]},
    )
    window = Window(T0 - timedelta(days=1), T0 + timedelta(days=7))
    assert org_store.cached_count(PsaKind.SERVICE_CALL, window) == 2
    assert org_store.cached_count(PsaKind.SERVICE_CALL, window, 11, None) == 1
    assert org_store.cached_ids(PsaKind.SERVICE_CALL, window, 0, 11) == {10: {1, 2}}
    assert org_store.cached_count(PsaKind.APPOINTMENT, window) == 0
    org_store.replace_cached(PsaKind.SERVICE_CALL, {10: [item(10, 2, 0)], 11: []})
    assert org_store.cached_ids(PsaKind.SERVICE_CALL, window, 0, None) == {10: {2}}
    assert [c.resource_id for c in org_store.cached(PsaKind.SERVICE_CALL, [10])[10]] == [2]
