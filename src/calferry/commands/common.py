"""What every command shares: ``--json`` output, error rendering, the Rich console."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from calferry.errors import UserError

console = Console()
err_console = Console(stderr=True)

JSON_FLAG = "--json"
JsonOption = Annotated[bool, typer.Option(JSON_FLAG, help="Print machine-readable JSON on stdout.")]

F = TypeVar("F", bound=Callable[..., Any])


def emit_json(data: Any) -> None:
    """Print one JSON document on stdout (datetimes and the like as strings)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def emit_error(type_name: str, message: str, exit_code: int, **more: Any) -> None:
    """Print the ``{"error": {...}}`` document every --json failure shares, usage errors included."""
    emit_json({"error": {"type": type_name, "message": message, "exit_code": exit_code, **more}})


def render_error(error: UserError, as_json: bool) -> None:
    """Print a user error: JSON ``{"error": {...}}`` on stdout with --json, else a red line on stderr.

    A config error's problems (every one found) come along in both forms; the rule it enforces only in JSON.
    """
    problems = list(getattr(error, "problems", None) or [])
    if as_json:
        more: dict[str, Any] = {"problems": problems} if problems else {}
        if error.rule is not None:
            more["rule"] = error.rule
        emit_error(error.type_name, str(error), error.exit_code, **more)
        return
    err_console.print(f"[bold red]Error:[/] {error}", highlight=False, markup=True)
    for problem in problems:
        err_console.print(f"  - {problem}", highlight=False, markup=False)


def handles_errors(fn: F) -> F:
    """Turn a ``UserError`` raised by a command into its message and exit code (no traceback).

    The command's ``json_output`` keyword decides the error's format.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as error:
            render_error(error, bool(kwargs.get("json_output", False)))
            raise typer.Exit(error.exit_code) from None

    return wrapper  # type: ignore[return-value]
