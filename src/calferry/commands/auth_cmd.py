"""``calferry login`` / ``logout`` (R12): keep the PSA secret (or the Outlook sign-in) on this device.

The secret is asked for once, proven against the PSA, and stored in a real OS keyring; later commands
reuse it without asking. Where no such keyring exists, login says so and stops, unless the person
chose ``--store-file`` (an unencrypted 0600 file in CALFERRY_HOME); ``CALFERRY_PSA_SECRET`` and
``psa.secret_command`` need no login at all (see :mod:`calferry.secrets`). ``--caldav`` does the same
for the personal calendar's password.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from calferry import secrets
from calferry.commands.common import JsonOption, console, emit_json, err_console, handles_errors
from calferry.config import Settings, load_settings
from calferry.errors import ConfigError, CredentialsMissing, InputError, PsaAuthError
from calferry.wiring import outlook_sign_in, outlook_sign_out, psa_client

OutlookOption = Annotated[bool, typer.Option("--outlook", help="Sign in to (or out of) Outlook instead.")]
SecretStdinOption = Annotated[
    bool,
    typer.Option("--secret-stdin", help="Read the secret from stdin (for scripts) instead of asking."),
]
StoreFileOption = Annotated[
    bool,
    typer.Option(
        "--store-file",
        help="Without an OS keyring: keep the secret UNENCRYPTED in secrets.json in CALFERRY_HOME (0600).",
    ),
]
CaldavOption = Annotated[
    bool, typer.Option("--caldav", help="Keep the CalDAV password of personal.username instead.")
]


@handles_errors
def login(
    outlook: OutlookOption = False,
    caldav: CaldavOption = False,
    secret_stdin: SecretStdinOption = False,
    store_file: StoreFileOption = False,
    json_output: JsonOption = False,
) -> None:
    """Ask for the PSA API secret once, check it against the PSA and keep it in the OS keyring.

    Without an OS keyring it stops before asking, unless --store-file chooses an unencrypted file."""
    settings = load_settings()
    keyring_or_file(store_file)
    if outlook:
        if store_file:
            secrets.choose_file()  # the sign-in's tokens go there when this machine has no OS keyring
        result = outlook_sign_in(settings, _shower(json_output))
        _report({"signed_in": "outlook", "account": _plain(result)}, "Signed in to Outlook.", json_output)
        return
    if caldav:
        _login_caldav(settings, secret_stdin, store_file, json_output)
        return
    username = _username(settings)
    secret = read_secret(secret_stdin, "PSA API secret")
    _verify(settings, secret)
    where = secrets.store(secrets.psa_key(username), secret, to_file=store_file)
    _report(
        {"signed_in": "psa", "username": username, "stored": where, **_file_field(where)},
        f"Logged in to the PSA as {username}; {_kept(where, 'secret')}{_overridden(settings)}",
        json_output,
    )


def _overridden(settings: Settings) -> str:
    """A warning when what was just stored is not what later commands will use."""
    source = secrets.psa_secret_source(settings.psa.username, settings.psa.secret_command)
    if source == secrets.ENVIRONMENT:
        return f" But {secrets.PSA_SECRET_ENV} is set here, and wins over the stored secret."
    if source == secrets.COMMAND:
        return " But psa.secret_command is set, and wins over the stored secret."
    return ""


def _login_caldav(settings: Settings, secret_stdin: bool, store_file: bool, json_output: bool) -> None:
    from calferry.personal.radicale import DEFAULT_USER

    username = settings.personal.username or DEFAULT_USER
    password = read_secret(secret_stdin, f"Calendar password of {username}")
    where = secrets.store(secrets.caldav_key(username), password, to_file=store_file)
    _report(
        {"signed_in": "caldav", "username": username, "stored": where, **_file_field(where)},
        f"Kept the calendar password of {username}; {_kept(where, 'password')}",
        json_output,
    )


def keyring_or_file(store_file: bool) -> None:
    """Before asking for anything: without a real OS keyring, only the file the person chose goes on
    (--store-file now, or earlier for this home)."""
    if store_file or secrets.os_keyring() is not None or secrets.secrets_file().exists():
        return
    raise CredentialsMissing(
        "there is no OS keyring on this machine to keep the secret in; nothing was stored",
        hint=secrets.NO_KEYRING_HINT,
    )


def _kept(where: str, what: str) -> str:
    if where == secrets.KEYRING:
        return f"the {what} is kept in the OS keyring."
    return (
        f"the {what} is kept UNENCRYPTED in {secrets.secrets_file()}, a file only your user account "
        "can read; anyone with access to that account or its backups can read it."
    )


def _file_field(where: str) -> dict[str, str]:
    return {"file": str(secrets.secrets_file())} if where == secrets.FILE else {}


@handles_errors
def logout(
    outlook: OutlookOption = False, caldav: CaldavOption = False, json_output: JsonOption = False
) -> None:
    """Forget the stored PSA secret (or the Outlook sign-in, or the CalDAV password) on this device."""
    settings = load_settings()
    if outlook:
        outlook_sign_out(settings)
        _report({"signed_out": "outlook"}, "Signed out of Outlook.", json_output)
        return
    if caldav:
        from calferry.personal.radicale import DEFAULT_USER

        user = settings.personal.username or DEFAULT_USER
        gone = secrets.delete(secrets.caldav_key(user))
        said = (
            f"Forgot the calendar password of {user}."
            if gone
            else f"No calendar password was stored for {user}."
        )
        _report({"signed_out": "caldav", "username": user, "removed": gone}, said, json_output)
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


def read_secret(from_stdin: bool, prompt: str) -> str:
    """The secret from stdin (one line) or a hidden prompt; never echoed."""
    if from_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    else:
        secret = typer.prompt(prompt, hide_input=True, default="", show_default=False)
    if not secret.strip():
        raise InputError("no secret was given; nothing was stored")
    return secret


def _verify(settings: Settings, secret: str) -> None:
    """One cheap authenticated request; a refused secret is not stored."""
    client = psa_client(settings.psa, secret)
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
