"""``calferry org``: the org service (one calferry for every technician, on PostgreSQL and workers).

- ``org demo``: a private PostgreSQL under CALFERRY_HOME (or ``--db``), the schema, and a worker, until
  Ctrl-C; the private cluster stops with it.
- ``org worker``: one worker on the org database; run any number, on any number of machines.
- ``org technician add`` / ``org technician enable|disable``, ``org settings set``: the admin's edits.
- ``org status``: technicians, settings, the Autotask budget, the poll's watermarks and the queue.

The org database comes from ``--db`` or ``CALFERRY_ORG_DB``; the PSA connection and its secret from this
machine's calferry config (``calferry config set psa.…``, ``calferry login``), as for one technician.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from sqlalchemy import make_url

from calferry import paths
from calferry.commands.common import JsonOption, console, emit_json, handles_errors
from calferry.errors import ConfigError

if TYPE_CHECKING:
    from calferry.org.store import OrgStore, Technician

org_app = typer.Typer(help="The org service: every technician of the MSP, on PostgreSQL and workers.")
technician_app = typer.Typer(help="The technicians the org service syncs.")
settings_app = typer.Typer(help="The org-wide settings (cycle, window, kinds, policy, budget share).")
org_app.add_typer(technician_app, name="technician")
org_app.add_typer(settings_app, name="settings")

DB_ENV = "CALFERRY_ORG_DB"
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", envvar=DB_ENV, help="The org database, e.g. postgresql://calferry@db-host/calferry."
    ),
]
DEMO_DATABASE = "calferry"


def register(app: typer.Typer) -> None:
    app.add_typer(org_app, name="org")


def _required(db: str | None) -> str:
    if not db:
        raise ConfigError(
            "no org database given",
            hint=f"set {DB_ENV} to its address (postgresql://user@host/database); `calferry org demo` runs its own",
        )
    return db


def shown_url(url: str) -> str:
    """The database address without its password, for people and logs."""
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def org_database(db: str | None) -> Iterator[str]:
    """``db`` as given, or a private cluster under CALFERRY_HOME started for the block and stopped after."""
    if db:
        yield db
        return
    from calferry.org.cluster import PrivateCluster

    with PrivateCluster(paths.data_dir("org") / "postgres") as cluster:
        yield cluster.create_database(DEMO_DATABASE)


@org_app.command("demo")
@handles_errors
def demo(
    db: DbOption = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Jobs the worker runs at once.")] = 2,
    json_output: JsonOption = False,
) -> None:
    """Start the org database (a private PostgreSQL unless --db) and a worker; Ctrl-C stops both."""
    from calferry.org.store import OrgStore
    from calferry.org.worker import run_worker, stopped_by_signals

    with stopped_by_signals(), org_database(db) as url:
        store = OrgStore.open(url)
        info = {"db": shown_url(url), "private_cluster": db is None, "technicians": len(store.technicians())}
        if json_output:
            emit_json(info)
        else:
            where = "a private PostgreSQL" if db is None else shown_url(url)
            console.print(f"Org database ready: {where} ({info['technicians']} technicians). Ctrl-C stops.")
        try:
            run_worker(store, concurrency)
        finally:
            store.close()


@org_app.command("worker")
@handles_errors
def worker(
    db: DbOption = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Jobs this worker runs at once.")] = 2,
    json_output: JsonOption = False,
) -> None:
    """Run one worker: the periodic cycle and the technicians' jobs, until SIGINT or SIGTERM."""
    from calferry.org.store import OrgStore
    from calferry.org.worker import run_worker

    store = OrgStore.open(_required(db))
    try:
        run_worker(store, concurrency)
    finally:
        store.close()


@org_app.command("status")
@handles_errors
def status(db: DbOption = None, json_output: JsonOption = False) -> None:
    """Technicians with their last and next run and errors, the settings, the budget, the queue."""
    from calferry.org.status import org_status
    from calferry.org.store import OrgStore

    url = _required(db)
    store = OrgStore.open(url)
    try:
        report = {"db": shown_url(url), **org_status(store)}
    finally:
        store.close()
    if json_output:
        emit_json(report)
        return
    _print_status(report)


