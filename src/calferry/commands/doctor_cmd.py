"""``calferry doctor --live``: ask Outlook, read-only, what it answers where Graph's documentation is silent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from calferry.commands.common import JsonOption, console, emit_json, handles_errors
from calferry.config import load_settings
from calferry.errors import ConfigError
from calferry.model import Window
from calferry.wiring import graph_calendar

LiveOption = Annotated[
    bool, typer.Option("--live", help="Ask your Outlook mailbox (read-only); nothing is written.")
]


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


@handles_errors
def doctor(live: LiveOption = False, json_output: JsonOption = False) -> None:
    """Check what your Outlook answers where Microsoft's documentation is silent (docs/outlook.md)."""
    settings = load_settings()
    if settings.personal.backend != "graph":
        raise ConfigError("these checks are for Outlook, and your calendar is not Outlook")
    if not live:
        raise ConfigError(
            "the checks ask your Outlook mailbox over the network", hint="run `calferry doctor --live`"
        )
    from calferry.personal.graph_doctor import live_checks

    now = datetime.now(UTC)
    calendar = graph_calendar(settings.personal)
    try:
        checks = live_checks(calendar, Window(now, now + timedelta(days=30)))
    finally:
        calendar.close()
    if json_output:
        emit_json({"checks": [c.to_json() for c in checks]})
        return
    table = Table("check", "outcome", "what Outlook answered")
    for check in checks:
        table.add_row(check.name, check.outcome, check.detail)
    console.print(table)
