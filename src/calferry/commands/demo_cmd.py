"""``calferry demo``: everything on the embedded defaults, in one command, stopped by one Ctrl-C.

It starts the local Autotask-compatible PSA server with demo data, an embedded Radicale calendar
seeded with a week of items, and the web page, all on loopback; writes a config with integration
enabled into its own ``CALFERRY_HOME``; and prints what to try. The PSA server and the web page run
in-process (uvicorn on pre-bound sockets in threads), Radicale as a child process. Data is kept
between runs in the same home (nothing is seeded twice); ``--reset`` starts from scratch.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import sys
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from calferry.commands.common import JsonOption, console, err_console, handles_errors
from calferry.errors import ConfigError

HOST = "127.0.0.1"
DEFAULT_HOME = ".calferry-demo"
MARKER = ".calferry-demo-home"  # marks a folder --reset may wipe
DEMO_RESOURCE = "tech.ny"  # the seed's New York technician: has CRM access, so To-Dos work
DEMO_COMPANY = "Contoso Dental"
DEMO_ITEM = "demo-onsite-acme"  # a plain appointment of the demo calendar, a good first Send


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


@dataclass(frozen=True)
class DemoResource:
    """The technician the demo acts as: their e-mail in the PSA and their location's time zone."""

    email: str
    name: str
    time_zone: str


def demo_resource() -> DemoResource:
    """Read from the seed's tables, so the demo follows the seed if it changes."""
    from calferry.psa.server.seed import DEMO_DOMAIN, LOCATIONS, TECHNICIANS
    from calferry.psa.zones import iana_zone

    first, last, mail, location, _level = next(t for t in TECHNICIANS if t[2] == DEMO_RESOURCE)
    zone = next(iana_zone(tz) for loc_id, _name, tz in LOCATIONS if loc_id == location)
    return DemoResource(f"{mail}@{DEMO_DOMAIN}", f"{first} {last}", zone or "UTC")


@handles_errors
def demo(
    home: Annotated[
        Path | None,
        typer.Option(help="State folder of the demo (default: CALFERRY_HOME if set, else ./.calferry-demo)."),
    ] = None,
    psa_port: Annotated[int, typer.Option(help="Port of the PSA server (0: any free port).")] = 8080,
    calendar_port: Annotated[
        int, typer.Option(help="Port of the Radicale calendar (0: any free port).")
    ] = 5232,
    web_port: Annotated[int, typer.Option(help="Port of the web page (0: any free port).")] = 8765,
    web: Annotated[bool, typer.Option("--web/--no-web", help="Also serve the web page.")] = True,
    open_browser: Annotated[
        bool | None,
        typer.Option(
            "--open/--no-open", help="Open the web page in a browser (default: if a display exists)."
        ),
    ] = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="Wipe the demo's home first and seed afresh.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Start a local PSA with demo data, a personal calendar and the web page; Ctrl-C stops them all."""
    folder = _prepare_home(home, reset)
    resource = demo_resource()
    with _stop_requested() as stop, contextlib.ExitStack() as stack:
        psa = _start_psa(stack, psa_port)
        calendar_url = _start_calendar(stack, folder, calendar_port, resource.time_zone)
        notes = _configure(psa.url, calendar_url, resource)
        page = _start_web(stack, web_port) if web else None
        servers = [s for s in (psa, page) if s is not None]
        web_url = page.url if page else None
        _announce(_summary(folder, psa.url, calendar_url, web_url, resource), notes, json_output)
        if web_url and _should_open(open_browser):
            _open_later(web_url)
        _wait(stop, servers)
    if not json_output:
        console.print("calferry demo stopped.")


# --- the home ----------------------------------------------------------------------------------


def _prepare_home(home: Path | None, reset: bool) -> Path:
    """Resolve the home, wipe it on --reset, and point every calferry module at it (paths.home)."""
    folder = (home or Path(os.environ.get("CALFERRY_HOME") or DEFAULT_HOME)).expanduser().resolve()
    if reset and folder.exists():
        _wipe(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).touch()
    os.environ["CALFERRY_HOME"] = str(folder)
    return folder


def _wipe(folder: Path) -> None:
    """Only a folder the demo made (or an empty one) is wiped: --reset must never eat a real home."""
    if (folder / MARKER).exists() or not any(folder.iterdir()):
        shutil.rmtree(folder)
        return
    raise ConfigError(
        f"refusing to wipe {folder}: it is not a calferry demo home", hint="pick another --home"
    )


# --- the servers -------------------------------------------------------------------------------


class _UvicornThread:
    """One in-process uvicorn server on a listening socket, in a daemon thread; ``stop`` ends it."""

    def __init__(self, app: Any, sock: socket.socket, url: str, name: str) -> None:
        import uvicorn

        self.url = url
        self.sock = sock
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        )
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name=name, daemon=True
        )

    def start(self, timeout: float = 15.0) -> _UvicornThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self.server.started:
            self.stop()
            raise ConfigError(f"the {self.thread.name} did not start on {self.url}")
        return self

    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(10)
        self.sock.close()


