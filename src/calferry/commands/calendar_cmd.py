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

from calferry import config, paths
from calferry.commands.common import JsonOption, console, emit_json, handles_errors
from calferry.errors import Conflict, InputError, MalformedCalendar, PersonalCalendarError
from calferry.model import PersonalItem, Window
from calferry.personal import ical
from calferry.personal.base import PersonalCalendar
from calferry.personal.factory import open_calendar
from calferry.personal.radicale import DEFAULT_CALENDAR, DEFAULT_PORT, DEFAULT_USER, RadicaleServer

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
        str, typer.Option(help="Address to bind; beyond loopback needs --htpasswd.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one (printed).")] = DEFAULT_PORT,
    storage: Annotated[
        Path | None, typer.Option(help="Storage folder (default: CALFERRY_HOME/calendar).")
    ] = None,
    htpasswd: Annotated[Path | None, typer.Option(help="htpasswd file; required off loopback.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Run Radicale as your own calendar until stopped (Ctrl-C); prints the calendar URL to use."""
    folder = storage or paths.data_dir("calendar")
    created = prepare_calendar(folder)
    server = RadicaleServer(folder, host=host, port=port, htpasswd=htpasswd).start()
    url = server.calendar_url()
    if json_output:
        emit_json({"url": url, "storage": str(folder), "created": created, "port": server.port})
    else:
        console.print(f"Calendar URL: {url}", highlight=False, soft_wrap=True)
        console.print(f"Storage: {folder}  (stop with Ctrl-C)", highlight=False, soft_wrap=True)
    signal.signal(signal.SIGTERM, _interrupt)  # unwind through the finally below, as Ctrl-C does
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


FileArgument = Annotated[Path, typer.Argument(help="The .ics file.")]


@handles_errors
def import_ics(path: FileArgument, json_output: JsonOption = False) -> None:
    """Copy every item of an .ics file into your configured calendar (existing UIDs are skipped)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    resources, problems = ical.resources_of(ical.parse_calendar(data, str(path)), str(path))
    target = open_calendar(config.load_settings())
    counts = {"created": 0, "skipped": 0}
    try:
        for resource in resources:
            counts[_import_one(target, resource, problems)] += 1
    finally:
        target.close()
    _report({**counts, "problems": problems}, json_output, f"Imported from {path}")


def _import_one(target: PersonalCalendar, resource: ical.Resource, problems: list[str]) -> str:
    try:
        if resource.recurring:
            add = getattr(target, "add_resource", None)
            if add is None:
                problems.append(f"series {resource.uid}: the {target.name} calendar cannot import series")
                return "skipped"
            add(resource)
        else:
            master = resource.events[0]
            target.create(ical.item_from_event(master, recurring=False))
    except Conflict:
        return "skipped"
    except (MalformedCalendar, PersonalCalendarError) as exc:
        problems.append(f"event {resource.uid}: {exc}")
        return "skipped"
    return "created"


@handles_errors
def export_ics(
    path: FileArgument,
    past_days: Annotated[int, typer.Option(help="Days before today to include.")] = 30,
    future_days: Annotated[int, typer.Option(help="Days after today to include.")] = 365,
    json_output: JsonOption = False,
) -> None:
    """Write the items of your configured calendar in a window to an .ics file (occurrences as overrides)."""
    source = open_calendar(config.load_settings())
    try:
        snapshot = source.list(Window.around(datetime.now(UTC), past_days, future_days))
    finally:
        source.close()
    _write_atomically(path, ical.calendar_text(_export_resources(snapshot.items)))
    _report(
        {"exported": len(snapshot.items), "problems": list(snapshot.problems)},
        json_output,
        f"Exported to {path}",
    )


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
        emit_json(data)
        return
    counts = ", ".join(f"{k} {v}" for k, v in data.items() if k != "problems")
    console.print(f"{title}: {counts}", highlight=False, soft_wrap=True)
    for problem in data.get("problems", []):
        console.print(f"  - {problem}", highlight=False, markup=False, soft_wrap=True)
