"""The admin's password and sessions, kept in the org database so any machine can serve the admin page.

- The password is stored only as an argon2id hash (argon2-cffi's defaults, re-hashed on sign-in when
  those defaults grow). ``calferry org init`` sets it; setting it again ends every session.
- A session is an opaque random id (32 bytes) in an HttpOnly, SameSite=Strict cookie. The database keeps
  only its SHA-256, so someone who reads the table cannot sign in with what they read. Sessions end after
  :data:`SESSION_LIFETIME`, by the database's clock (every machine agrees).
- Bad passwords are throttled per address: after :data:`MAX_FAILURES` within :data:`FAILURE_WINDOW`,
  that address is refused until the oldest of them is older than the window, even with the right password.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, text

from calferry.errors import InputError, PermissionDenied

__all__ = [
    "ADMIN",
    "SESSION_LIFETIME",
    "AdminAccounts",
    "SignInRefused",
    "SignInThrottled",
    "check_password",
]

ADMIN = "admin"
SESSION_LIFETIME = timedelta(hours=8)
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
MIN_LENGTH = 10
MAX_LENGTH = 1024
_hasher = PasswordHasher()


class SignInRefused(PermissionDenied):
    """A wrong password, or no admin password set yet."""


class SignInThrottled(SignInRefused):
    """Too many wrong passwords from one address: ``retry_in`` seconds until it may try again."""

    def __init__(self, retry_in: float) -> None:
        minutes = max(1, round(retry_in / 60))
        super().__init__(
            f"Too many wrong passwords from this address: try again in {minutes} minute"
            + ("" if minutes == 1 else "s")
            + "."
        )
        self.retry_in = retry_in


def check_password(password: str) -> str:
    """The new password as given, if it is long enough to be worth hashing; else why not."""
    if len(password) < MIN_LENGTH:
        raise InputError(f"the admin password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InputError(f"the admin password must have at most {MAX_LENGTH} characters")
    return password


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class AdminAccounts:
    """The admin's password, sessions and bad sign-ins on the org database's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def set_password(self, password: str) -> int:
        """Hash and keep the new password; every session ends. How many sessions ended."""
        hashed = _hasher.hash(check_password(password))
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO admins (name, password_hash) VALUES (:n, :h) ON CONFLICT (name) "
                    "DO UPDATE SET password_hash = EXCLUDED.password_hash, changed = now()"
                ),
                {"n": ADMIN, "h": hashed},
            )
            ended = conn.execute(text("DELETE FROM admin_sessions WHERE admin = :n"), {"n": ADMIN})
        return int(ended.rowcount)

    def has_password(self) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(text("SELECT 1 FROM admins WHERE name = :n"), {"n": ADMIN}).first() is not None
            )

    def sign_in(self, password: str, address: str) -> str:
        """A new session's id for the right password; ``SignInRefused`` (or ``SignInThrottled``) else."""
        with self.engine.begin() as conn:
            self._check_throttle(conn, address)
            stored = conn.execute(
                text("SELECT password_hash FROM admins WHERE name = :n FOR UPDATE"), {"n": ADMIN}
            ).scalar()
            if stored is None:
                raise SignInRefused(
                    "No admin password is set yet", hint="set one with `calferry org init` on the server"
                )
            if not self._verified(conn, stored, password):
                conn.execute(text("INSERT INTO admin_signin_failures (address) VALUES (:a)"), {"a": address})
            else:
                return self._new_session(conn, address)
        raise SignInRefused("That password is not right.")

    def _check_throttle(self, conn: Connection, address: str) -> None:
        conn.execute(text("DELETE FROM admin_signin_failures WHERE at < now() - :w"), {"w": FAILURE_WINDOW})
        count, oldest_age = conn.execute(
            text(
                "SELECT count(*), extract(epoch FROM now() - min(at)) FROM admin_signin_failures "
                "WHERE address = :a"
            ),
            {"a": address},
        ).one()
        if count >= MAX_FAILURES:
            raise SignInThrottled(FAILURE_WINDOW.total_seconds() - float(oldest_age))

    def _verified(self, conn: Connection, stored: str, password: str) -> bool:
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
        if _hasher.check_needs_rehash(stored):
            conn.execute(
                text("UPDATE admins SET password_hash = :h WHERE name = :n"),
                {"h": _hasher.hash(password), "n": ADMIN},
            )
        return True

    def _new_session(self, conn: Connection, address: str) -> str:
        conn.execute(text("DELETE FROM admin_signin_failures WHERE address = :a"), {"a": address})
        conn.execute(text("DELETE FROM admin_sessions WHERE expires < now()"))
        session_id = secrets.token_urlsafe(32)
        conn.execute(
            text("INSERT INTO admin_sessions (id_hash, admin, expires) VALUES (:h, :n, now() + :life)"),
            {"h": _digest(session_id), "n": ADMIN, "life": SESSION_LIFETIME},
        )
        return session_id

    def signed_in(self, session_id: str) -> bool:
        """Whether ``session_id`` is a session that has not ended or expired."""
        if not session_id:
            return False
        with self.engine.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM admin_sessions WHERE id_hash = :h AND expires > now()"),
                {"h": _digest(session_id)},
            ).first()
        return found is not None

    def sign_out(self, session_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM admin_sessions WHERE id_hash = :h"), {"h": _digest(session_id)})
