"""One technician's run in the org service: the engine's Get for their own calendar.

The run is the one-technician engine unchanged (``Service.get``: plan_get, the Applier, guards,
journal, conflicts, audit) with the technician's settings made from the org settings and their row:
their calendar, their PSA resource, integration enabled (R1 is the row's ``enabled``). Its Autotask
requests go through the org's shared gate, so they count against the shared budget. After the Get, the
items the technician gave the send category are sent (:mod:`calferry.org.category_send`, R3).

Each technician's links, journal, audit log and run state are their rows in the org database
(:class:`calferry.org.pg_links.PgLinkStore`), so any worker on any machine runs any technician and the
journal's recovery finds what a worker killed half-way left; the run holds the technician's advisory lock
(a second run of them, from anywhere, is refused). Their calendar is opened by
:mod:`calferry.org.calendars`: their Outlook mailbox through the org's Graph app, or their CalDAV calendar
with their own credentials. A technician whose resource the PSA no longer has is disabled with a message;
nothing of theirs is deleted.
"""

from __future__ import annotations

import logging
from contextlib import closing
from datetime import timedelta

from calferry.config import Settings, load_settings
from calferry.errors import LockBusy, LookupFailed, UserError
from calferry.model import Resource
from calferry.org.budget import BudgetShort
from calferry.org.jobs import TRANSIENT, OrgRuntime
from calferry.org.pg_links import PgLinkStore
from calferry.org.store import OrgSettings, Technician
from calferry.psa.gateway import AutotaskPsa

__all__ = ["sync_technician", "technician_settings"]

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


def sync_technician(runtime: OrgRuntime, technician: Technician) -> None:
    """Run one technician; their error is kept on their row, a transient one is also retried."""
    now = runtime.clock()
    org = runtime.store.settings()
    next_run = now + timedelta(minutes=org.cycle_minutes)
    try:
        _get(runtime, technician, org)
    except BudgetShort:
        raise  # waits for the budget: not an error of the technician's
    except LockBusy:
        log.info("technician %s: another run of theirs is under way; it records itself", technician.id)
        return
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
    from calferry.org.category_send import send_marked
    from calferry.service import Service

    settings = technician_settings(load_settings(), org, technician)
    store = PgLinkStore(runtime.store.engine, technician.id)
    try:
        with store.lock():
            psa = CachedPsa(runtime.psa_client(runtime.gate()), technician.resource_id, runtime.store)
            try:
                me = _still_in_psa(runtime, technician, psa)
                with closing(open_calendar(org, technician, me.time_zone)) as personal:
                    service = Service(settings, personal, psa, store, now=runtime.clock)
                    service.get()
                    send_marked(runtime.store, technician, org, service)
            finally:
                psa.close()
    finally:
        store.close()
