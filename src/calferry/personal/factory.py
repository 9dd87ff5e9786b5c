"""Open the configured personal calendar: ``personal.backend`` = caldav | ics | graph | memory.

- caldav: ``personal.url`` (required: an empty one is a config error, never a guess that could be
  someone else's calendar on a shared machine), ``personal.username``; the password from :func:`calferry.secrets.caldav_password`
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
from calferry.personal.radicale import DEFAULT_USER

if TYPE_CHECKING:
    from calferry.config import Settings


def caldav_url(settings: Settings) -> str:
    """``personal.url``; empty is a config error that says what to set."""
    if not settings.personal.url.strip():
        raise ConfigError(
            "personal.url is not set: calferry needs the address of your CalDAV calendar",
            hint="calferry config set personal.url <calendar URL>; `calferry calendar serve` prints the "
            "URL of the embedded calendar",
        )
    return settings.personal.url


def calendar_location(settings: Settings) -> str:
    """Which calendar the settings name, in words for ``status`` (nothing is opened)."""
    personal = settings.personal
    if personal.backend == "caldav":
        return personal.url or "not set (personal.url)"
    if personal.backend == "ics":
        return str(personal.path or paths.home() / "personal.ics")
    if personal.backend == "graph":
        return f"{personal.graph_url} ({personal.graph_calendar or 'the default calendar'})"
    return "in memory (nothing is kept)"


def open_calendar(settings: Settings) -> PersonalCalendar:
    """The personal calendar the settings name, ready to use (``close()`` it when done)."""
    personal = settings.personal
    if personal.backend == "caldav":
        from calferry.personal.caldav import CalDavCalendar

        username = personal.username or DEFAULT_USER
        return CalDavCalendar(
            caldav_url(settings),
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
