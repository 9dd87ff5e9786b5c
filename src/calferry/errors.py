"""Every error calferry raises, in one tree.

Code above an adapter only ever sees these; library exceptions (httpx, caldav, icalendar,
SQLAlchemy) are translated at the adapter edge with ``raise ... from exc``. A ``UserError`` is
something the person can fix: the CLI prints its message and exits with its ``exit_code``; any
other exception is a bug and gets a traceback.

    CalferryError
     ├── UserError                         exit 2   a person can act on it
     │    ├── ConfigError                  exit 3   bad config file, key or value
     │    ├── IntegrationDisabled          exit 3   R1: calendar integration is off
     │    ├── CredentialsMissing           exit 4   R12: no stored secret, no env fallback
     │    ├── InputError                   exit 5   bad input: nothing was changed
     │    │    ├── MalformedCalendar                a .ics file or item that cannot be read
     │    │    ├── MappingError                     an item that cannot be mapped (To-Do without company,
     │    │    │                                    missing end, recurring item as To-Do, ...)
     │    │    └── LookupFailed                     unknown company / contact / action type / ticket
     │    ├── NotFound                     exit 6   an item, occurrence or series that is not there
     │    ├── Conflict                     exit 7
     │    │    ├── StaleVersion                     optimistic concurrency: the item changed meanwhile
     │    │    ├── GuardTripped                     a run that would lose data stopped on purpose
     │    │    │    ├── SideLooksEmpty              a side suddenly lists nothing
     │    │    │    └── TooManyDeletions            a Get would delete more than the threshold
     │    │    └── LockBusy                exit 10  another calferry run holds the link store
     │    ├── PermissionDenied             exit 8   R33: the PSA refused for lack of permission
     │    │    └── ImpersonationRefused                the PSA will not let the API user act as you
     │    └── RemoteError                  exit 9   a server answered badly or not at all
     │         ├── PsaError                         the Autotask API (or ``calferry psa serve``)
     │         │    ├── PsaAuthError                bad integration code, user name (500) or secret (401)
     │         │    ├── PsaValidationError          the PSA rejected the data (its messages kept)
     │         │    ├── PsaRateLimited              429 / thread or hourly threshold (retry_after)
     │         │    └── PsaUnavailable              5xx, timeouts, refused connections
     │         └── PersonalCalendarError            the personal calendar server
     │              ├── PersonalUnavailable
     │              └── SyncTokenExpired            the change token was refused: list fully instead
     └── (anything else is a bug)

``PermissionDenied`` and ``NotFound`` are raised by both sides; ``side`` says which.
"""

from __future__ import annotations

import socket


class CalferryError(Exception):
    """Root of every error calferry raises on purpose."""


class UserError(CalferryError):
    """An error a person can act on: printed without a traceback, with an exit code."""

    exit_code = 2
    rule: str | None = None
    """The rule of the spec it enforces (``R14``): for ``--json`` and the audit log, never the message."""

    def __init__(self, message: str, *, hint: str | None = None, rule: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if rule is not None:
            self.rule = rule

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} ({self.hint})"

    @property
    def type_name(self) -> str:
        """The class name, used as the ``type`` of ``--json`` error output."""
        return type(self).__name__


class ConfigError(UserError):
    """The config file or a config value is wrong; ``problems`` lists every one found."""

    exit_code = 3

    def __init__(self, message: str, *, problems: list[str] | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems or []


class IntegrationDisabled(UserError):
    """R1: calendar integration starts disabled; Send and Get refuse until it is enabled."""

    exit_code = 3
    rule = "R1"


class CredentialsMissing(UserError):
    """R12: no stored credentials for this device and no environment fallback."""

    exit_code = 4
    rule = "R12"


class InputError(UserError):
    """Bad input; nothing was changed because of it."""

    exit_code = 5


class MalformedCalendar(InputError):
    """A calendar file or item that cannot be parsed; ``where`` points at it."""

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.where = where


class MappingError(InputError):
    """An item that cannot be mapped to the other side as asked; ``rule`` names the rule it breaks."""

    def __init__(self, message: str, *, rule: str = "R14", hint: str | None = None) -> None:
        super().__init__(message, hint=hint, rule=rule)


class LookupFailed(InputError):
    """A name or id (company, contact, action type, ticket, task, resource) that matches nothing."""


class NotFound(UserError):
    """An item that is not there (any more)."""

    exit_code = 6

    def __init__(self, message: str, *, side: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.side = side


class Conflict(UserError):
    """Two sides or two runs disagree; nothing was overwritten."""

    exit_code = 7


class StaleVersion(Conflict):
    """The item changed since it was read (ETag / changeKey / updateDateTime mismatch)."""


class MeetingNotChanged(Conflict):
    """A change to a meeting the person organises was not made: Outlook would have mailed its attendees."""


class GuardTripped(Conflict):
    """A run stopped because it would lose data; an explicit override flag lets it go on."""


class SideLooksEmpty(GuardTripped):
    """One side suddenly lists nothing while links say it had items."""


class TooManyDeletions(GuardTripped):
    """A Get would delete more personal items than the threshold allows."""


class LockBusy(Conflict):
    """Another calferry run holds the link store: nothing was tried, the same command may simply be run
    again later. Its own exit code, so a scheduler tells it from a stale saved plan (7), which needs a
    new plan."""

    exit_code = 10


class PermissionDenied(UserError):
    """R33: the PSA (or calendar) refused for lack of permission."""

    exit_code = 8
    rule = "R33"

    def __init__(self, message: str, *, side: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.side = side


class ImpersonationRefused(PermissionDenied):
    """The PSA refused to let the API user act as the technician (``ImpersonationResourceId``)."""


class RemoteError(UserError):
    """A server answered with an error, or not at all."""

    exit_code = 9

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class PsaError(RemoteError):
    """The Autotask REST API (or the local ``calferry psa serve``) failed."""


class PsaAuthError(PsaError):
    """The credentials are wrong: a secret (401), or an integration code or user name (Autotask's 500)."""


class PsaValidationError(PsaError):
    """The PSA rejected the data; ``messages`` are the PSA's own words."""

    def __init__(self, message: str, *, messages: list[str] | None = None, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.messages = messages or []


class PsaRateLimited(PsaError):
    """429, thread or hourly threshold exceeded; ``retry_after`` in seconds when the server said."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = 429) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class PsaUnavailable(PsaError):
    """5xx, timeout, refused or dropped connection."""


class PersonalCalendarError(RemoteError):
    """The personal calendar (CalDAV server, Graph, file system) failed."""


class PersonalUnavailable(PersonalCalendarError):
    """The personal calendar cannot be reached."""


class SyncTokenExpired(PersonalCalendarError):
    """The change token was refused; the caller lists fully instead."""


_CONNECTION_FAILURES: tuple[tuple[type[OSError], str], ...] = (
    (socket.gaierror, "unknown host"),
    (ConnectionRefusedError, "connection refused"),
    (ConnectionResetError, "connection reset"),
    (TimeoutError, "timed out"),
)


def connection_failure(exc: BaseException) -> str:
    """Why a connection failed, in a word or two, for an adapter's ``...Unavailable`` message.

    The answer is the operating system's error at the bottom of the library's chain: the libraries'
    own texts run to hundreds of characters, with object addresses and retry counts.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    innermost = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        innermost = current
        for kind, words in _CONNECTION_FAILURES:
            if isinstance(current, kind):
                return words
        current = current.__cause__ or current.__context__
    return type(innermost).__name__
