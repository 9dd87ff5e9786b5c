"""``calferry org demo``: the whole org service on one machine, on embedded parts, stopped by one Ctrl-C.

It starts, in this order: the org database (a private PostgreSQL under the demo's home, or ``--db``),
the local Autotask-compatible PSA server with its demo data (several technicians, each a PSA resource
with an e-mail address, and their items), one embedded Radicale with one calendar per technician, the
admin page when this calferry has it, and a worker in this process. It registers the PSA's technicians
in the org (their resource, e-mail and calendar), says in words what runs where, and runs the worker
until Ctrl-C or SIGTERM; then everything stops, the private PostgreSQL last.

The demo writes its PSA connection and the calendars' password into its own home (as ``calferry demo``
does), never into a technician's real one unless CALFERRY_HOME points there.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from calferry import paths, secrets
from calferry.commands.common import console
from calferry.org.store import OrgStore
from calferry.personal.radicale import DEFAULT_USER
from calferry.psa.server import DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME

DEFAULT_HOME = ".calferry-org-demo"
HOST = "127.0.0.1"
"""Where the admin page (``calferry org web``) lives; the demo serves it when this calferry has it."""


@dataclass(frozen=True)
class DemoTechnician:
    """One technician as the demo registers them: org number, PSA resource, e-mail, their own calendar."""

    id: int
    resource_id: int
    name: str
    email: str
    calendar: str


def demo_home(home: Path | None) -> Path:
    """``--home``, else CALFERRY_HOME, else ./.calferry-org-demo; every calferry module then uses it."""
    folder = (home or Path(os.environ.get("CALFERRY_HOME") or DEFAULT_HOME)).expanduser().resolve()
    os.environ["CALFERRY_HOME"] = str(folder)
    return paths.home()


def start_parts(stack: contextlib.ExitStack, store: OrgStore) -> dict[str, Any]:
    """The PSA server, Radicale, the technicians and the admin page; each stops when ``stack`` closes.

    Returns what the person is told (and ``--json`` prints).
    """
    from calferry.commands.demo_cmd import _start_psa, _store_secret

    psa = _start_psa(stack, 0)
    radicale_url, password = _start_radicale(stack)
    _configure(psa.url)
    _store_secret(DEMO_USERNAME)
    notes = [
        f"The calendars ask for user {DEFAULT_USER} and the password made for this demo, kept in "
        f"{secrets.secrets_file()} (calferry finds it itself; a calendar app needs it)."
    ]
    technicians = _register(store, psa.url, radicale_url, password)
    return {
        "home": str(paths.home()),
        "psa_url": psa.url,
        "calendar_server": radicale_url,
        "admin_url": _start_admin_page(stack, store),
        "cycle_minutes": store.settings().cycle_minutes,
        "technicians": [vars(t) for t in technicians],
        "notes": notes,
    }


def first_cycle_now(store: OrgStore) -> None:
    """The first cycle runs as soon as the worker starts, not at the next minute's tick: the calendars
    fill while the person reads what the demo printed."""
    from procrastinate.exceptions import AlreadyEnqueued

    from calferry.org.jobs import TICK, make_app
    from calferry.org.store import libpq_url

    app = make_app(libpq_url(store.engine))
    with app.open(), contextlib.suppress(AlreadyEnqueued):  # a tick already waiting does the same
        app.configure_task(TICK).defer(timestamp=int(time.time()))


def _start_radicale(stack: contextlib.ExitStack) -> tuple[str, str]:
    """One Radicale for every technician, behind the home's own password (made on the first start)."""
    from calferry.personal import radicale

    password, _ = radicale.install_password(to_file=True)
    passwords = radicale.write_htpasswd(password)
    server = radicale.RadicaleServer(paths.data_dir("calendar"), host=HOST, htpasswd=passwords)
    server.start(quiet=True)
    stack.callback(server.stop)
    return server.base_url, password


def _configure(psa_url: str) -> None:
    """Every worker reads the PSA connection from its config: point it at the demo's PSA server."""
    from calferry import config

    config.write_settings(
        {
            "psa.base_url": psa_url,
            "psa.username": DEMO_USERNAME,
            "psa.integration_code": DEMO_INTEGRATION_CODE,
        }
    )


