"""``calferry psa serve``: the local Autotask-compatible REST server (demo default and test double)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from calferry.commands.common import JsonOption, handles_errors
from calferry.errors import InputError
from calferry.paths import data_dir
from calferry.psa.server import DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME
from calferry.psa.server.faults import ALL_KINDS, FaultPlan

psa_app = typer.Typer(help="The local Autotask-compatible PSA server.")

ALL_FAULT_KINDS = ",".join(ALL_KINDS)
SECRET_ENV = "CALFERRY_PSA_SERVE_SECRET"


def default_db_url() -> str:
    return f"sqlite:///{data_dir('psa') / 'psa.sqlite3'}"


@psa_app.command("serve")
@handles_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one (the URL line shows it).")] = 8080,
    db: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL; default: psa/psa.sqlite3 under CALFERRY_HOME.")
    ] = None,
    seed: Annotated[str | None, typer.Option(help="'demo': fill an empty database with demo data.")] = None,
    integration_code: Annotated[
        str, typer.Option(help="Accepted ApiIntegrationCode.")
    ] = DEMO_INTEGRATION_CODE,
    username: Annotated[str, typer.Option(help="Accepted UserName (the API user).")] = DEMO_USERNAME,
    secret: Annotated[
        str | None,
        typer.Option(
            help=f"Accepted Secret (default '{DEMO_SECRET}'). Visible to other users in `ps`: "
            f"prefer --secret-file or the {SECRET_ENV} environment variable."
        ),
    ] = None,
    secret_file: Annotated[
        Path | None, typer.Option(help="Read the accepted Secret from the first line of this file.")
    ] = None,
    hourly_limit: Annotated[int, typer.Option(help="Requests per rolling hour before 429.")] = 10_000,
    faults: Annotated[float, typer.Option(help="Share of requests that get an injected fault (0-1).")] = 0.0,
    fault_seed: Annotated[int, typer.Option(help="Seed for reproducible faults.")] = 0,
    fault_kinds: Annotated[
        str, typer.Option(help="Comma-separated fault kinds to draw from.")
    ] = ALL_FAULT_KINDS,
    fault_retry_after: Annotated[int, typer.Option(help="Retry-After seconds of injected 429s.")] = 1,
    fault_delay: Annotated[float, typer.Option(help="Seconds a 'slow' fault waits.")] = 0.5,
    json_output: JsonOption = False,
) -> None:
    """Serve the Autotask REST API on HOST:PORT until SIGTERM or Ctrl-C; prints the base URL first."""
    from calferry.psa.server.app import serve as run
    from calferry.psa.server.state import Settings

    if not 0.0 <= faults <= 1.0:
        raise InputError(f"--faults must be between 0 and 1, got {faults}")
    try:
        plan = FaultPlan(faults, fault_seed, _kinds(fault_kinds), fault_retry_after, fault_delay)
        accepted = _secret(secret, secret_file)
        settings = Settings(db or default_db_url(), seed, integration_code, username, accepted, hourly_limit)
        settings.faults = plan
        run(settings, host, port, lambda url: _announce(url, json_output))
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _secret(given: str | None, path: Path | None) -> str:
    """The file, else the command line, else the environment, else the demo secret."""
    if given is not None and path is not None:
        raise InputError("give the secret once: either in a file or on the command line, not both")
    if path is None:
        return given or os.environ.get(SECRET_ENV) or DEMO_SECRET
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the secret file {path}: {exc}") from None
    if not lines or not lines[0].strip():
        raise InputError(f"the secret file {path} is empty; put the secret on its first line")
    return lines[0]


def _kinds(text: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in text.split(",") if k.strip())


def _announce(url: str, as_json: bool) -> None:
    """The base URL on a line of its own, flushed: callers read it from our stdout to find the port."""
    line = json.dumps({"base_url": url}) if as_json else url
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    app.add_typer(psa_app, name="psa")