def _print_status(report: dict[str, Any]) -> None:
    settings = report["settings"]
    budget = report["budget"]
    console.print(
        f"Every {settings['cycle_minutes']} min, {settings['past_days']} days back to {settings['future_days']} "
        f"ahead. Autotask this hour: {budget['requests_this_hour']} of calferry's "
        f"{budget['capacity']:.0f} ({settings['budget_share']:.0%} of {budget['threshold']})."
    )
    for tech in report["technicians"]:
        state = "on" if tech["enabled"] else f"off ({tech['disabled_reason'] or 'disabled'})"
        last = tech["last_run"] or "never"
        error = f" - {tech['last_error']}" if tech["last_error"] else ""
        console.print(f"  {tech['email']}: {state}, last run {last}{error}", highlight=False, markup=False)
    if not report["technicians"]:
        console.print("  No technicians yet: add them with `calferry org technician add`.")


@technician_app.command("add")
@handles_errors
def technician_add(
    resource_id: Annotated[int, typer.Argument(help="The technician's PSA resource id.")],
    email: Annotated[str, typer.Argument(help="The technician's e-mail address (their mailbox).")],
    calendar: Annotated[str, typer.Argument(help="Their CalDAV calendar URL, or their mailbox for Outlook.")],
    backend: Annotated[str, typer.Option(help="caldav or graph.")] = "caldav",
    name: Annotated[str, typer.Option(help="Their name, as the admin page shows it.")] = "",
    username: Annotated[str, typer.Option(help="CalDAV user name, when the server wants one.")] = "",
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add a technician (or update the one with this resource id)."""
    with _store(db) as store:
        tech = store.add_technician(resource_id, email, backend, calendar, name=name, username=username)
    _show_technician(tech, " is synced from the next cycle on", json_output)


@technician_app.command("disable")
@handles_errors
def technician_disable(
    technician: Annotated[int, typer.Argument(help="The technician's number (see org status).")],
    reason: Annotated[str, typer.Option(help="Why, as the admin page shows it.")] = "disabled by the admin",
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Stop syncing one technician; nothing in their calendar or the PSA is deleted."""
    _set_enabled(db, technician, False, reason, json_output)


@technician_app.command("enable")
@handles_errors
def technician_enable(
    technician: Annotated[int, typer.Argument(help="The technician's number (see org status).")],
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Sync one technician again from the next cycle."""
    _set_enabled(db, technician, True, "", json_output)


def _set_enabled(db: str | None, technician: int, enabled: bool, reason: str, json_output: bool) -> None:
    with _store(db) as store:
        store.technician(technician)  # NotFound for a number nobody has
        store.set_enabled(technician, enabled, reason)
        tech = store.technician(technician)
    _show_technician(tech, ": synced" if enabled else ": no longer synced", json_output)


@contextmanager
def _store(db: str | None) -> Iterator[OrgStore]:
    """The org database of ``--db`` (or the environment), closed when the command is done with it."""
    from calferry.org.store import OrgStore

    store = OrgStore.open(_required(db))
    try:
        yield store
    finally:
        store.close()


def _show_technician(tech: Technician, said: str, json_output: bool) -> None:
    """The technician as changed: their row for ``--json``, else their address and what ``said``."""
    if json_output:
        emit_json(tech.to_json())
    else:
        console.print(f"{tech.email}{said}.", highlight=False)


@settings_app.command("set")
@handles_errors
def settings_set(
    key: Annotated[
        str, typer.Argument(help="cycle_minutes, past_days, future_days, kinds, policy or budget_share.")
    ],
    value: Annotated[str, typer.Argument(help="The new value.")],
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Change one org-wide setting; workers use it from their next cycle."""
    with _store(db) as store:
        updated = store.set_setting(key, value)
    if json_output:
        emit_json(updated.to_json())
    else:
        value = updated.to_json()[key]
        shown = ", ".join(value) if isinstance(value, list) else value
        console.print(f"{key} is now {shown}.", highlight=False)
