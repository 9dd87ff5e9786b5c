"""Open the configured personal calendar: ``personal.backend`` = caldav | ics | graph | memory.

- caldav: ``personal.url`` (empty: the embedded calendar of ``calferry calendar serve`` on its default
  port), ``personal.username``; the password is the keyring entry ``caldav:<username>``, else the
  environment variable ``CALFERRY_CALDAV_PASSWORD``, else empty (Radicale on loopback needs none).
- ics: ``personal.path`` (empty: ``personal.ics`` in CALFERRY_HOME).
- graph: ``calferry.personal.graph.GraphCalendar.from_settings(settings)``, imported only when asked for.
- memory: an empty in-memory calendar (dry runs and demos).
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, cast

from calferry import paths, secrets
from calferry.errors import ConfigError
from calferry.personal.base import PersonalCalendar
from calferry.personal.radicale import DEFAULT_CALENDAR, DEFAULT_PORT, DEFAULT_USER

if TYPE_CHECKING:
    from calferry.config import Settings

CALDAV_PASSWORD_ENV = "CALFERRY_CALDAV_PASSWORD"
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}/{DEFAULT_USER}/{DEFAULT_CALENDAR}/"


def caldav_key(username: str) -> str:
    """The keyring entry name of a CalDAV password."""
    return f"caldav:{username}"


def caldav_password(username: str) -> str:
    stored = secrets.load(caldav_key(username)) if username else None
    return stored or os.environ.get(CALDAV_PASSWORD_ENV, "")


def open_calendar(settings: Settings) -> PersonalCalendar:
    """The personal calendar the settings name, ready to use (``close()`` it when done)."""
    personal = settings.personal
    if personal.backend == "caldav":
        from calferry.personal.caldav import CalDavCalendar

        username = personal.username or DEFAULT_USER
        return CalDavCalendar(personal.url or DEFAULT_URL, username, caldav_password(username))
    if personal.backend == "ics":
        from calferry.personal.ics import IcsCalendar

        return IcsCalendar(personal.path or paths.home() / "personal.ics")
    if personal.backend == "graph":
        graph = importlib.import_module("calferry.personal.graph")
        return cast(PersonalCalendar, graph.GraphCalendar.from_settings(settings))
    if personal.backend == "memory":
        from calferry.personal.memory import MemoryCalendar

        return MemoryCalendar()
    raise ConfigError(f"unknown personal.backend {personal.backend!r}", hint="caldav, ics, graph or memory")
