"""The server's own error: an HTTP status plus Autotask's ``{"errors": [...]}`` body."""

from __future__ import annotations

from calferry.errors import CalferryError

PERMISSION_CREATE = (
    "The logged in Resource does not have the adequate permissions to create this entity type."
)
NO_MATCHING_RECORDS = (
    "No message. No matching records found. "
    "The logged in Resource may not have the required permissions to delete the data."
)
"""Autotask's 500 answer to a DELETE of an id that is not there (django-autotask quotes it)."""
UNKNOWN_USER = "Zone information could not be determined"
"""Autotask's 500 for a user name it does not know (zone look-up and API calls alike)."""
INVALID_CODE = "IntegrationCode is invalid."
"""Autotask's 500 for a wrong ``ApiIntegrationCode`` (only a wrong ``Secret`` gets 401)."""

MAX_MESSAGE = 500
"""Characters of one message: an error that echoes a hostile 50 kB value must not answer with all of it."""


def _safe(message: str) -> str:
    """Short, and encodable as UTF-8: a message may quote a value with a lone surrogate from the request."""
    clean = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return clean if len(clean) <= MAX_MESSAGE else clean[: MAX_MESSAGE - 3] + "..."


class ApiError(CalferryError):
    """Answered as ``{"errors": messages}`` with ``status`` (500 unless said, as Autotask does)."""

    def __init__(self, *messages: str, status: int = 500, headers: dict[str, str] | None = None) -> None:
        self.messages = [_safe(m) for m in messages]
        super().__init__("; ".join(self.messages))
        self.status = status
        self.headers = headers or {}
