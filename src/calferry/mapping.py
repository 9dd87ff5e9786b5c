"""Both field tables of the seed, as code: personal -> PSA (Send) and PSA -> personal (Get).

Pure: no I/O, no clock. Over-long values are truncated to the PSA's field limits with a warning
naming the field and the item, never rejected silently.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from calferry.errors import MappingError
from calferry.model import (
    ActionType,
    Company,
    Contact,
    PersonalItem,
    PsaAppointment,
    PsaItem,
    PsaKind,
    PsaServiceCall,
    PsaToDo,
    Resource,
    When,
    psa_kind_of,
)

PRIVATE_TITLE = "Appointment"
"""R18: the name a private personal item gets in the PSA."""

NO_SUBJECT = "(no subject)"
SERVICE_CALL_HEADER = "Service Call Description:"
SERVICE_CALL_FOOTER = (
    "Any changes made to service call information in this calendar item will not be returned to Autotask. "
    "To make changes to the service call or the tickets and tasks it holds, use Autotask."
)

FIELD_LIMITS: dict[tuple[PsaKind, str], int] = {
    (PsaKind.APPOINTMENT, "title"): 256,
    (PsaKind.APPOINTMENT, "description"): 8000,
    (PsaKind.TODO, "description"): 32000,  # activityDescription
    (PsaKind.SERVICE_CALL, "description"): 2000,
}
"""Autotask field lengths (autotask-api.md §3), by PSA kind and model field."""

T = TypeVar("T")


@dataclass(frozen=True)
class Mapped(Generic[T]):
    """A mapped value and the warnings mapping it produced (truncations)."""

    value: T
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SendChoice:
    """R14: the mapping page's choices for one item; kind defaults to Appointment."""

    kind: PsaKind = PsaKind.APPOINTMENT
    company_id: int | None = None
    contact_id: int | None = None
    action_type_id: int | None = None


@dataclass(frozen=True)
class PersonalFields:
    """What Get writes into a personal item (R28, R29): subject, description, times, location."""

    subject: str
    description: str
    start: When
    end: When
    location: str = ""


# --- personal -> PSA (Send) -----------------------------------------------------------------


def personal_to_psa(
    item: PersonalItem, resource: Resource, choice: SendChoice, psa_id: int | None = None
) -> Mapped[PsaAppointment | PsaToDo]:
    """Map one personal item (or occurrence) to the PSA item the mapping page chose (R14-R19)."""
    if choice.kind is PsaKind.SERVICE_CALL:
        raise MappingError(f"{item.ref}: a service call cannot be sent from the personal calendar", rule="R7")
    if item.recurring and choice.kind is not PsaKind.APPOINTMENT:
        raise MappingError(f"{item.ref}: a recurring item is always sent as an Appointment", rule="R15")
    if choice.kind is PsaKind.TODO:
        todo = personal_to_todo(item, resource, choice, psa_id)
        return Mapped(todo.value, todo.warnings)
    appointment = personal_to_appointment(item, resource, psa_id)
    return Mapped(appointment.value, appointment.warnings)


def personal_to_appointment(
    item: PersonalItem, resource: Resource, psa_id: int | None = None
) -> Mapped[PsaAppointment]:
    """R18: subject -> name (private: "Appointment", no description); the logged-in user -> resource.

    Location, label, reminder, show-as, contacts and categories are not mapped; attendees never
    reach the PSA, so a meeting updates only the sender's own PSA calendar (R19).
    """
    start, end = psa_times(item, resource.time_zone)
    title, description = _public_text(item)
    warnings: list[str] = []
    title = truncate(title, PsaKind.APPOINTMENT, "title", item.ref, warnings)
    description = truncate(description, PsaKind.APPOINTMENT, "description", item.ref, warnings)
    appointment = PsaAppointment(psa_id, title, start, end, resource.id, description)
    return Mapped(appointment, tuple(warnings))


def personal_to_todo(
    item: PersonalItem, resource: Resource, choice: SendChoice, psa_id: int | None = None
) -> Mapped[PsaToDo]:
    """R14, R18: a To-Do needs a company and an action type; the subject is not mapped."""
    if choice.company_id is None:
        raise MappingError(f"{item.ref}: a To-Do needs a company")
    if choice.action_type_id is None:
        raise MappingError(f"{item.ref}: a To-Do needs an action type")
    start, end = psa_times(item, resource.time_zone)
    _, description = _public_text(item)
    warnings: list[str] = []
    description = truncate(description, PsaKind.TODO, "description", item.ref, warnings)
    todo = PsaToDo(
        id=psa_id,
        company_id=choice.company_id,
        action_type_id=choice.action_type_id,
        assigned_resource_id=resource.id,
        start=start,
        end=end,
        description=description,
        contact_id=choice.contact_id,
    )
    return Mapped(todo, tuple(warnings))


def _public_text(item: PersonalItem) -> tuple[str, str]:
    """R18: a private item's name becomes "Appointment" and its description never leaves."""
    if item.private:
        return PRIVATE_TITLE, ""
    return (item.subject.strip() or NO_SUBJECT), item.description


def psa_times(item: PersonalItem, time_zone: str) -> tuple[datetime, datetime]:
    """Start/end in UTC; an all-day item blocks out the whole days in the resource's time zone (R18)."""
    if isinstance(item.start, datetime) and isinstance(item.end, datetime):
        start, end = item.start.astimezone(UTC), item.end.astimezone(UTC)
    elif not isinstance(item.start, datetime) and not isinstance(item.end, datetime):
        start, end = _day_start(item.start, time_zone), _day_start(item.end, time_zone)
    else:
        raise MappingError(f"{item.ref}: start and end must both be dates or both be times")
    if end < start:
        raise MappingError(
            f"{item.ref}: ends before it starts ({end:%Y-%m-%d %H:%M} < {start:%Y-%m-%d %H:%M} UTC)"
        )
    return start, end


