"""The ``calferry`` command: parse, call the service, render. One module per command group."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="calferry",
    help="Ferry calendar items between your own calendar and the Autotask PSA calendar.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

# Each module in calferry.commands exposes register(app); the order is the order in --help.
COMMAND_MODULES = ("config_cmd", "auth_cmd", "psa_cmd", "calendar_cmd", "engine_cmd", "web_cmd", "demo_cmd")


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"calferry.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"calferry.commands.{name}":
                continue  # a command group not built yet
            raise
        module.register(app)


_register_all()


def main() -> None:
    app()
