"""``calferry org``: the org service (one calferry for every technician, on PostgreSQL and workers).

- ``org demo``: a private PostgreSQL (or ``--db``), a PSA with demo technicians, a calendar each, the admin
  page and a worker, until Ctrl-C; everything stops with it (:mod:`calferry.commands.org_demo`).
- ``org worker``: one worker on the org database; run any number, on any number of machines.
- ``org technician add`` / ``org technician enable|disable``, ``org settings set``: the admin's edits.
- ``org status``: technicians, settings, the Autotask budget, the poll's watermarks and the queue;
  ``--technician ID`` one technician's conflicts, errors and audit log (the admin page's twins).
- ``org init`` sets the admin page's password; ``org web`` serves the admin page.
- ``org graph-secret``: the Graph app's client secret into this worker's OS keyring (docs/org-outlook.md).

The org database comes from ``--db`` or ``CALFERRY_ORG_DB``; the PSA connection and its secret from this
machine's calferry config (``calferry config set psa.…``, ``calferry login``), as for one technician.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
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
    home: Annotated[
        Path | None,
        typer.Option(
            help="State folder of the demo (default: CALFERRY_HOME if set, else ./.calferry-org-demo)."
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Start the org database, a PSA with demo technicians, their calendars and a worker; Ctrl-C stops all."""
    from contextlib import ExitStack

    from calferry.commands.org_demo import announce, demo_home, first_cycle_now, start_parts
    from calferry.org.store import OrgStore
    from calferry.org.worker import run_worker, stopped_by_signals

    demo_home(home)
    with stopped_by_signals(), org_database(db) as url, ExitStack() as parts:
        store = OrgStore.open(url)
        parts.callback(store.close)
        announce(
            {"db": shown_url(url), "private_cluster": db is None, **start_parts(parts, store)}, json_output
        )
        first_cycle_now(store)
        run_worker(store, concurrency)
    if not json_output:
        console.print("calferry org demo stopped.")


@org_app.command("worker")
@handles_errors
def worker(
    db: DbOption = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Jobs this worker runs at once.")] = 2,
    json_output: JsonOption = False,
) -> None:
    """Run one worker: the periodic cycle and the technicians' jobs, until SIGINT or SIGTERM."""
    from calferry.org.worker import run_worker

    with _store(db) as store:
        run_worker(store, concurrency)


@org_app.command("status")
@handles_errors
def status(
    db: DbOption = None,
    technician: Annotated[
        int | None, typer.Option(help="One technician's number: their conflicts, errors and audit log.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Audit entries per page.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Newest audit entries to skip.")] = 0,
    json_output: JsonOption = False,
) -> None:
    """Technicians with their last and next run and errors, the settings, the budget, the queue."""
    from calferry.org.status import org_status, technician_status
    from calferry.org.store import OrgStore

    url = _required(db)
    store = OrgStore.open(url)
    try:
        if technician is not None:
            report = technician_status(store, technician, limit, offset)
        else:
            report = {"db": shown_url(url), **org_status(store)}
    finally:
        store.close()
    if json_output:
        emit_json(report)
    elif technician is not None:
        _print_technician(report)
    else:
        _print_status(report)


def _print_technician(report: dict[str, Any]) -> None:
    tech = report["technician"]
    console.print(
        f"{tech['email']}: {tech['items_linked']} items linked, {len(report['conflicts'])} conflicts, "
        f"{len(report['errors'])} errors in the last 24 hours.",
        highlight=False, markup=False,
    )  # fmt: skip
    for entry in report["audit"]:
        console.print(
            f"  {entry['at']}  {entry['action']} {entry['outcome']}  {entry['subject'] or entry['ref']}"
            f"{'  ' + entry['message'] if entry['message'] else ''}",
            highlight=False, markup=False,
        )  # fmt: skip
    if not report["audit"]:
        console.print("  Nothing transferred yet.")


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
        counts = f"{tech['items_linked']} linked, {tech['conflicts']} conflicts, {tech['errors']} errors"
        console.print(
            f"  {tech['email']}: {state}, last run {last}, {counts}{error}", highlight=False, markup=False
        )
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
        str,
        typer.Argument(
            help="cycle_minutes, past_days, future_days, kinds, policy, budget_share; graph_tenant, "
            "graph_client_id, graph_certificate, graph_thumbprint, graph_secret_command, graph_url, "
            "graph_login_url (docs/org-outlook.md); caldav_secret_command."
        ),
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


@org_app.command("init")
@handles_errors
def init(
    db: DbOption = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Set the admin page's password (asked twice); setting it again signs everyone out."""
    from calferry.org.admin.accounts import AdminAccounts, check_password

    _required(db)  # before asking for a password that could not be kept
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Admin password", hide_input=True, confirmation_prompt=True)
    check_password(password)
    with _store(db) as store:
        ended = AdminAccounts(store.engine).set_password(password)
    if json_output:
        emit_json({"admin_password": "set", "sessions_ended": ended})
    else:
        signed_out = f"; {ended} signed-in session{'s' if ended != 1 else ''} ended" if ended else ""
        console.print(f"The admin password is set{signed_out}.", highlight=False)


@org_app.command("web")
@handles_errors
def web(
    db: DbOption = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; beyond loopback only with --allow-remote.")
    ] = ("127.0.0.1"),
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8766,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Let other machines reach the page (put it behind HTTPS).")
    ] = False,
    zone: Annotated[
        str | None, typer.Option(help="Time zone the page shows times in (default: this machine's).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Serve the admin page until Ctrl+C: technicians, their logs, settings and Autotask requests."""
    from calferry.org.admin.app import check_admin_bind, create_admin_app, machine_zone
    from calferry.web.app import bind, make_server, url_of

    check_admin_bind(host, allow_remote)
    shown_zone = _zone(zone) if zone else machine_zone()
    with _store(db) as store:
        try:
            sock = bind(host, port)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        if json_output:
            emit_json({"url": url_of(sock), "zone": shown_zone})
        else:
            console.print(f"calferry org admin page on {url_of(sock)} (Ctrl+C stops it)")
        sys.stdout.flush()
        make_server(create_admin_app(store, zone=shown_zone, host=host)).run(sockets=[sock])


def _zone(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from calferry.errors import InputError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"{name!r} is not a time zone", hint="use a name such as Europe/Berlin") from None
    return name


@org_app.command("graph-secret")
@handles_errors
def graph_secret(
    secret_stdin: Annotated[
        bool,
        typer.Option("--secret-stdin", help="Read the secret from stdin (for scripts) instead of asking."),
    ] = False,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Keep the Outlook app's client secret in this machine's OS keyring, once Microsoft accepts it."""
    from calferry import secrets
    from calferry.commands.auth_cmd import keyring_or_file, read_secret
    from calferry.org.graph_app import GraphApp, keep_secret, secret_shadowed

    with _store(db) as store:
        app = GraphApp.of(store.settings())
    keyring_or_file(False)  # before asking: without an OS keyring, nothing would be kept
    where = keep_secret(app, read_secret(secret_stdin, "Client secret of the Outlook app"))
    shadowed = secret_shadowed(app)
    if json_output:
        emit_json({"stored": where, "used_instead": shadowed or None})
        return
    kept = "the OS keyring" if where == secrets.KEYRING else f"{secrets.secrets_file()}, UNENCRYPTED"
    console.print(
        f"Microsoft accepted the secret; it is kept in {kept} for this machine's workers.", highlight=False
    )
    if shadowed:
        console.print(f"But {shadowed} is set, and the workers here use that instead.", highlight=False)
