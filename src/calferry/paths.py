"""Where calferry keeps its state: ``CALFERRY_HOME`` if set, else the platform's user dirs.

The home holds a snapshot of the personal calendar (private items included), the audit log and maybe
secrets, so it is private: the folder is 0700 and, with :func:`private_umask` set at start, every file
calferry (or the Radicale it starts) writes there is 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

PRIVATE_UMASK = 0o077


def private_umask() -> None:
    """Files and folders this process (and its children) creates are for this user only."""
    os.umask(PRIVATE_UMASK)


def home() -> Path:
    """The directory for the config, link store, journal, audit log and embedded servers' data."""
    explicit = os.environ.get("CALFERRY_HOME")
    path = Path(explicit) if explicit else Path(platformdirs.user_config_dir("calferry"))
    return _private_dir(path)


def data_dir(name: str) -> Path:
    """A sub-directory of :func:`home` for one kind of data (``psa``, ``calendar``, ...)."""
    return _private_dir(home() / name)


def _private_dir(path: Path) -> Path:
    """``path``, made if missing, 0700 (a home made by an earlier version was 0755: tightened)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_mode & 0o077 and info.st_uid == _uid():
        path.chmod(0o700)
    return path


_uid = getattr(os, "getuid", lambda: -1)  # no owner check (and no modes) on Windows


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, 0600 from the first byte whatever the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    tmp.replace(path)


def config_file() -> Path:
    return home() / "config.toml"
