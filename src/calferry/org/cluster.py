"""A private PostgreSQL cluster (Debian's ``initdb``/``pg_ctl``): the org service's embedded default.

``calferry org demo`` and the tests need a PostgreSQL nobody installed for them. ``PrivateCluster``
initdb's a data directory once, starts a server on it and stops it again. It listens on a unix socket
inside its own 0700 directory (so trust authentication admits only this user), and on a loopback port
only when asked. PostgreSQL refuses to run as root; run as root (containers, CI), the cluster runs as
the ``postgres`` system user in a throw-away directory of its own, since a private home is closed to it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from calferry.errors import ConfigError

__all__ = ["PrivateCluster", "server_binaries"]

SUPERUSER = "postgres"
START_SECONDS = 30


def server_binaries() -> Path:
    """The newest ``/usr/lib/postgresql/*/bin`` holding ``initdb`` (Debian's ``postgresql`` package)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major)
    if not found:
        raise ConfigError(
            "the PostgreSQL server programs are not installed",
            hint="install the 'postgresql' package, or give the address of an existing server",
        )
    return Path(found[-1]).parent


def _major(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


class PrivateCluster:
    """One cluster under ``root`` (``root/data``, socket and log beside it).

    ``start`` initdb's on first use and is a no-op for a running cluster; ``stop`` is fast (immediate
    mode: the data is a demo's or a test's). Use as a context manager to stop on exit.
    """

    def __init__(self, root: Path, *, tcp_port: int | None = None, durable: bool = True) -> None:
        self.bin_dir = server_binaries()
        self.as_root = os.geteuid() == 0
        # PostgreSQL refuses root, and the postgres user cannot enter a private home: a directory of its own.
        self.root = Path(tempfile.mkdtemp(prefix="calferry-pg-")) if self.as_root else root
        self.ephemeral = self.as_root
        self.tcp_port = tcp_port
        self.durable = durable
        self._prefix = ["runuser", "-u", SUPERUSER, "--"] if self.as_root else []

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` (psycopg 3): over loopback when it listens there, else over
        the unix socket."""
        if self.tcp_port:
            return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.tcp_port}/{database}"
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.socket_dir}"

    def start(self) -> PrivateCluster:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.as_root:
            shutil.chown(self.root, SUPERUSER, SUPERUSER)
        if not (self.data / "PG_VERSION").exists():
            self._run("set up", "initdb", "-D", str(self.data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8",
                      *([] if self.durable else ["--no-sync"]))  # fmt: skip
        if self._running():
            return self
        listen = f"127.0.0.1 -p {self.tcp_port}" if self.tcp_port else "''"
        options = f"-k {self.socket_dir} -c listen_addresses={listen}"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off"
        log = str(self.root / "server.log")
        self._run("start", "pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", str(START_SECONDS), "-o", options,
                  "start")  # fmt: skip
        return self

    def stop(self) -> None:
        if self._running():
            self._run("stop", "pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        if self.ephemeral:
            shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """Create ``name`` unless it exists; its URL."""
        import psycopg

        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{_identifier(name)}"')
        return self.url(name)

    def _conninfo(self, database: str) -> str:
        port = f" port={self.tcp_port}" if self.tcp_port else ""
        return f"host={self.socket_dir}{port} user={SUPERUSER} dbname={database}"

    def _running(self) -> bool:
        result = subprocess.run(
            [*self._prefix, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def _run(self, what: str, program: str, *args: str) -> None:
        result = subprocess.run(
            [*self._prefix, str(self.bin_dir / program), *args], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise ConfigError(
                f"the private PostgreSQL did not {what}: " + " ".join(tail),
                hint=f"see {self.root / 'server.log'}",
            )

    def __enter__(self) -> PrivateCluster:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ConfigError(f"{name!r} is not a database name calferry makes (letters, digits, _)")
    return name
