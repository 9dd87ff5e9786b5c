"""``calferry web``: the click-through page (select, map, Save; Get; Add; options) on a local port."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from calferry.commands.common import JsonOption, console, emit_json, handles_errors
from calferry.errors import ConfigError

if TYPE_CHECKING:
    from calferry.tls import TlsFiles


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
    https: Annotated[
        bool,
        typer.Option("--https", help="Serve HTTPS with a local certificate (the Outlook add-in needs it)."),
    ] = False,
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
    tls = _local_tls(json_output) if https else None
    url = url_of(sock) if tls is None else _https_url(host, sock.getsockname()[1])
    if json_output:
        extra = {} if tls is None else {
            "manifest": f"{url}/addin/manifest.xml", "ca": str(tls.ca_file), "ca_created": tls.ca_created,
        }  # fmt: skip
        emit_json({"url": url, "password": bool(password), **extra})
    else:
        console.print(f"calferry web page on {url} (Ctrl+C stops it)")
        if tls is not None:
            console.print(f"Outlook add-in manifest: {url}/addin/manifest.xml")
    sys.stdout.flush()
    serve(host=host, port=port, password=password, sock=sock, tls=tls)


def _local_tls(quiet: bool) -> TlsFiles:
    """The localhost certificate, made or renewed now; how to trust a new CA is shown once."""
    from calferry import paths
    from calferry.tls import ensure_local_tls, trust_instructions

    files = ensure_local_tls(paths.data_dir("tls"), datetime.now(UTC))
    if files.ca_created and not quiet:
        console.print(trust_instructions(files.ca_file), markup=False, highlight=False)
    return files


def _https_url(host: str, port: int) -> str:
    """Loopback is named ``localhost``, the name Outlook and the certificate agree on."""
    from calferry.web.security import is_loopback

    if is_loopback(host):
        return f"https://localhost:{port}"
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def _password(variable: str | None) -> str | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise ConfigError(f"the environment variable {variable} is not set or empty")
    return value
