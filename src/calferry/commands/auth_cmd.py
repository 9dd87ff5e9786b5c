"""``calferry login`` / ``logout`` (R12): keep the PSA secret (or the Outlook sign-in) on this device.

The secret is asked for once, proven against the PSA, and stored in the OS keyring; later commands
reuse it without asking. Where no keyring exists, ``CALFERRY_PSA_SECRET`` is the fallback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Annotated, Any

import typer

from calferry import secrets
from calferry.commands.common import JsonOption, console, emit_json, err_console, handles_errors
from calferry.config import Settings, load_settings
from calferry.errors import ConfigError, InputError, PsaAuthError, UserError
from calferry.psa.gateway import build_client

OutlookOption = Annotated[bool, typer.Option("--outlook", help="Sign in to (or out of) Outlook instead.")]
SecretStdinOption = Annotated[
    bool,
    typer.Option("--secret-stdin", help="Read the PSA secret from stdin (for scripts) instead of asking."),
]


@handles_errors
def login(
    outlook: OutlookOption = False, secret_stdin: SecretStdinOption = False, json_output: JsonOption = False
) -> None:
    """Ask for the PSA API secret once, check it against the PSA and keep it in the OS keyring."""
    settings = load_settings()
    if outlook:
        result = _graph().sign_in(settings, show=_shower(json_output))
        _report({"signed_in": "outlook", "account": _plain(result)}, "Signed in to Outlook.", json_output)
        return
    username = _username(settings)
    secret = _read_secret(secret_stdin)
    _verify(settings, secret)
    secrets.store(secrets.psa_key(username), secret)
    _report(
        {"signed_in": "psa", "username": username, "stored": "keyring"},
        f"Logged in to the PSA as {username}; the secret is kept in the OS keyring.",
        json_output,
    )


@handles_errors
def logout(outlook: OutlookOption = False, json_output: JsonOption = False) -> None:
    """Forget the stored PSA secret (or the Outlook sign-in) on this device."""
    settings = load_settings()
    if outlook:
        _graph().sign_out(settings)
        _report({"signed_out": "outlook"}, "Signed out of Outlook.", json_output)
        return
    username = _username(settings)
    removed = secrets.delete(secrets.psa_key(username))
    message = (
        f"Forgot the PSA secret of {username}." if removed else f"No PSA secret was stored for {username}."
    )
    _report({"signed_out": "psa", "username": username, "removed": removed}, message, json_output)


def _username(settings: Settings) -> str:
    if not settings.psa.username:
        raise ConfigError("psa.username is not set", hint="calferry config set psa.username <API user>")
    return settings.psa.username


def _read_secret(from_stdin: bool) -> str:
    """The secret from stdin (one line) or a hidden prompt; never echoed."""
    if from_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    else:
        secret = typer.prompt("PSA API secret", hide_input=True, default="", show_default=False)
    if not secret.strip():
        raise InputError("no secret was given; nothing was stored")
    return secret


def _verify(settings: Settings, secret: str) -> None:
    """One cheap authenticated request; a refused secret is not stored."""
    client = build_client(settings.psa, secret)
    try:
        client.verify()
    except PsaAuthError as error:
        secret_refused = error.status == 401
        raise PsaAuthError(
            f"the PSA did not accept these credentials ({error.message}); nothing was stored",
            status=error.status,
            hint="check the secret" if secret_refused else error.hint,
        ) from None
    finally:
        client.close()


def _graph() -> ModuleType:
    """``calferry.personal.graph``, imported only when Outlook is asked for."""
    try:
        return importlib.import_module("calferry.personal.graph")
    except ModuleNotFoundError as exc:
        if exc.name != "calferry.personal.graph":
            raise
        raise UserError("Outlook sign-in is not available in this installation") from None


def _shower(json_output: bool) -> Callable[[str], None]:
    """Where the sign-in instructions go: stderr under --json, so stdout stays one JSON document."""
    target = err_console if json_output else console

    def show(text: str) -> None:
        target.print(text, markup=False, highlight=False)

    return show


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | dict | int | type(None)) else str(value)


def _report(data: dict[str, Any], message: str, json_output: bool) -> None:
    if json_output:
        emit_json(data)
    else:
        console.print(message, markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("login")(login)
    app.command("logout")(logout)
