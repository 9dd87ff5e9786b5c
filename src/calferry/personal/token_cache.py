"""The Outlook sign-in (msal's token cache) kept in the OS keyring, split into entries small enough for it.

msal's cache holds an access, a refresh and an id token: several KB. Windows Credential Manager keeps
at most 2,560 bytes per entry (about 1,280 characters, as keyring writes UTF-16) and refuses more with
a ``pywintypes.error`` ("The stub received bad data"), which is not a keyring error. So a cache longer
than :data:`PART` characters is kept in parts: the entry ``name`` holds a header naming how many parts
there are and a tag of their content, and the parts live under ``name:tag:index``. The header is
written after the parts, so an interrupted save leaves the previous sign-in readable; the previous
parts are removed afterwards. A short cache (and one kept before parts existed) is a single entry.

Every failure of the keyring, whatever the backend raises, becomes a :class:`CredentialsMissing`
that says what could not be kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar

from calferry import secrets
from calferry.errors import CalferryError, CredentialsMissing

PART = 1000
"""Characters per entry: below Windows Credential Manager's 1,280, whatever the backend."""
_HEADER = "calferry-parts:"
_T = TypeVar("_T")


def save(name: str, value: str) -> None:
    """Keep ``value`` under ``name``, in parts when it is long."""
    previous = _parts(_guarded("read", secrets.load, name), name)
    if len(value) <= PART:
        _guarded("keep", secrets.store, name, value)
    else:
        tag = hashlib.sha256(value.encode()).hexdigest()[:12]
        chunks = [value[i : i + PART] for i in range(0, len(value), PART)]
        for index, chunk in enumerate(chunks):
            _guarded("keep", secrets.store, f"{name}:{tag}:{index}", chunk)
        _guarded("keep", secrets.store, name, f"{_HEADER}{tag}:{len(chunks)}")
    for part in set(previous) - set(_parts(_guarded("read", secrets.load, name), name)):
        _guarded("remove", secrets.delete, part)


def load(name: str) -> str | None:
    """The value kept under ``name`` (joined from its parts), or None; a part missing is a clear error."""
    head = _guarded("read", secrets.load, name)
    if head is None or not head.startswith(_HEADER):
        return head
    chunks = [_guarded("read", secrets.load, part) for part in _parts(head, name)]
    if any(chunk is None for chunk in chunks):
        raise CredentialsMissing(
            "part of the Outlook sign-in is missing from the OS keyring",
            hint="sign in to Outlook again: `calferry login --outlook`",
        )
    return "".join(chunk or "" for chunk in chunks)


def forget(name: str) -> bool:
    """Remove ``name`` and its parts; False if nothing was kept."""
    parts = _parts(_guarded("read", secrets.load, name), name)
    for part in parts:
        _guarded("remove", secrets.delete, part)
    return bool(_guarded("remove", secrets.delete, name))


def _parts(head: str | None, name: str) -> list[str]:
    """The entry names of the parts a header names (none for a single entry)."""
    if head is None or not head.startswith(_HEADER):
        return []
    tag, _, count = head.removeprefix(_HEADER).partition(":")
    return [f"{name}:{tag}:{index}" for index in range(int(count) if count.isdigit() else 0)]


def _guarded(action: str, call: Callable[..., _T], *args: str) -> _T:
    """Any failure of the keyring backend (Windows raises its own error types) as a clear error."""
    try:
        return call(*args)
    except CalferryError:
        raise
    except Exception as exc:
        detail = " ".join(str(a) for a in exc.args if isinstance(a, str)) or type(exc).__name__
        raise CredentialsMissing(
            f"the OS keyring could not {action} the Outlook sign-in ({detail})",
            hint="see “Where the sign-in is kept” in docs/outlook.md",
        ) from exc
