"""Open the configured personal calendar: ``personal.backend`` = caldav | ics | graph | memory.

- caldav: ``personal.url`` (empty: the embedded calendar of ``calferry calendar serve`` on its default
  port), ``personal.username``; the password from :func:`calferry.secrets.caldav_password`
  (``CALFERRY_CALDAV_PASSWORD``, ``personal.password_command``, the OS keyring, the home's file), else
  empty (a server without authentication).
- ics: ``personal.path`` (empty: ``personal.ics`` in CALFERRY_HOME).
- graph: ``calferry.personal.graph.GraphCalendar.from_settings(settings)``, imported only when asked for.
- memory: an empty in-memory calendar (dry runs and demos).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, cast

from calferry import paths, secrets
from calferry.errors import ConfigError
from calferry.personal.base import PersonalCalendar
from calferry.personal.radicale import DEFAULT_CALENDAR, DEFAULT_PORT, DEFAULT_USER

if TYPE_CHECKING:
    from calferry.config import Settings

DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}/{DEFAULT_USER}/{DEFAULT_CALENDAR}/"


def open_calendar(settings: Settings) -> PersonalCalendar:
    """The personal calendar the settings name, ready to use (``close()`` it when done)."""
    personal = settings.personal
    if personal.backend == "caldav":
        from calferry.personal.caldav import CalDavCalendar

        username = personal.username or DEFAULT_USER
        return CalDavCalendar(
            personal.url or DEFAULT_URL,
            username,
            secrets.caldav_password(username, personal.password_command),
        )
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
