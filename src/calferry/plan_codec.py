"""Exact JSON for the core's values: a saved plan (``--plan FILE``), the journal's payloads, the Get cache.

Pure. :func:`encode` turns a model value (dataclasses, enums, zoned datetimes, dates, tuples) into
JSON that :func:`decode` turns back into an equal value, time zones kept by name. It sits apart from
the planner so that the applier and the incremental Get read saved values without going through the
planner's decisions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from calferry.mapping import PersonalFields
from calferry.model import (
    Claim,
    ItemKey,
    Link,
    Origin,
    PersonalItem,
    PsaAppointment,
    PsaKind,
    PsaRef,
    PsaServiceCall,
    PsaToDo,
    ServiceCallWork,
    ShowAs,
    Stamp,
    WorkKind,
)

_TYPES: dict[str, type[Any]] = {
    t.__name__: t
    for t in (
        PsaAppointment, PsaToDo, PsaServiceCall, ServiceCallWork, PersonalFields, Link, ItemKey, PsaRef,
        PersonalItem, Stamp, Claim,
    )
}  # fmt: skip
_ENUMS: tuple[type[Enum], ...] = (PsaKind, Origin, WorkKind, ShowAs)


def encode(value: object) -> Any:
    """A JSON value that :func:`decode` turns back into an equal object (zones kept by name)."""
    if isinstance(value, Enum):
        return {"$enum": type(value).__name__, "value": value.value}
    if isinstance(value, datetime):
        zone = value.tzinfo.key if isinstance(value.tzinfo, ZoneInfo) else None
        return {"$datetime": value.isoformat(), "zone": zone}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if is_dataclass(value) and not isinstance(value, type):
        body = {f.name: encode(getattr(value, f.name)) for f in fields(value)}
        return {"$type": type(value).__name__, **body}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(data: Any, enums: Iterable[type[Enum]] = ()) -> Any:
    """Inverse of :func:`encode`; lists come back as tuples (the models hold tuples only).

    ``enums`` are the caller's own enums beyond the model's (the plan's ``Target``): the codec knows
    the model only, so the planner can use it without a circle.
    """
    return _decode(data, {e.__name__: e for e in (*_ENUMS, *enums)})


def _decode(data: Any, enums: dict[str, type[Enum]]) -> Any:
    if isinstance(data, list):
        return tuple(_decode(v, enums) for v in data)
    if not isinstance(data, dict):
        return data
    if "$enum" in data:
        return enums[data["$enum"]](data["value"])
    if "$datetime" in data:
        moment = datetime.fromisoformat(data["$datetime"])
        return moment.astimezone(ZoneInfo(data["zone"])) if data.get("zone") else moment
    if "$date" in data:
        return date.fromisoformat(data["$date"])
    cls = _TYPES[data["$type"]]
    return cls(**{k: _decode(v, enums) for k, v in data.items() if k != "$type"})