def _day_start(day: date, time_zone: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(time_zone)).astimezone(UTC)


def truncate(value: str, kind: PsaKind, field: str, ref: str, warnings: list[str]) -> str:
    """Cut ``value`` to the PSA's limit for ``field``, adding a warning that names field and item."""
    limit = FIELD_LIMITS.get((kind, field))
    if limit is None or len(value) <= limit:
        return value
    warnings.append(f"{ref}: {kind.value} {field} truncated from {len(value)} to {limit} characters")
    return value[:limit]


# --- PSA -> personal (Get) ------------------------------------------------------------------


def psa_to_personal(
    item: PsaItem,
    time_zone: str,
    companies: Mapping[int, Company],
    contacts: Mapping[int, Contact],
    action_types: Mapping[int, ActionType],
) -> PersonalFields:
    """R28: render any PSA item as the fields of a personal item, times in the resource's zone."""
    start, end = personal_times(item.start, item.end, time_zone)
    if isinstance(item, PsaAppointment):
        return PersonalFields(item.title, item.description, start, end)
    company = companies.get(item.company_id)
    if isinstance(item, PsaToDo):
        contact = contacts.get(item.contact_id) if item.contact_id is not None else None
        subject = todo_subject(company, contact, action_types.get(item.action_type_id))
        return PersonalFields(subject, item.description, start, end)
    location = company.address.one_line() if company else ""
    return PersonalFields(service_call_subject(company), service_call_description(item), start, end, location)


def todo_subject(company: Company | None, contact: Contact | None, action_type: ActionType | None) -> str:
    """R28: To-Do subject = company/contact name + action type."""
    who = company.name if company else "Unknown company"
    if contact is not None:
        who = f"{who} / {contact.name}"
    return f"{action_type.name}: {who}" if action_type else who


def service_call_subject(company: Company | None) -> str:
    """R28: "Service Call: <company name>"."""
    return f"Service Call: {company.name if company else 'Unknown company'}"


def service_call_description(call: PsaServiceCall) -> str:
    """R28: header, the call's description, each ticket/task (number, title), then the statement."""
    lines = [SERVICE_CALL_HEADER]
    if call.description:
        lines.append(call.description)
    if call.work:
        lines.append("")
        lines.extend(f"{w.kind.value.capitalize()} {w.number}: {w.title}" for w in call.work)
    lines.extend(["", SERVICE_CALL_FOOTER])
    return "\n".join(lines)


def personal_times(start: datetime, end: datetime, time_zone: str) -> tuple[When, When]:
    """PSA UTC times in the resource's zone; whole local days come back as an all-day item."""
    zone = ZoneInfo(time_zone)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    if end > start and _starts_its_day(local_start, time_zone) and _starts_its_day(local_end, time_zone):
        return local_start.date(), local_end.date()
    return local_start, local_end


def _starts_its_day(value: datetime, time_zone: str) -> bool:
    """True at the first instant of a local day (01:00 where DST skips midnight).

    Compared in UTC: Python never calls a repeated local time (a fold) equal to a time in another zone.
    """
    return _day_start(value.date(), time_zone) == value.astimezone(UTC)


def apply_psa_fields(item: PersonalItem, fields: PersonalFields) -> PersonalItem:
    """R29: an update from the PSA rewrites subject, description and start/end (location for service calls).

    A private item sent from here keeps its own subject and description: the PSA only ever saw the
    placeholder "Appointment" (R18), so writing that back would destroy the person's text.
    """
    changed = replace(item, start=fields.start, end=fields.end)
    if fields.location:
        changed = replace(changed, location=fields.location)
    if item.private:
        return changed
    return replace(changed, subject=fields.subject, description=fields.description)


def new_personal_item(uid: str, fields: PersonalFields) -> PersonalItem:
    """R23: a personal item for a PSA item not yet downloaded (no attendees, ever)."""
    return PersonalItem(
        uid=uid,
        start=fields.start,
        end=fields.end,
        subject=fields.subject,
        description=fields.description,
        location=fields.location,
    )


# --- content hashes -------------------------------------------------------------------------


def personal_hash(item: PersonalItem) -> str:
    """A stable hash of what a transfer cares about in a personal item, to tell edits from noise."""
    return _digest(
        {
            "subject": item.subject.strip(),
            "description": _text(item.description),
            "start": _instant(item.start),
            "end": _instant(item.end),
            "private": item.private,
        }
    )


def psa_hash(item: PsaItem) -> str:
    """A stable hash of a PSA item's mapped fields (ids of referenced records included)."""
    fields: dict[str, object] = {"start": _instant(item.start), "end": _instant(item.end)}
    fields["description"] = _text(item.description)
    if isinstance(item, PsaAppointment):
        fields.update(title=item.title.strip(), resource=item.resource_id)
    elif isinstance(item, PsaToDo):
        fields.update(company=item.company_id, contact=item.contact_id, action=item.action_type_id)
    else:
        fields.update(company=item.company_id, work=[(w.kind.value, w.number, w.title) for w in item.work])
    return _digest(fields)


def _text(value: str) -> str:
    return value.replace("\r\n", "\n").strip()


def psa_fingerprint(item: PsaItem) -> str:
    """Kind, start and end of a PSA item, hashed: what a claim says it is making (B9).

    Deliberately coarse (no title, which the PSA may cut): it only keeps a Get from copying an item
    another device is linking at that moment.
    """
    return _digest(
        {"kind": psa_kind_of(item).value, "start": _instant(item.start), "end": _instant(item.end)}
    )[:16]


def _instant(value: When) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def _digest(fields: Mapping[str, object]) -> str:
    raw = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]