def _listening(bind: Callable[[str, int], socket.socket], port: int, flag: str) -> socket.socket:
    try:
        sock = bind(HOST, port)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {HOST}:{port}: {exc.strerror}", hint=f"pass {flag} 0 for any free port"
        ) from exc
    return sock


def _start_psa(stack: contextlib.ExitStack, port: int) -> _UvicornThread:
    """The PSA server on psa/psa.sqlite3 in the home; ``--seed demo`` fills only an empty database."""
    from calferry.commands.psa_cmd import default_db_url
    from calferry.psa.server.app import base_url, bind, create_app
    from calferry.psa.server.state import Settings

    app = create_app(Settings(default_db_url(), seed="demo"))
    stack.callback(app.state.psa.engine.dispose)
    sock = _listening(bind, port, "--psa-port")
    server = _UvicornThread(app, sock, base_url(sock), "PSA server").start()
    stack.callback(server.stop)
    return server


def _start_calendar(stack: contextlib.ExitStack, folder: Path, port: int, time_zone: str) -> str:
    """Radicale with its storage in the home, behind the home's own password (made on the first start,
    kept in the home's secrets file as the demo PSA secret is); the first start loads the demo week."""
    from calferry.personal import radicale

    storage = folder / "calendar"
    collection = storage / "collection-root" / radicale.DEFAULT_USER / radicale.DEFAULT_CALENDAR
    first_start = not (collection / ".Radicale.props").exists()
    if port:
        _listening(_probe, port, "--calendar-port").close()  # else a server already there looks like ours
    password, _ = radicale.install_password(to_file=True)
    passwords = radicale.write_htpasswd(password)
    server = radicale.RadicaleServer(storage, host=HOST, port=port, htpasswd=passwords).start(quiet=True)
    stack.callback(server.stop)
    url = server.calendar_url()
    if first_start:
        radicale.bulk_put(url, _demo_week(time_zone), password=password)
    return url


