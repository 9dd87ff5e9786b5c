"""Run Radicale as the embedded default personal calendar (``calferry calendar serve``, tests, the demo).

Radicale runs as a child process (Radicale's own ``run()`` with ``--config ""``, behind the Host check
of :mod:`calferry.personal.radicale_host`), so its threads never compete with ours for the GIL and
stopping it is one SIGTERM. A request for any host name but the bound address (and, on loopback,
``localhost``/``127.0.0.1``/``[::1]``) is refused, against DNS rebinding. With an htpasswd file it
checks passwords (``calferry calendar serve`` makes one from a generated per-install password); without
one, allowed only on loopback, it runs with ``auth = none``. Radicale's default since 3.5
(``denyall``) is never used. Rights are ``owner_only``: user ``calferry`` owns ``/calferry/...``.

Seeding: creating items one by one is quadratic in Radicale (each new UID walks the collection), so
:func:`bulk_put` loads a whole multi-VEVENT VCALENDAR with one PUT onto a new collection URL (Radicale
splits it into one item per UID).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_urlsafe

import httpx

from calferry import paths, secrets
from calferry.errors import InputError, PersonalCalendarError, PersonalUnavailable

DEFAULT_USER = "calferry"
DEFAULT_CALENDAR = "calendar"
DEFAULT_PORT = 5232
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


_WILDCARD = ("0.0.0.0", "::", "")


def _machine_names() -> set[str]:
    """This machine's host name, full name and the addresses they resolve to."""
    names = {socket.gethostname(), socket.getfqdn()}
    try:
        found = socket.getaddrinfo(socket.gethostname(), None)
    except OSError:
        found = []
    return {n.lower() for n in names} | {str(info[4][0]) for info in found}


def is_loopback(host: str) -> bool:
    return host in _LOOPBACK


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class RadicaleServer:
    """An embedded Radicale: ``start()`` returns once it answers, ``stop()`` ends the child process."""

    storage: Path
    host: str = "127.0.0.1"
    port: int = 0
    htpasswd: Path | None = None
    log: Path | None = None
    """Radicale's own log, one line per request (info level), appended to this file (benchmarks)."""
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def calendar_url(self, user: str = DEFAULT_USER, calendar: str = DEFAULT_CALENDAR) -> str:
        return f"{self.base_url}/{user}/{calendar}/"

    def start(self, timeout: float = 15.0, *, quiet: bool = False) -> RadicaleServer:
        if not is_loopback(self.host) and self.htpasswd is None:
            raise InputError(
                f"refusing to serve on {self.host} without a password file", hint="pass --htpasswd FILE"
            )
        self.storage.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            self.port = free_port(self.host)
        output = subprocess.DEVNULL if quiet else None
        with contextlib.ExitStack() as files:
            log = files.enter_context(self.log.open("ab")) if self.log else output
            self._process = subprocess.Popen(
                self._command(), stdin=subprocess.DEVNULL, stdout=output, stderr=log
            )
        self._wait_until_up(timeout)
        return self

    def allowed_hosts(self) -> list[str]:
        """The Host headers this server answers, with its port: its address and loopback's names; on
        a wildcard address also this machine's names and addresses."""
        names = {self.host, *_LOOPBACK}
        if self.host in _WILDCARD:
            names |= _machine_names()
        return sorted(f"[{name}]:{self.port}" if ":" in name else f"{name}:{self.port}" for name in names)

    def _command(self) -> list[str]:
        auth = ["--auth-type", "none"]
        if self.htpasswd is not None:
            # a SHA-512 crypt check costs about half a second of CPU: Radicale keeps a successful sign-in
            # for 15 s (by a hash of it), or every request of a sync would pay it
            auth = ["--auth-type", "htpasswd", "--auth-htpasswd-filename", str(self.htpasswd),
                    "--auth-cache-logins", "True"]  # fmt: skip
        host = f"[{self.host}]" if ":" in self.host else self.host
        return [
            sys.executable, "-m", "calferry.personal.radicale_host", ",".join(self.allowed_hosts()), "--",
            "--config", "",
            "--server-hosts", f"{host}:{self.port}",
            "--storage-filesystem-folder", str(self.storage),
            "--rights-type", "owner_only",
            "--logging-level", "info" if self.log else "warning",
            *auth,
        ]  # fmt: skip

    def _wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise PersonalUnavailable(f"Radicale exited with code {self._process.returncode} on start")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise PersonalUnavailable(f"Radicale did not answer on {self.base_url} within {timeout:.0f} s")

    def wait(self) -> int:
        """Block until the server exits (``calferry calendar serve``); returns its exit code."""
        return 0 if self._process is None else self._process.wait()

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def __enter__(self) -> RadicaleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


HTPASSWD_FILE = "calendar.htpasswd"


def install_password(command: str = "", *, to_file: bool = False) -> tuple[str, str]:
    """The embedded calendar's password for user ``calferry`` and where it is kept: the one calferry
    already finds (as any CalDAV password: environment, ``personal.password_command``, keyring, file),
    else a new random one, stored as calferry stores secrets (the OS keyring; the home's file only
    with ``to_file``)."""
    key = secrets.caldav_key(DEFAULT_USER)
    source = secrets.source_of(key, secrets.CALDAV_PASSWORD_ENV, command)
    found = secrets.caldav_password(DEFAULT_USER, command) if source else ""
    if source and found:
        return found, source
    generated = token_urlsafe(24)
    return generated, secrets.store(key, generated, to_file=to_file)


def write_htpasswd(password: str) -> Path:
    """``calendar.htpasswd`` in CALFERRY_HOME (0600): user ``calferry`` with a SHA-512 crypt hash."""
    from passlib.hash import sha512_crypt  # Radicale's own dependency for htpasswd

    path = paths.home() / HTPASSWD_FILE
    paths.write_private(path, f"{DEFAULT_USER}:{sha512_crypt.hash(password)}\n")
    return path


def ensure_calendar(url: str, username: str = DEFAULT_USER, password: str = "") -> bool:
    """Create the calendar collection at ``url`` if it is missing; True when it was created."""
    with httpx.Client(auth=(username, password), timeout=30) as client:
        try:
            found = client.request("PROPFIND", url, headers={"Depth": "0"})
            if found.status_code == 207:
                return False
            made = client.request("MKCALENDAR", url)
        except httpx.HTTPError as exc:
            raise PersonalUnavailable(f"cannot reach {url}: {exc}") from exc
    if made.status_code not in (200, 201):
        raise PersonalCalendarError(
            f"cannot create calendar {url}: HTTP {made.status_code}", status=made.status_code
        )
    return True


def bulk_put(url: str, ics: bytes, username: str = DEFAULT_USER, password: str = "") -> None:
    """Load a whole VCALENDAR onto a *new* collection URL in one PUT (one Radicale item per UID)."""
    headers = {"Content-Type": "text/calendar; charset=utf-8"}
    try:
        response = httpx.put(url, content=ics, headers=headers, auth=(username, password), timeout=300)
    except httpx.HTTPError as exc:
        raise PersonalUnavailable(f"cannot reach {url}: {exc}") from exc
    if response.status_code not in (200, 201, 204):
        raise PersonalCalendarError(
            f"bulk load of {url} failed: HTTP {response.status_code}", status=response.status_code
        )
