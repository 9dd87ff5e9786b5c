"""Wire values <-> stored values, strictly typed like Autotask: ``false`` is not an integer.

Times are stored as naive UTC datetimes (microsecond resolution) and always answered with ``Z``; an
input without an offset is taken as UTC, one with an offset is converted (autotask-api.md §2.9).
Numbers keep to the range of their .NET type (``integer`` Int32, ``long`` Int64, ``double`` finite), and
text to what a database can store (no NUL, no lone surrogate): a value outside answers Autotask's 500
naming the field instead of failing in the database.
"""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from calferry.psa.server.entities import BOOL, DOUBLE, DT, INT, LONG, STR, Field
from calferry.psa.server.problems import ApiError

INT_RANGES = {INT: (-(2**31), 2**31 - 1), LONG: (-(2**63), 2**63 - 1)}
MAX_DIGITS = 20
"""Longer digit strings are refused before ``int()`` (which would parse up to 4,300 digits first)."""


def parse_datetime(text: str) -> datetime:
    """ISO 8601 with or without an offset (none means UTC) -> naive UTC."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def format_datetime(value: datetime) -> str:
    """Naive UTC -> ``2026-11-25T09:00:00Z`` (with microseconds when there are any)."""
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_wire(value: Any) -> Any:
    return format_datetime(value) if isinstance(value, datetime) else value


def coerce(entity_name: str, spec: Field, value: Any) -> Any:
    """A JSON value for ``spec`` as it is stored; ``ApiError`` (500) naming the field otherwise."""
    if value is None:
        return None
    try:
        return _COERCE[spec.type](spec, value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ApiError(f"{entity_name}.{spec.name}: {exc}") from None


def _integer(spec: Field, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"expected an integer, got {value!r}")
    if isinstance(value, str) and len(value.strip()) > MAX_DIGITS:
        raise ValueError("the value is out of range")
    number = int(value)
    low, high = INT_RANGES[spec.type]
    if not low <= number <= high:
        raise ValueError(f"the value is out of range ({low} to {high})")
    return number


def storable_text(value: str) -> str:
    """``value`` if a database can store it: no NUL character, no lone surrogate."""
    if "\x00" in value:
        raise ValueError("text must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (it holds a lone surrogate)") from None
    return value


def _string(spec: Field, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    if spec.length and len(value) > spec.length:
        raise ValueError(f"value is {len(value)} characters long; the maximum is {spec.length}")
    return storable_text(value)


def _boolean(spec: Field, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _double(spec: Field, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("the value must be a finite number")
    return number


def _datetime(spec: Field, value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 date-time string, got {value!r}")
    return parse_datetime(value)


_COERCE = {LONG: _integer, INT: _integer, STR: _string, BOOL: _boolean, DOUBLE: _double, DT: _datetime}


class MarkerClock:
    """UTC now, strictly increasing across calls, so two quick writes never share a change marker."""

    def __init__(self) -> None:
        self._last = datetime.min
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            current = datetime.now(UTC).replace(tzinfo=None)
            if current <= self._last:
                current = self._last + timedelta(microseconds=1)
            self._last = current
            return current
