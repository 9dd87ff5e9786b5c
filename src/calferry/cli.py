"""The ``calferry`` command: parse, call the service, render. One module per command group."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from typer._click import Context  # Typer 0.29 (pinned) carries its own copy of click
from typer._click.exceptions import UsageError
from typer.core import TyperGroup

from calferry import paths
from calferry.commands import (
    addin_cmd,
    auth_cmd,
    calendar_cmd,
    config_cmd,
    demo_cmd,
    doctor_cmd,
    engine_cmd,
    org_cmd,
    psa_cmd,
    web_cmd,
)
from calferry.commands.common import JSON_FLAG, emit_error

_AS_JSON = "calferry.as_json"


class _Root(TyperGroup):
    """The root command. With --json anywhere in the arguments a usage error (unknown command, bad
    option value, missing argument) is a JSON error document too, so that scripts parse every failure."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Context | None = None, **extra: Any
    ) -> Context:
        as_json = JSON_FLAG in args
        with _usage_errors_as_json(as_json):
            ctx = super().make_context(info_name, args, parent, **extra)
        ctx.meta[_AS_JSON] = as_json
        return ctx

    def invoke(self, ctx: Context) -> Any:
        with _usage_errors_as_json(bool(ctx.meta.get(_AS_JSON))):
            return super().invoke(ctx)


@contextmanager
def _usage_errors_as_json(as_json: bool) -> Iterator[None]:
    try:
        yield
    except UsageError as error:
        if not as_json:
            raise  # Typer prints its usage box
        emit_error("UsageError", error.format_message(), error.exit_code)
        raise typer.Exit(error.exit_code) from None


app = typer.Typer(
    cls=_Root,
    name="calferry",
    help="Ferry calendar items between your own calendar and the Autotask PSA calendar.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

# Each command module exposes register(app); the order is the order in --help.
COMMAND_MODULES = (
    config_cmd,
    auth_cmd,
    psa_cmd,
    calendar_cmd,
    engine_cmd,
    web_cmd,
    addin_cmd,
    demo_cmd,
    doctor_cmd,
    org_cmd,  # its commands import the 'org' extra's packages only when run
)
for _module in COMMAND_MODULES:
    _module.register(app)


def main() -> None:
    paths.private_umask()  # before anything is written: CALFERRY_HOME is private (0700, files 0600)
    app()