def _demo_resources(psa_url: str) -> list[dict[str, Any]]:
    """The seed's technicians (admins and the API user left out), read from the PSA as an admin would."""
    from calferry.psa.server.entities import ADMIN_LEVEL
    from calferry.psa.server.seed import DEMO_DOMAIN, TECHNICIANS

    emails = [f"{mail}@{DEMO_DOMAIN}" for _f, _l, mail, _loc, level in TECHNICIANS if level != ADMIN_LEVEL]
    headers = {
        "ApiIntegrationCode": DEMO_INTEGRATION_CODE,
        "UserName": DEMO_USERNAME,
        "Secret": DEMO_SECRET,
    }
    query = {"filter": [{"op": "in", "field": "email", "value": emails}]}
    with httpx.Client(base_url=psa_url, headers=headers, timeout=30) as http:
        answer = http.post("Resources/query", json=query)
        answer.raise_for_status()
    return sorted(answer.json()["items"], key=lambda r: emails.index(r["email"]))


def _register(store: OrgStore, psa_url: str, radicale_url: str, password: str) -> list[DemoTechnician]:
    """Each technician gets a calendar of their own in Radicale and a row in the org (added or updated)."""
    from calferry.personal.radicale import ensure_calendar

    store.set_setting("caldav_secret_command", _password_command())
    registered = []
    for resource in _demo_resources(psa_url):
        name = f"{resource['firstName']} {resource['lastName']}"
        calendar = f"{radicale_url}/{DEFAULT_USER}/{resource['email'].split('@')[0]}/"
        ensure_calendar(calendar, password=password)
        row = store.add_technician(
            resource["id"], resource["email"], "caldav", calendar, name=name, username=DEFAULT_USER
        )
        registered.append(DemoTechnician(row.id, resource["id"], name, row.email, calendar))
    return registered


def _password_command() -> str:
    """The org's CalDAV password command for the demo: it prints the demo calendars' password from this
    home's 0600 secrets file (a real org names its own command, e.g. ``pass show caldav/{email}``)."""
    script = (
        f"import os; os.environ['CALFERRY_HOME'] = {str(paths.home())!r}; from calferry import secrets; "
        f"print(secrets.caldav_password({DEFAULT_USER!r}, ''))"
    )
    return shlex.join([sys.executable, "-c", script, "{email}"])  # one password for every demo technician


def _start_admin_page(stack: contextlib.ExitStack, store: OrgStore) -> str:
    """The admin page (``calferry org web``) beside the worker, on loopback; stopped with the demo."""
    from calferry.org.admin.app import serve_admin

    server = serve_admin(store, HOST, 0)
    stack.callback(server.stop)
    return str(server.url)


def announce(info: dict[str, Any], as_json: bool) -> None:
    """What runs where and how to stop it; with ``--json`` one line on stdout, flushed (callers wait for it)."""
    if as_json:
        sys.stdout.write(
            json.dumps({k: v for k, v in info.items() if k != "notes"}, ensure_ascii=False) + "\n"
        )
        sys.stdout.flush()
        return
    say = console.print
    say("calferry org demo is running (Ctrl-C stops it all):", highlight=False)
    for label, value in _where(info):
        say(f"  {label:<14}{value}", highlight=False, markup=False, soft_wrap=True)
    say("Each technician's own calendar:", highlight=False)
    for tech in info["technicians"]:
        say(
            f"  {tech['name']} <{tech['email']}>: {tech['calendar']}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    for note in info["notes"]:
        say(note, highlight=False, markup=False, soft_wrap=True)
    say("Try, in another shell:", highlight=False)
    for line in _try_lines(info):
        say(f"  {line}", highlight=False, markup=False, soft_wrap=True)
    sys.stdout.flush()


def _try_lines(info: dict[str, Any]) -> list[str]:
    """Copy-pasteable commands against this demo's org database."""
    prefix = f"CALFERRY_HOME={shlex.quote(info['home'])} calferry org"
    where = f"--db {shlex.quote(info['db'])}"
    return [
        f"{prefix} init {where}    # the admin page's password, before signing in",
        f"{prefix} status {where}",
    ]


def _where(info: dict[str, Any]) -> list[tuple[str, str]]:
    database = "a private PostgreSQL in this demo's home" if info["private_cluster"] else info["db"]
    return [
        ("home:", info["home"]),
        ("org database:", database),
        ("PSA server:", f"{info['psa_url']} (the local Autotask stand-in, with demo data)"),
        ("calendars:", f"{info['calendar_server']} (Radicale, user calferry)"),
        ("admin page:", info["admin_url"]),
        ("worker:", f"this process: every {info['cycle_minutes']} minutes it reads the PSA's changes once for "
                    "everyone and updates the calendar of each technician they concern"),
    ]  # fmt: skip
