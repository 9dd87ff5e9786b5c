"""The pairing token: how the task pane proves to calferry that it was set up by this machine's user.

``calferry addin pair`` makes a new random token, shows it once, and keeps only its SHA-256 in
CALFERRY_HOME (0600): the file never holds the token itself, and pairing again revokes the old one.
The pane sends it as ``Authorization: Bearer``; it is never the PSA secret, and it reaches nothing
but the add-in's own API.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from calferry import paths

TOKEN_FILE = "addin-token.sha256"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _path() -> Path:
    return paths.home() / TOKEN_FILE


def pair() -> str:
    """A new token (the previous one stops working); only its digest is stored, readable by the owner."""
    token = secrets.token_urlsafe(32)
    path = _path()
    partial = path.with_suffix(".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(_digest(token) + "\n")
    os.replace(partial, path)
    return token


def is_paired() -> bool:
    return _path().exists()


def accepts(token: str | None) -> bool:
    """True when ``token`` is the current pairing token (compared in constant time)."""
    if not token or not is_paired():
        return False
    stored = _path().read_text(encoding="utf-8").strip()
    return hmac.compare_digest(_digest(token), stored)
