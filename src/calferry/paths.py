"""Where calferry keeps its state: ``CALFERRY_HOME`` if set, else the platform's user dirs."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def home() -> Path:
    """The directory for the config, link store, journal, audit log and embedded servers' data."""
    explicit = os.environ.get("CALFERRY_HOME")
    path = Path(explicit) if explicit else Path(platformdirs.user_config_dir("calferry"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir(name: str) -> Path:
    """A sub-directory of :func:`home` for one kind of data (``psa``, ``calendar``, ...)."""
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_file() -> Path:
    return home() / "config.toml"
