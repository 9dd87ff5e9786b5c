"""Org service fixtures: a fresh PostgreSQL database per test on the session's private cluster."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest

from calferry.org.cluster import PrivateCluster
from calferry.org.store import OrgStore

_numbers = itertools.count()


@pytest.fixture
def org_db_url(postgres_cluster: PrivateCluster) -> str:
    """The URL of an empty database of its own."""
    return postgres_cluster.create_database(f"org_{next(_numbers)}")


@pytest.fixture
def org_store(org_db_url: str) -> Iterator[OrgStore]:
    """A migrated org store on its own database."""
    store = OrgStore.open(org_db_url)
    yield store
    store.close()


@pytest.fixture(autouse=True)
def _no_borrowed_event_loop() -> Iterator[None]:
    """Org tests run procrastinate's own event loops, as a worker process does. A Chromium session of the
    browser tests, alive in the same test process, keeps Playwright's loop marked as running in this
    thread; it is set aside for the test and put back after."""
    borrowed = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    yield
    asyncio.events._set_running_loop(borrowed)
