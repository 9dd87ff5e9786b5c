"""``calferry calendar serve`` (the embedded CalDAV calendar) and ``calferry import|export FILE.ics``."""

from __future__ import annotations

import json
import os
import signal
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from calferry import config, paths, secrets
from calferry.commands.common import JsonOption, console, emit_json, handles_errors
from calferry.contracts import Problem
from calferry.errors import Conflict, CredentialsMissing, InputError, MalformedCalendar, PersonalCalendarError
from calferry.model import PersonalItem, Window
from calferry.personal import bounds, ical, icsfile
from calferry.personal.base import PersonalCalendar
from calferry.personal.radicale import (
    DEFAULT_CALENDAR,
    DEFAULT_PORT,
    DEFAULT_USER,
    RadicaleServer,
    install_password,
    is_loopback,
    write_htpasswd,
)
from calferry.wiring import open_calendar

calendar_app = typer.Typer(help="Your own calendar: run the embedded CalDAV calendar.")


def register(app: typer.Typer) -> None:
    app.add_typer(calendar_app, name="calendar")
    app.command("import")(import_ics)
    app.command("export")(export_ics)


def prepare_calendar(storage: Path, user: str = DEFAULT_USER, name: str = DEFAULT_CALENDAR) -> bool:
    """Create the calendar collection in Radicale's storage before it starts; True if it was new."""
    folder = storage / "collection-root" / user / name
    props = folder / ".Radicale.props"
    if props.exists():
        return False
    folder.mkdir(parents=True, exist_ok=True)
    props.write_text(json.dumps({"tag": "VCALENDAR", "D:displayname": "calferry"}), encoding="utf-8")
    return True


