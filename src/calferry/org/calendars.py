"""A technician's own calendar as the org service opens it: their Outlook mailbox or their CalDAV calendar.

- Outlook: the org's Graph application (:mod:`calferry.org.graph_app`) on ``users/{mailbox}``, the
  mailbox being the technician's row's (their e-mail address unless the admin gave another). The
  adapter is the one-technician :class:`~calferry.personal.graph.GraphCalendar`: delta per mailbox and
  window, ``$batch``, four requests in flight per mailbox (each mailbox its own gate, so a mailbox that
  Outlook throttles slows only itself), ``transactionId`` on creates.
- CalDAV: the row's URL and user name; the password is what ``caldav_secret_command`` prints for the
  technician's e-mail address, or none (a server without authentication). The worker's own CalDAV
  settings (``personal.password_command``, ``CALFERRY_CALDAV_PASSWORD``) are one technician's and are
  never used for another.
"""

from __future__ import annotations

from calferry import secrets
from calferry.errors import ConfigError
from calferry.org.graph_app import GraphApp, app_tokens
from calferry.org.personal_settings import EMAIL_FIELD, GRAPH_URL
from calferry.org.store import OrgSettings, Technician
from calferry.personal.base import PersonalCalendar

__all__ = ["caldav_password", "mailbox_of", "open_calendar"]


def open_calendar(org: OrgSettings, technician: Technician, time_zone: str) -> PersonalCalendar:
    """The technician's calendar, ready to use (``close()`` it); ``time_zone`` is theirs (all-day items)."""
    if technician.backend == "graph":
        from calferry.personal.graph import GraphCalendar

        return GraphCalendar(
            token_provider=app_tokens(GraphApp.of(org)),
            base_url=org.graph_url or GRAPH_URL,
            mailbox=mailbox_of(technician),
            time_zone=time_zone,
        )
    from calferry.personal.caldav import CalDavCalendar
    from calferry.personal.radicale import DEFAULT_USER

    return CalDavCalendar(
        technician.calendar, technician.username or DEFAULT_USER, caldav_password(org, technician)
    )


def mailbox_of(technician: Technician) -> str:
    """The Outlook mailbox of a technician: the one on their row, else their e-mail address."""
    mailbox = technician.calendar.strip() or technician.email
    if "@" not in mailbox or any(c.isspace() or ord(c) < 32 or c in "/?#" for c in mailbox):
        raise ConfigError(
            f"{mailbox!r} is not an Outlook mailbox address",
            hint="add the technician again with their mailbox address as their calendar (docs/org-outlook.md)",
        )
    return mailbox


def caldav_password(org: OrgSettings, technician: Technician) -> str:
    """What the admin's command prints for this technician; empty without a command (no authentication)."""
    if not org.caldav_secret_command:
        return ""
    return secrets.run_command(org.caldav_secret_command, {EMAIL_FIELD: technician.email})
