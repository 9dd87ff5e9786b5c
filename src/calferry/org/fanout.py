"""One technician's run in the org service: the engine's Get for their own calendar.

The run is the one-technician engine unchanged (``Service.get``: plan_get, the Applier, guards,
journal, conflicts, audit) with the technician's settings made from the org settings and their row:
their calendar, their PSA resource, integration enabled (R1 is the row's ``enabled``). Its Autotask
requests go through the org's shared gate, so they count against the shared budget.

First step, and its limit: each technician's links, journal and audit live in a SQLite link store under
``org/technicians/<id>/`` in the worker's CALFERRY_HOME (the link store as it is, with its run lock),
so one machine runs the workers. The PostgreSQL tables for them (``links``, ``journal``, ``audit``,
``technician_state``) are in the schema for the step that lets workers on several machines share them.
Their calendar is opened by :mod:`calferry.org.calendars`: their Outlook mailbox through the org's
Graph app, or their CalDAV calendar with their own credentials. A technician whose resource the PSA no
longer has is disabled with a message; nothing of theirs is deleted.
"""

from __future__ import annotations

import logging
from contextlib import closing
from datetime import timedelta
from pathlib import Path

from calferry import paths
from calferry.config import Settings, load_settings
from calferry.errors import LookupFailed, UserError
from calferry.links import LinkStore
from calferry.model import Resource
from calferry.org.budget import BudgetShort
from calferry.org.jobs import TRANSIENT, OrgRuntime
from calferry.org.store import OrgSettings, Technician
from calferry.psa.gateway import AutotaskPsa

__all__ = ["sync_technician", "technician_settings", "technician_store"]

log = logging.getLogger("calferry.org")


def technician_settings(base: Settings, org: OrgSettings, technician: Technician) -> Settings:
    """This machine's PSA connection with the technician's calendar, resource and the org's choices."""
    data = base.to_dict()
    data["calendar"].update(
        enabled=True,
        get_past_days=org.past_days,
        get_future_days=org.future_days,
        get_kinds=list(org.kinds),
        conflict_policy=org.policy,
    )
    data["personal"].update(backend=technician.backend, url=technician.calendar, username=technician.username)
    data["psa"]["resource"] = str(technician.resource_id)
    return Settings.from_dict(data, source=f"the settings of {technician.email}")


def technician_store(technician: Technician) -> Path:
    return paths.data_dir("org") / "technicians" / str(technician.id) / "links.sqlite3"


def sync_technician(runtime: OrgRuntime, technician: Technician) -> None:
    """Run one technician; their error is kept on their row, a transient one is also retried."""
    now = runtime.clock()
    org = runtime.store.settings()
    next_run = now + timedelta(minutes=org.cycle_minutes)
    try:
        _get(runtime, technician, org)
    except BudgetShort:
        raise  # waits for the budget: not an error of the technician's
    except TRANSIENT as error:
        runtime.store.record_run(technician.id, now, next_run, str(error))
        raise
    except UserError as error:
        log.info("technician %s: %s", technician.id, error)
        runtime.store.record_run(technician.id, now, next_run, str(error))
        return
    runtime.store.record_run(technician.id, now, next_run)


def _still_in_psa(runtime: OrgRuntime, technician: Technician, psa: AutotaskPsa) -> Resource:
    """A technician whose resource the PSA no longer has is disabled, with why; nothing is deleted."""
    try:
        return psa.me()
    except LookupFailed as error:
        runtime.store.set_enabled(technician.id, False, f"no longer in the PSA ({error})")
        raise


def _get(runtime: OrgRuntime, technician: Technician, org: OrgSettings) -> None:
    from calferry.org.cached_psa import CachedPsa
    from calferry.org.calendars import open_calendar
    from calferry.service import Service

    settings = technician_settings(load_settings(), org, technician)
    store = LinkStore.open(technician_store(technician))
    try:
        with store.lock():
            psa = CachedPsa(runtime.psa_client(runtime.gate()), technician.resource_id, runtime.store)
            try:
                me = _still_in_psa(runtime, technician, psa)
                with closing(open_calendar(org, technician, me.time_zone)) as personal:
                    Service(settings, personal, psa, store, now=runtime.clock).get()
            finally:
                psa.close()
    finally:
        store.close()
