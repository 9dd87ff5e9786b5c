"""Entity rules the field table cannot express: permissions (R33), ownership, consistency, stamps.

Security model (ours; the REST API exposes no security level and no CRM flag, it only refuses with
"does not have the adequate permissions"): the internal ``Resources`` columns ``securityLevel`` and
``hasCrmAccess``. The acting resource is the impersonated one, else the API user's resource.
CRM to-dos need CRM access from both the acting resource and the assignee. Appointments belong to their
resource, as Autotask's Appointments page says: everyone manages their own; another resource's only an
administrator (or the API user) may, and only while the service-desk setting "Allow users that can view
all tickets to create, edit, and delete appointments for other resources" is on
(``Settings.appointments_for_others``). An API-only resource never owns one (autotask-api.md §2.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from calferry.psa.server.entities import ADMIN_LEVEL, API_LEVEL, Entity
from calferry.psa.server.models import TABLES
from calferry.psa.server.problems import PERMISSION_CREATE, ApiError

Row = dict[str, Any]
CREATE, UPDATE, DELETE = "create", "update", "delete"

CASCADES = {
    "ServiceCalls": ("ServiceCallTickets", "ServiceCallTasks"),
    "ServiceCallTickets": ("ServiceCallTicketResources",),
    "ServiceCallTasks": ("ServiceCallTaskResources",),
}
"""Children deleted with their parent."""


@dataclass(frozen=True)
class Actor:
    """Who a request acts as: ``resource`` (None when the database has no API-user resource)."""

    resource: Row | None
    api_user_id: int | None
    impersonating: bool = False
    appointments_for_others: bool = True

    @property
    def id(self) -> int | None:
        return self.resource["id"] if self.resource else None

    @property
    def crm(self) -> bool:
        return self.resource is None or bool(self.resource["hasCrmAccess"])

    @property
    def admin(self) -> bool:
        return self.resource is None or self.resource["securityLevel"] in (ADMIN_LEVEL, API_LEVEL)


def check(conn: Connection, ent: Entity, row: Row, actor: Actor, verb: str, *, before: Row | None) -> None:
    """Refuse a write the real service would refuse, before anything is written."""
    checker = _CHECKS.get(ent.name)
    if checker is not None:
        checker(conn, row, actor, verb, before)
    if verb != DELETE and "endDateTime" in row and _ends_before_start(row):
        raise ApiError(f"{ent.name}: endDateTime must not be before startDateTime.")


def _ends_before_start(row: Row) -> bool:
    start, end = row.get("startDateTime"), row.get("endDateTime")
    return start is not None and end is not None and end < start


def _resource(conn: Connection, resource_id: int) -> Row | None:
    table = TABLES["Resources"]
    found = conn.execute(select(table).where(table.c.id == resource_id)).mappings().first()
    return dict(found) if found else None


def _check_todo(conn: Connection, row: Row, actor: Actor, verb: str, before: Row | None) -> None:
    if not actor.crm:
        raise ApiError(PERMISSION_CREATE if verb == CREATE else PERMISSION_CREATE.replace("create", verb))
    if verb == DELETE:
        return
    assignee = _resource(conn, row["assignedToResourceID"])
    if assignee is not None and not assignee["hasCrmAccess"]:
        raise ApiError(
            f"The logged in Resource does not have the adequate permissions to assign this entity type to "
            f"resource {assignee['id']}: a to-do can only be assigned to a resource with CRM access."
        )
    _same_company(conn, row, "contactID", "Contacts")
    _same_company(conn, row, "ticketID", "Tickets")


def _same_company(conn: Connection, row: Row, key: str, target: str) -> None:
    if row.get(key) is None:
        return
    table = TABLES[target]
    linked = conn.execute(select(table).where(table.c.id == row[key])).mappings().first()
    if linked is not None and linked["companyID"] != row["companyID"]:
        raise ApiError(f"CompanyToDos.{key}: {target} {row[key]} belongs to another company.")
    if target == "Contacts" and linked is not None and not linked["isActive"]:
        raise ApiError(f"CompanyToDos.contactID: contact {row[key]} is inactive.")


def _check_appointment(conn: Connection, row: Row, actor: Actor, verb: str, before: Row | None) -> None:
    owners = {row["resourceID"]} | ({before["resourceID"]} if before else set())
    if owners != {actor.id} and not (actor.admin and actor.appointments_for_others):
        raise ApiError(
            f"The logged in Resource does not have the adequate permissions to {verb} this entity type: "
            f"Resource {actor.id} may only {verb} their own appointments."
        )
    owner = _resource(conn, row["resourceID"]) if verb != DELETE else None
    if owner is not None and owner["securityLevel"] == API_LEVEL:
        raise ApiError(
            f"Appointments.resourceID: resource {owner['id']} is an API-only user and cannot own one."
        )


def _check_action_type(conn: Connection, row: Row, actor: Actor, verb: str, before: Row | None) -> None:
    if verb == DELETE and row["isSystemActionType"]:
        raise ApiError(f"ActionTypes {row['id']} is a system action type and cannot be deleted.")


_CHECKS = {"CompanyToDos": _check_todo, "Appointments": _check_appointment, "ActionTypes": _check_action_type}


def stamp_create(conn: Connection, ent: Entity, row: Row, actor: Actor, now: datetime) -> None:
    """Creation time, creator (the impersonated resource) and impersonator, numbers, then markers."""
    if ent.created:
        row[ent.created] = now
    if ent.creator:
        row[ent.creator] = actor.id
    if ent.impersonator and actor.impersonating:
        row[ent.impersonator] = actor.api_user_id
    number_field = {"Tickets": "ticketNumber", "Tasks": "taskNumber"}.get(ent.name)
    if number_field:
        row[number_field] = next_number(conn, ent.name, number_field, now)
    if ent.name == "ActionTypes":
        row["isSystemActionType"] = False
    stamp_update(ent, row, now)


def stamp_update(ent: Entity, row: Row, now: datetime) -> None:
    for marker in ent.markers:
        row[marker] = now
    if ent.name == "ServiceCalls":
        row["duration"] = round((row["endDateTime"] - row["startDateTime"]).total_seconds() / 3600, 4)


def next_number(conn: Connection, table_name: str, number_field: str, day: datetime) -> str:
    """``T20261125.0001``: the day's prefix and a running number, like Autotask's ticket numbers."""
    prefix = f"T{day:%Y%m%d}."
    column = TABLES[table_name].c[number_field]
    used = conn.execute(select(func.count()).where(column.like(f"{prefix}%"))).scalar_one()
    return f"{prefix}{used + 1:04d}"
