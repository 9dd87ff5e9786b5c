"""``calferry web``: the click-through page (select, map, Save; Get; Add; options) on a local port."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from calferry.commands.common import JsonOption, console, emit_json, handles_errors
from calferry.errors import ConfigError


def register(app: typer.Typer) -> None:
    app.command("web")(web)


@handles_errors
def web(
    host: Annotated[
        str, typer.Option(help="Address to listen on; beyond loopback a password is required.")
    ] = ("127.0.0.1"),
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8765,
    password_env: Annotated[
        str | None,
        typer.Option("--password-env", help="Environment variable holding the page's password (basic auth)."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Serve the web page until Ctrl+C; prints its address first."""
    from calferry.web.app import bind, check_bind, serve, url_of

    password = _password(password_env)
    check_bind(host, password)
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    if json_output:
        emit_json({"url": url_of(sock), "password": bool(password)})
    else:
        console.print(f"calferry web page on {url_of(sock)} (Ctrl+C stops it)")
    sys.stdout.flush()
    serve(host=host, port=port, password=password, sock=sock)


def _password(variable: str | None) -> str | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise ConfigError(f"the environment variable {variable} is not set or empty")
    return value