def _probe(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _demo_week(time_zone: str) -> bytes:
    from icalendar import Calendar

    from calferry.demo_data import demo_calendar

    calendar = Calendar.from_ical(demo_calendar(_today(time_zone), time_zone))
    calendar.add("x-wr-calname", "calferry demo")  # Radicale takes it as the calendar's display name
    return bytes(calendar.to_ical())


def _start_web(stack: contextlib.ExitStack, port: int) -> _UvicornThread:
    from calferry.web.app import bind, create_app, default_service_factory, url_of

    sock = _listening(bind, port, "--web-port")
    server = _UvicornThread(create_app(default_service_factory()), sock, url_of(sock), "web page").start()
    stack.callback(server.stop)
    return server


# --- config and secret -------------------------------------------------------------------------


def _configure(psa_url: str, calendar_url: str, resource: DemoResource) -> list[str]:
    """Point the config at the demo servers (ports may change per run); returns notes for the person."""
    from calferry import config
    from calferry.personal.radicale import DEFAULT_USER
    from calferry.psa.server import DEMO_INTEGRATION_CODE, DEMO_USERNAME

    config.write_settings(
        {
            "calendar.enabled": "true",
            "personal.backend": "caldav",
            "personal.url": calendar_url,
            "personal.username": DEFAULT_USER,
            "psa.base_url": psa_url,
            "psa.username": DEMO_USERNAME,
            "psa.integration_code": DEMO_INTEGRATION_CODE,
            "psa.resource": resource.email,
        }
    )
    return _store_secret(DEMO_USERNAME)


def _store_secret(username: str) -> list[str]:
    """The demo secret is public and belongs to this home only: it goes into the home's secrets file
    (0600), next to the calendar's password, never into the OS keyring where it would outlive the demo."""
    from calferry import secrets
    from calferry.psa.server import DEMO_SECRET

    secrets.store(secrets.psa_key(username), DEMO_SECRET, to_file=True)
    return [
        f"The calendar asks for user calferry and the password made for this demo, kept in "
        f"{secrets.secrets_file()} (calferry finds it itself; a calendar app needs it)."
    ]


# --- output ------------------------------------------------------------------------------------


def _summary(
    folder: Path, psa_url: str, calendar_url: str, web_url: str | None, resource: DemoResource
) -> dict[str, Any]:
    return {
        "home": str(folder),
        "psa_url": psa_url,
        "calendar_url": calendar_url,
        "web_url": web_url,
        "resource": resource.email,
        "try": _try_lines(folder, resource, web_url),
    }


def _program() -> str:
    """``calferry`` when the shell finds this very program, else its full path (a venv not activated)."""
    here = Path(sys.argv[0]).resolve()
    if here.name != "calferry":
        return "calferry"
    found = shutil.which("calferry")
    return "calferry" if found and Path(found).resolve() == here else shlex.quote(str(here))


def _try_lines(folder: Path, resource: DemoResource, web_url: str | None) -> list[str]:
    """Copy-pasteable commands against this demo; the To-Do is for tomorrow in the resource's zone."""
    prefix = f"CALFERRY_HOME={shlex.quote(str(folder))} {_program()}"
    tomorrow = _today(resource.time_zone) + timedelta(days=1)
    lines = [
        f"{prefix} items",
        f"{prefix} send {DEMO_ITEM} --dry-run",
        f"{prefix} send {DEMO_ITEM}",
        f"{prefix} get",
        f'{prefix} add todo --company "{DEMO_COMPANY}" --start {tomorrow}T10:00 --end {tomorrow}T10:30 '
        '--description "Call about the backup report"',
        f"{prefix} status",
    ]
    return lines + ([_open_hint(web_url)] if web_url else [])


_OPENERS = {"darwin": "open", "win32": "start"}


def _open_hint(url: str) -> str:
    """A command that opens the page where this system has one; else the address, to click or paste."""
    opener = _OPENERS.get(sys.platform) or ("xdg-open" if shutil.which("xdg-open") else None)
    return f"{opener} {url}" if opener else f"the web page, in any browser: {url}"


def _announce(info: dict[str, Any], notes: list[str], as_json: bool) -> None:
    """With --json one line on stdout, flushed (callers wait for it); notes always go to stderr then."""
    if as_json:
        sys.stdout.write(json.dumps(info, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        for note in notes:
            err_console.print(note, highlight=False, markup=False, soft_wrap=True)
        return
    say = console.print
    say(f"calferry demo is running, acting as {info['resource']} (Ctrl-C stops it all)", highlight=False)
    say(f"  home:         {info['home']}", highlight=False, soft_wrap=True)
    say(f"  PSA server:   {info['psa_url']}", highlight=False, soft_wrap=True)
    say(f"  calendar:     {info['calendar_url']}", highlight=False, soft_wrap=True)
    if info["web_url"]:
        say(f"  web page:     {info['web_url']}", highlight=False, soft_wrap=True)
    for note in notes:
        say(note, highlight=False, markup=False, soft_wrap=True)
    say("Try, in another shell:")
    for line in info["try"]:
        say(f"  {line}", highlight=False, markup=False, soft_wrap=True)
    sys.stdout.flush()


def _should_open(choice: bool | None) -> bool:
    """By default only where a browser can show up: a desktop OS, or X11/Wayland on Linux."""
    if choice is not None:
        return choice
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _open_later(url: str) -> None:
    """In a daemon thread: some browsers block their launcher, and a failure must not stop the demo."""

    def attempt() -> None:
        with contextlib.suppress(Exception):  # no browser is fine: the URL is printed
            webbrowser.open(url)

    threading.Thread(target=attempt, name="open browser", daemon=True).start()


# --- running until stopped ---------------------------------------------------------------------


@contextlib.contextmanager
def _stop_requested() -> Iterator[threading.Event]:
    """Ctrl-C and SIGTERM set the event instead of killing us, so every server is stopped cleanly."""
    stop = threading.Event()

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _wait(stop: threading.Event, servers: list[_UvicornThread]) -> None:
    """Until a stop request, or until a server thread ended on its own (then say so and stop the rest)."""
    while not stop.wait(0.5):
        dead = [s for s in servers if not s.alive()]
        if dead:
            err_console.print(f"the {dead[0].thread.name} stopped; stopping the demo", highlight=False)
            return


def _today(time_zone: str) -> date:
    return datetime.now(ZoneInfo(time_zone)).date()