@calendar_app.command("serve")
@handles_errors
def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind; beyond loopback only with --htpasswd.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one (printed).")] = DEFAULT_PORT,
    storage: Annotated[
        Path | None, typer.Option(help="Storage folder (default: CALFERRY_HOME/calendar).")
    ] = None,
    htpasswd: Annotated[
        Path | None, typer.Option(help="Your own htpasswd file instead of the generated password.")
    ] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="On loopback only: no password (any local user gets in).")
    ] = False,
    store_file: Annotated[
        bool,
        typer.Option(
            "--store-file",
            help="Without an OS keyring: keep the generated password UNENCRYPTED in CALFERRY_HOME (0600).",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Run Radicale as your own calendar until stopped (Ctrl-C); prints the calendar URL to use.

    By default it asks for user ``calferry`` and a password generated once per install and kept as
    calferry keeps secrets (calferry finds it itself), and answers only to its own address."""
    folder = storage or paths.data_dir("calendar")
    created = prepare_calendar(folder)
    auth, where = _auth_file(host, htpasswd, no_auth, store_file)
    server = RadicaleServer(folder, host=host, port=port, htpasswd=auth).start()
    url = server.calendar_url()
    if json_output:
        emit_json(
            {"url": url, "storage": str(folder), "created": created, "port": server.port,
             "username": DEFAULT_USER, "password_source": where}
        )  # fmt: skip
    else:
        console.print(f"Calendar URL: {url}", highlight=False, soft_wrap=True)
        console.print(f"User: {DEFAULT_USER}; {_PASSWORD_WORDS[where]}", highlight=False, soft_wrap=True)
        console.print(f"Storage: {folder}  (stop with Ctrl-C)", highlight=False, soft_wrap=True)
    signal.signal(signal.SIGTERM, _interrupt)  # unwind through the finally below, as Ctrl-C does
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


_PASSWORD_WORDS = {
    "none": "no password: anyone on this machine can read and change this calendar.",
    "htpasswd": "passwords from your htpasswd file.",
    secrets.KEYRING: "the password was made for this install and is kept in the OS keyring; "
    "calferry finds it itself.",
    secrets.FILE: "the password was made for this install and is kept UNENCRYPTED in "
    "secrets.json in calferry's home (readable by your user only); calferry finds it itself.",
    secrets.ENVIRONMENT: "the password is the one in CALFERRY_CALDAV_PASSWORD.",
    secrets.COMMAND: "the password is the one personal.password_command prints.",
}


def _auth_file(host: str, htpasswd: Path | None, no_auth: bool, store_file: bool) -> tuple[Path | None, str]:
    """The htpasswd file to serve with, and where its password is: the person's own file, none
    (--no-auth; beyond loopback never), or one made from the install's password."""
    if htpasswd is not None:
        return htpasswd, "htpasswd"
    if not is_loopback(host):
        return None, "none"  # RadicaleServer refuses this: beyond loopback only with your own file
    if no_auth:
        return None, "none"
    try:
        password, where = install_password(
            config.load_settings().personal.password_command, to_file=store_file
        )
    except CredentialsMissing as missing:
        raise CredentialsMissing(
            f"{missing.message}: the calendar's password was not made",
            hint=f"set {secrets.CALDAV_PASSWORD_ENV} or personal.password_command, add --store-file to keep "
            "a generated one unencrypted in calferry's home, or --no-auth to serve without one",
        ) from None
    return write_htpasswd(password), where


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


FileArgument = Annotated[Path, typer.Argument(help="The .ics file.")]


@handles_errors
def import_ics(path: FileArgument, json_output: JsonOption = False) -> None:
    """Copy every item of an .ics file into your configured calendar (existing UIDs are skipped).

    Calendars that store iCalendar (caldav, ics) get each item verbatim, unknown properties and alarms
    included; the others (graph, memory) get single items through their fields, listed as simplified.
    What cannot be read is reported and left out; a series whose rule calferry will not expand is stored
    as it is, with a note."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    parsed = icsfile.read(data, str(path))
    resources = [ical.with_timezones(r, parsed.timezones) for r in parsed.resources.values()]
    problems = parsed.all_problems()
    target = open_calendar(config.load_settings())
    simplified: list[str] = []
    try:
        counts = _import_all(target, resources, problems, simplified)
    finally:
        target.close()
    _report({**counts, "problems": problems, "simplified": simplified}, json_output, f"Imported from {path}")


def _import_all(
    target: PersonalCalendar, resources: list[ical.Resource], problems: list[Problem], simplified: list[str]
) -> dict[str, int]:
    """Whole files in one write where the calendar can (an .ics file), else item by item.

    A series whose rule calferry will not expand (every second, ``INTERVAL=0``, ...) is stored as it
    is in an .ics file, with a note; a calendar server would expand it itself on every listing (Radicale
    takes minutes for a year of seconds), so it is not sent to one."""
    refused = {r.uid: reason for r in resources if (reason := bounds.refusal(r.events)) is not None}
    add_all = getattr(target, "add_resources", None)
    if add_all is not None:
        added, unwritable = add_all(resources)
        problems.extend(unwritable)
        stored = set(added) & set(refused)
        problems.extend(
            r.problem(f"stored as it is, but calferry will not list it: {refused[r.uid]}", skipped=False)
            for r in resources
            if r.uid in stored
        )
        return {"created": len(added), "skipped": len(resources) - len(added)}
    counts = {"created": 0, "skipped": len(refused)}
    problems.extend(r.problem(f"not imported: {refused[r.uid]}") for r in resources if r.uid in refused)
    for resource in resources:
        if resource.uid not in refused:
            counts[_import_one(target, resource, problems, simplified)] += 1
    return counts


def _import_one(
    target: PersonalCalendar, resource: ical.Resource, problems: list[Problem], simplified: list[str]
) -> str:
    add = getattr(target, "add_resource", None)
    try:
        if add is not None:
            add(resource)
        elif resource.recurring:
            problems.append(resource.problem(f"the {target.name} calendar cannot import series"))
            return "skipped"
        else:
            target.create(ical.item_from_event(resource.events[0], recurring=False))
            simplified.append(
                f"event {resource.uid}: simplified: the {target.name} calendar keeps only the mapped"
                " fields (X- properties and alarm details were dropped)"
            )
    except Conflict:
        return "skipped"
    except (MalformedCalendar, PersonalCalendarError) as exc:
        problems.append(resource.problem(str(exc)))
        return "skipped"
    return "created"


@handles_errors
def export_ics(
    path: FileArgument,
    past_days: Annotated[int, typer.Option(help="Days before today to include.")] = 30,
    future_days: Annotated[int, typer.Option(help="Days after today to include.")] = 365,
    json_output: JsonOption = False,
) -> None:
    """Write the items of your configured calendar in a window to an .ics file.

    From calendars that store iCalendar (caldav, ics) whole items are written: series with their rules,
    exceptions and overrides, unknown properties, alarms and time zones; ``exported`` counts them (a
    series once). From the others, every item and occurrence is rebuilt from its fields (occurrences as
    overrides)."""
    source = open_calendar(config.load_settings())
    try:
        resources, problems = _exported(source, Window.around(datetime.now(UTC), past_days, future_days))
    finally:
        source.close()
    _write_atomically(path, ical.calendar_text(resources))
    _report({"exported": len(resources), "problems": problems}, json_output, f"Exported to {path}")


def _exported(source: PersonalCalendar, window: Window) -> tuple[list[ical.Resource], list[Problem]]:
    """The source's own resources where it keeps them (``resources``, as on caldav and ics), else
    resources rebuilt from the listed items."""
    whole = getattr(source, "resources", None)
    if whole is not None:
        resources, problems = whole(window)
        return list(resources), list(problems)
    snapshot = source.snapshot(window)
    return _export_resources(snapshot.items), list(snapshot.problems)


def _export_resources(items: tuple[PersonalItem, ...]) -> list[ical.Resource]:
    now = datetime.now(UTC)
    return [
        ical.new_resource(item, now) if item.recurrence_id is None else ical.occurrence_resource(item, now)
        for item in items
    ]


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {exc}") from exc


def _report(data: dict[str, Any], json_output: bool, title: str) -> None:
    if json_output:
        emit_json({k: [_json(line) for line in v] if isinstance(v, list) else v for k, v in data.items()})
        return
    counts = ", ".join(f"{k} {v}" for k, v in data.items() if not isinstance(v, list))
    console.print(f"{title}: {counts}", highlight=False, soft_wrap=True)
    for line in (line for v in data.values() if isinstance(v, list) for line in v):
        console.print(f"  - {line}", highlight=False, markup=False, soft_wrap=True)


def _json(line: object) -> object:
    return line.to_json() if isinstance(line, Problem) else line
