"""``calferry config show|set|enable|disable``: the options of R1/R2 and the backend settings."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from calferry import config
from calferry.commands.common import JsonOption, console, emit_json, handles_errors
from calferry.paths import config_file

config_app = typer.Typer(help="Show and change the options (the Calendar tab) and backend settings.")


@config_app.command("show")
@handles_errors
def show(json_output: JsonOption = False) -> None:
    """Show every setting with its value (defaults included) and what it means."""
    settings = config.load_settings()
    if json_output:
        emit_json({"path": str(config_file()), **settings.to_dict()})
        return
    table = Table(title=f"calferry settings ({config_file()})")
    for column in ("key", "value", "meaning"):
        table.add_column(column)
    for option in config.SCHEMA:
        value = settings.get(option.key)
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        table.add_row(option.key, shown, option.help)
    console.print(table)


@config_app.command("set")
@handles_errors
def set_(
    key: Annotated[str, typer.Argument(help="Dotted key, e.g. calendar.get_future_days.")],
    value: Annotated[str, typer.Argument(help="New value; lists as comma-separated text.")],
    json_output: JsonOption = False,
) -> None:
    """Change one setting (validated before it is written)."""
    settings = config.set_value(key, value)
    _report(key, settings.get(key), json_output)


@config_app.command("enable")
@handles_errors
def enable(json_output: JsonOption = False) -> None:
    """Turn calendar integration on (it starts off)."""
    settings = config.set_value("calendar.enabled", "true")
    _report("calendar.enabled", settings.calendar.enabled, json_output)


@config_app.command("disable")
@handles_errors
def disable(json_output: JsonOption = False) -> None:
    """Turn calendar integration off; Send and Get refuse until it is enabled again."""
    settings = config.set_value("calendar.enabled", "false")
    _report("calendar.enabled", settings.calendar.enabled, json_output)


def _report(key: str, value: object, json_output: bool) -> None:
    if json_output:
        emit_json({"key": key, "value": value, "path": str(config_file())})
    else:
        console.print(f"{key} = {value}")


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
