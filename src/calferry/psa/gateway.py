"""``AutotaskPsa``: the ``Psa`` contract on top of ``AutotaskClient``, mapping entity rows <-> model values.

Every read is batched: one query per kind (paged), then ``in`` look-ups of what the items refer to
(companies and their countries, contacts, action types, tickets, tasks), never one request per item. A
service call belongs to a resource when one of its tickets or tasks is assigned to it
(ServiceCallTicketResources / ServiceCallTaskResources). Versions are the item's change marker
(``updateDateTime`` & co), written with :func:`version_of` so that ``markers`` and full reads agree. The
module holds the whole rows <-> model mapping next to the queries that need it, which takes it past 500
lines.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from calferry.contracts import PsaMarker, PsaSnapshot
from calferry.errors import (
    ConfigError,
    ImpersonationRefused,
    LookupFailed,
    NotFound,
    PermissionDenied,
    PsaError,
)
from calferry.identity import fingerprint
from calferry.model import (
    ActionType,
    Address,
    Company,
    Contact,
    PsaAppointment,
    PsaItem,
    PsaKind,
    PsaRef,
    PsaServiceCall,
    PsaToDo,
    Resource,
    ServiceCallWork,
    Window,
    WorkKind,
    psa_kind_of,
)
from calferry.psa.autotask import AutotaskClient
from calferry.psa.query import (
    ALL,
    Filter,
    and_,
    contains,
    eq,
    format_utc,
    in_,
    noteq,
    or_,
    overlapping,
    parse_utc,
)
from calferry.psa.zones import iana_zone

T = TypeVar("T")
Row = dict[str, Any]

ENTITY = {
    PsaKind.APPOINTMENT: "Appointments",
    PsaKind.TODO: "CompanyToDos",
    PsaKind.SERVICE_CALL: "ServiceCalls",
}
MARKER = {
    PsaKind.APPOINTMENT: "updateDateTime",
    PsaKind.TODO: "lastModifiedDate",
    PsaKind.SERVICE_CALL: "lastModifiedDateTime",
}
_OWNER = {PsaKind.APPOINTMENT: "resourceID", PsaKind.TODO: "assignedToResourceID"}
_WORK = {
    WorkKind.TICKET: (
        "Tickets",
        "ticketNumber",
        "ServiceCallTickets",
        "ticketID",
        "ServiceCallTicketResources",
    ),
    WorkKind.TASK: ("Tasks", "taskNumber", "ServiceCallTasks", "taskID", "ServiceCallTaskResources"),
}
_COMPLETE = 5
"""The status id of a complete ticket or task (Autotask's system value)."""
_WORK_OWNER = {WorkKind.TICKET: "companyID", WorkKind.TASK: "projectID"}
"""The field that ties a ticket to its company, and a task to its project (whose company it is)."""
_CHILD_KEY = {
    "ServiceCallTicketResources": "serviceCallTicketID",
    "ServiceCallTaskResources": "serviceCallTaskID",
}
ADMIN_HINT = (
    "ask your Autotask administrator to let the API user act as you (its security level may impersonate "
    'and yours allows being impersonated), or to turn on the service-desk setting "Allow users that can '
    'view all tickets to create, edit, and delete appointments for other resources"'
)
"""What the admin must enable when the PSA refuses the technician's own appointments."""
_TODO_VIEWS = (None, 2, 3)
"""ActionTypes.view values a To-Do may use: To-Do only, both; (unsaid: any). 1 is calendar-only, 4 none."""


def version_of(item: PsaItem) -> str | None:
    """The link version of an item: its change marker as UTC text."""
    return _marker_text(item.updated) if item.updated else None


def _marker_text(when: datetime) -> str:
    """A change marker as UTC text to the microsecond the PSA gave: ``format_utc`` keeps milliseconds
    (what a query needs), and a marker cut short would never equal its item's time again."""
    return when.astimezone(UTC).isoformat()


class AutotaskPsa:
    """One technician's PSA calendar through the Autotask REST API (or ``calferry psa serve``)."""

    def __init__(
        self,
        client: AutotaskClient,
        resource: str | int | None = None,
        *,
        workers: int = 3,
        time_zone: str | None = None,
    ) -> None:
        """``time_zone`` (``psa.time_zone``), when given, is the technician's zone whatever the PSA says."""
        self.client = client
        self._resource_ref = resource
        self._zone_override = time_zone or None
        self._warnings: list[str] = []
        self._impersonate = resource is not None  # until the PSA refuses it once
        self._me: Resource | None = None
        self._action_types: dict[int, ActionType] | None = None
        self._countries: dict[int, str] = {}  # countryID -> display name, for the client's lifetime
        self._countries_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="psa-lookup")

    # --- who am I ------------------------------------------------------------------------------

    def me(self) -> Resource:
        """The configured resource (id, e-mail or user name), with its location's zone; CRM access is
        assumed until the PSA refuses a to-do (R33)."""
        if self._me is None:
            row = self._resource_row(self._resource_ref)
            zone = self._zone_override or self._location_zone(row.get("locationID"))
            self._me = _resource(row, zone)
        return self._me

    def _resource_row(self, ref: str | int | None) -> Row:
        if ref is None or str(ref).strip() == "":
            raise ConfigError(
                "psa.resource is not set", hint="calferry config set psa.resource <id or e-mail>"
            )
        text = str(ref).strip()
        if text.isdigit():
            return self._get_or_lookup_failed("Resources", int(text), "resource")
        fields = ("email", "email2", "email3", "userName")
        rows = list(self.client.query("Resources", or_(*(eq(f, text) for f in fields)), max_records=2))
        if len(rows) != 1:
            raise LookupFailed(
                f"{'no' if not rows else 'more than one'} PSA resource has e-mail or user {text!r}"
            )
        return rows[0]

    def _location_zone(self, location_id: Any) -> str:
        """The zone of the resource's location (``InternalLocations.timeZone``, a string in any of the
        forms ``zones.iana_zone`` reads); one it cannot read is warned about and UTC used, never fatal."""
        location = self._location(location_id) if location_id else None
        if location is None:
            return "UTC"
        raw = location.get("timeZone")
        zone = iana_zone(raw)
        if zone is None:
            self._warnings.append(
                f"the PSA gives your location {location.get('name') or location_id!r} the time zone "
                f"{raw!r}, which calferry does not know, so times are in UTC; set your zone with "
                "`calferry config set psa.time_zone <zone>` (e.g. Europe/Berlin)"
            )
            return "UTC"
        return zone

    def _location(self, location_id: Any) -> Row | None:
        """The resource's ``InternalLocations`` record; None when the PSA has none with that id."""
        try:
            return self.client.get("InternalLocations", int(location_id))
        except NotFound:
            return None

    # --- reading the calendar ------------------------------------------------------------------

    def snapshot(self, window: Window, resource_id: int, kinds: Iterable[PsaKind]) -> PsaSnapshot:
        """Items of ``kinds`` meeting ``window``, with the companies, contacts and action types they use."""
        wanted = set(kinds)
        items: list[PsaItem] = []
        for kind in (PsaKind.APPOINTMENT, PsaKind.TODO):
            if kind in wanted:
                rows = self.client.query(ENTITY[kind], self._window_filter(kind, window, resource_id))
                items.extend(_ITEM[kind](row) for row in rows)
        if PsaKind.SERVICE_CALL in wanted:
            items.extend(self._with_work(*self._my_service_calls(window, resource_id, None)))
        return self._with_references(tuple(items))

    def markers(self, window: Window, resource_id: int, kinds: Iterable[PsaKind]) -> list[PsaMarker]:
        """Ids and change markers only (``IncludeFields``), the same items ``snapshot`` would list."""
        wanted = set(kinds)
        out: list[PsaMarker] = []
        for kind in (PsaKind.APPOINTMENT, PsaKind.TODO):
            if kind in wanted:
                flt = self._window_filter(kind, window, resource_id)
                out.extend(
                    _marker(kind, row) for row in self.client.query(ENTITY[kind], flt, ["id", MARKER[kind]])
                )
        if PsaKind.SERVICE_CALL in wanted:
            fields = ["id", MARKER[PsaKind.SERVICE_CALL]]
            calls, _ = self._my_service_calls(window, resource_id, fields)
            out.extend(_marker(PsaKind.SERVICE_CALL, row) for row in calls)
        return out

    def fetch(self, refs: Iterable[PsaRef]) -> PsaSnapshot:
        """Items by id, one ``in`` query per kind (chunked by the client), then their references."""
        wanted = list(refs)
        ids = {kind: [r.id for r in wanted if r.kind is kind] for kind in PsaKind}
        items: list[PsaItem] = []
        for kind in (PsaKind.APPOINTMENT, PsaKind.TODO):
            items.extend(_ITEM[kind](row) for row in self._rows_in(ENTITY[kind], "id", ids[kind]))
        calls = self._rows_in(ENTITY[PsaKind.SERVICE_CALL], "id", ids[PsaKind.SERVICE_CALL])
        items.extend(self._with_work(calls))
        return self._with_references(tuple(items))

    def get(self, ref: PsaRef) -> PsaItem:
        row = self.client.get(ENTITY[ref.kind], ref.id)
        if ref.kind == PsaKind.SERVICE_CALL:
            return self._with_work([row])[0]
        return _ITEM[ref.kind](row)

    def find_matching(self, item: PsaItem) -> list[PsaItem]:
        """Items with the same fingerprint: same start/end, same resource and title (appointment),
        same assignee and company (to-do), same company (service call)."""
        kind = psa_kind_of(item)
        rows = list(self.client.query(ENTITY[kind], _fingerprint(item)))
        if kind == PsaKind.SERVICE_CALL:
            return list(self._with_work(rows))
        return [_ITEM[kind](row) for row in rows]

    def _window_filter(self, kind: PsaKind, window: Window, resource_id: int) -> Filter:
        return and_(
            eq(_OWNER[kind], resource_id),
            *overlapping("startDateTime", "endDateTime", window.start, window.end).items,
        )

    def _my_service_calls(
        self, window: Window, resource_id: int, fields: list[str] | None
    ) -> tuple[list[Row], dict[WorkKind, list[Row]]]:
        """Service calls meeting the window whose tickets or tasks are assigned to the resource, with
        their ticket/task links: the calls, their children, the children's resources, each as batched
        ``in`` queries."""
        flt = overlapping("startDateTime", "endDateTime", window.start, window.end)
        calls = list(self.client.query("ServiceCalls", flt, fields))
        call_ids = [row["id"] for row in calls]
        mine: set[int] = set()
        links: dict[WorkKind, list[Row]] = {}
        for kind, (_, _, child, key, assignment) in _WORK.items():
            links[kind] = self._rows_in(child, "serviceCallID", call_ids, ["id", "serviceCallID", key])
            by_id = {row["id"]: row["serviceCallID"] for row in links[kind]}
            link_key = _CHILD_KEY[assignment]
            assigned = self._rows_in(
                assignment, link_key, list(by_id), ["id", link_key], eq("resourceID", resource_id)
            )
            mine.update(by_id[row[link_key]] for row in assigned)
        kept = {kind: [row for row in rows if row["serviceCallID"] in mine] for kind, rows in links.items()}
        return [row for row in calls if row["id"] in mine], kept

    def _rows_in(
        self,
        entity: str,
        field: str,
        ids: list[int],
        fields: list[str] | None = None,
        extra: Filter | None = None,
    ) -> list[Row]:
        if not ids:
            return []
        flt: Filter = in_(field, ids) if extra is None else and_(extra, in_(field, ids))
        return list(self.client.query(entity, flt, fields))

    def _with_work(
        self, calls: list[Row], links: dict[WorkKind, list[Row]] | None = None
    ) -> list[PsaServiceCall]:
        """Service calls with their tickets and tasks (number and title), looked up in batches;
        ``links`` are the ServiceCallTickets/Tasks rows when already fetched."""
        ids = [row["id"] for row in calls]
        work: dict[int, list[ServiceCallWork]] = {i: [] for i in ids}
        for kind, (entity, number, child, key, _) in _WORK.items():
            rows = links[kind] if links is not None else self._rows_in(child, "serviceCallID", ids)
            wanted = [r[key] for r in rows]
            found = {r["id"]: r for r in self._rows_in(entity, "id", wanted, ["id", number, "title"])}
            for link in rows:
                row = found.get(link[key], {"id": link[key]})
                work[link["serviceCallID"]].append(_work(kind, row, number))
        return [_service_call(row, tuple(work[row["id"]])) for row in calls]

    def _with_references(self, items: tuple[PsaItem, ...]) -> PsaSnapshot:
        company_ids = [i.company_id for i in items if isinstance(i, PsaToDo | PsaServiceCall)]
        contact_ids = [i.contact_id for i in items if isinstance(i, PsaToDo) and i.contact_id]
        has_todos = any(isinstance(i, PsaToDo) for i in items)
        # Independent look-ups side by side (each endpoint keeps its own 3-request limit).
        companies = self._pool.submit(lambda: self._companies(self._rows_in("Companies", "id", company_ids)))
        contacts = self._pool.submit(
            lambda: {r["id"]: _contact(r) for r in self._rows_in("Contacts", "id", contact_ids)}
        )
        action_types = dict(self._all_action_types()) if has_todos else {}
        return PsaSnapshot(items, companies.result(), contacts.result(), action_types)

    # --- writing ---------------------------------------------------------------------------------

    def create(self, item: PsaItem) -> PsaItem:
        """Create the item; a service call also gets its tickets/tasks and their assignment to ``me``.
        If any child fails, what was made is deleted again, so nothing is left half-made (R33)."""
        kind = psa_kind_of(item)
        if isinstance(item, PsaAppointment):
            new_id = self._as_owner(lambda who: self.client.create(ENTITY[kind], _row(item), as_resource=who))
        elif isinstance(item, PsaToDo):
            new_id = self._crm(lambda who: self.client.create(ENTITY[kind], _row(item), as_resource=who))
        else:
            new_id = self.client.create(ENTITY[kind], _row(item))
        if isinstance(item, PsaServiceCall):
            self._create_work(new_id, item.work)
        return self.get(PsaRef(kind, new_id))

    def _create_work(self, call_id: int, work: tuple[ServiceCallWork, ...]) -> None:
        made: list[tuple[str, int, int]] = [("ServiceCalls", call_id, 0)]
        try:
            for piece in work:
                _, _, child, key, assignment = _WORK[piece.kind]
                child_id = self.client.create(child, {"serviceCallID": call_id, key: piece.id})
                made.append((child, child_id, call_id))
                link = {_CHILD_KEY[assignment]: child_id, "resourceID": self.me().id}
                made.append((assignment, self.client.create(assignment, link), child_id))
        except Exception:
            self._undo(made)
            raise

    def _undo(self, made: list[tuple[str, int, int]]) -> None:
        for entity, item_id, parent_id in reversed(made):
            try:
                self.client.delete(entity, item_id, parent_id or None)
            except (NotFound, PsaError):
                continue

    def update(self, item: PsaItem) -> PsaItem:
        """PATCH only what calferry owns: title (appointments), times, description, action type, contact."""
        if item.id is None:
            raise NotFound("cannot update an item that was never created", side="psa")
        kind = psa_kind_of(item)
        data = {"id": item.id, **_owned(item)}
        if isinstance(item, PsaAppointment):
            self._as_owner(lambda who: self.client.update(ENTITY[kind], data, as_resource=who))
        elif isinstance(item, PsaToDo):
            self._crm(lambda who: self.client.update(ENTITY[kind], data, as_resource=who))
        else:
            self.client.update(ENTITY[kind], data)
        return self.get(PsaRef(kind, item.id))

    def delete(self, ref: PsaRef) -> None:
        """Delete one item (a service call after its children); already gone is fine."""
        try:
            if ref.kind == PsaKind.SERVICE_CALL:
                self._delete_children(ref.id)
            if ref.kind == PsaKind.APPOINTMENT:
                self._as_owner(lambda who: self.client.delete(ENTITY[ref.kind], ref.id, as_resource=who))
            else:
                self.client.delete(ENTITY[ref.kind], ref.id)
        except NotFound:
            return

    def _crm(self, write: Callable[[int | None], T]) -> T:
        """A to-do write, as the technician (impersonated) so that Autotask checks their CRM permission,
        not the API user's; as the API user only where impersonation is refused. Autotask's permission
        refusal is R33 (CRM access missing, for the technician or the assignee). The REST API shows no
        CRM flag, so the refusal is how calferry learns it: ``me`` says so from then on."""
        try:
            return self._as_technician(write)
        except PermissionDenied as error:
            if self._me is not None:
                self._me = replace(self._me, crm_access=False)
            raise PermissionDenied(
                f"the PSA refused the To-Do: CRM access is missing ({error.message})",
                side="psa",
                hint="To-Dos need CRM access for you and the assignee: ask your Autotask administrator",
            ) from error

    def _as_technician(self, write: Callable[[int | None], T]) -> T:
        """Write as the technician while the PSA allows impersonation, else as the API user; a
        permission refusal to the technician stands (it is theirs to have, R33)."""
        if self._impersonate:
            try:
                return write(self.me().id)
            except ImpersonationRefused:
                self._impersonate = False
        return write(None)

    def _as_owner(self, write: Callable[[int | None], T]) -> T:
        """Write one of the technician's appointments as the technician (impersonated): Autotask lets
        everyone manage their own appointments, but the API user another resource's only where a
        service-desk setting is on. Where impersonation is refused, write as the API user from then on;
        if that is refused too, say what the administrator must enable."""
        if self._impersonate:
            try:
                return write(self.me().id)
            except ImpersonationRefused:
                self._impersonate = False
            except PermissionDenied:
                pass  # refused to the technician (in words we do not know): perhaps the API user may
        try:
            return write(None)
        except PermissionDenied as error:
            raise PermissionDenied(error.message, side="psa", hint=ADMIN_HINT) from error

    def _delete_children(self, call_id: int) -> None:
        for _, _, child, _, assignment in _WORK.values():
            children = self._rows_in(child, "serviceCallID", [call_id], ["id"])
            key = _CHILD_KEY[assignment]
            for row in self._rows_in(assignment, key, [c["id"] for c in children], ["id", key]):
                self.client.delete(assignment, row["id"], row[key])
            for row in children:
                self.client.delete(child, row["id"], call_id)

    # --- look-ups by id or name -----------------------------------------------------------------

    def company(self, id_or_name: str | int) -> Company:
        if _is_id(id_or_name):
            row = self._get_or_lookup_failed("Companies", int(id_or_name), "company")
        else:
            name = str(id_or_name).strip()
            rows = self.client.query("Companies", contains("companyName", name), max_records=100)
            row = _pick("company", name, {r["companyName"]: r for r in rows}, self._company_names(name))
        return self._companies([row])[row["id"]]

    def _companies(self, rows: list[Row]) -> dict[int, Company]:
        """Companies by id, their addresses with the country's name (see ``_country_names``)."""
        countries = self._country_names([r.get("countryID") for r in rows])
        return {r["id"]: _company(r, countries.get(r.get("countryID") or 0, "")) for r in rows}

    def _country_names(self, ids: list[Any]) -> dict[int, str]:
        """Display names (else ISO names) of the countries ``ids`` refer to. Those not seen yet come in
        one ``in`` query and stay cached for the client's lifetime: Autotask's country list hardly
        changes. An id Autotask does not know is cached as no name."""
        wanted = {int(i) for i in ids if i}
        with self._countries_lock:
            missing = sorted(wanted - self._countries.keys())
            if missing:
                rows = self._rows_in("Countries", "id", missing, ["id", "displayName", "name"])
                found = {r["id"]: str(r.get("displayName") or r.get("name") or "") for r in rows}
                self._countries.update({i: found.get(i, "") for i in missing})
            return {i: self._countries[i] for i in wanted}

    def _company_names(self, name: str) -> Callable[[], list[str]]:
        def names() -> list[str]:
            rows = self.client.query("Companies", contains("companyName", name[:3]), ["companyName"], 200)
            return [r["companyName"] for r in rows]

        return names

    def contact(self, id_or_name: str | int, company_id: int) -> Contact:
        if _is_id(id_or_name):
            found = _contact(self._get_or_lookup_failed("Contacts", int(id_or_name), "contact"))
            if found.company_id != company_id:
                raise LookupFailed(f"contact {found.id} ({found.name}) belongs to another company")
            return found
        rows = self.client.query("Contacts", eq("companyID", company_id))
        contacts = {c.name: c for c in map(_contact, rows)}
        return _pick(
            f"contact of company {company_id}", str(id_or_name).strip(), contacts, lambda: list(contacts)
        )

    def action_type(self, id_or_name: str | int) -> ActionType:
        types = self._all_action_types()
        if _is_id(id_or_name) and int(id_or_name) in types:
            return types[int(id_or_name)]
        by_name = {t.name: t for t in types.values()}
        return _pick("action type", str(id_or_name).strip(), by_name, lambda: list(by_name))

    def _all_action_types(self) -> dict[int, ActionType]:
        if self._action_types is None:
            self._action_types = {r["id"]: _action_type(r) for r in self.client.query("ActionTypes", ALL)}
        return self._action_types

    def todo_action_types(self) -> list[ActionType]:
        found = [t for t in self._all_action_types().values() if t.active and t.for_todos]
        return sorted(found, key=lambda t: t.name.lower())

    def contacts_of(self, company_id: int, limit: int = 200) -> list[Contact]:
        rows = self.client.query(
            "Contacts", and_(eq("companyID", company_id), eq("isActive", 1)), None, limit
        )
        return sorted(map(_contact, rows), key=lambda c: c.name.lower())

    def work(self, kind: str, number_or_title: str, company_id: int | None = None) -> ServiceCallWork:
        """A ticket or task by its number or exact title, for a new service call (R30); with
        ``company_id``, one of another company's is refused."""
        work_kind = WorkKind(kind)
        entity, number, *_ = _WORK[work_kind]
        text = number_or_title.strip()
        owner = _WORK_OWNER[work_kind]
        flt = or_(eq(number, text), eq("title", text))
        rows = list(self.client.query(entity, flt, ["id", number, "title", owner], 20))
        if len(rows) == 1:
            found = _work(work_kind, rows[0], number)
            if company_id is not None and self._company_of(work_kind, rows[0]) != company_id:
                raise LookupFailed(
                    f"{kind} {found.number} ({found.title}) belongs to another company",
                    hint="pick one of the chosen company's tickets or tasks",
                )
            return found
        if rows:
            listed = ", ".join(f"{r.get(number)} {r.get('title')!r}" for r in rows[:5])
            raise LookupFailed(f"several {entity.lower()} match {text!r}: {listed}")
        similar = self.client.query(entity, contains("title", text[:20]), ["id", number, "title"], 5)
        names = [f"{r.get(number)} {r.get('title')!r}" for r in similar]
        raise LookupFailed(f"no {work_kind.value} has number or title {text!r}", hint=_hint(names))

    def active_companies(self, limit: int = 500) -> list[Company]:
        rows = self.client.query("Companies", eq("isActive", True), ["id", "companyName", "isActive"], limit)
        return sorted(map(_company, rows), key=lambda c: c.name.lower())

    def open_work(self, kind: str, limit: int = 50, company_id: int | None = None) -> list[ServiceCallWork]:
        work_kind = WorkKind(kind)
        entity, number, *_ = _WORK[work_kind]
        flt: Filter = noteq("status", _COMPLETE)
        if company_id is not None:
            owners = [company_id] if work_kind is WorkKind.TICKET else self._projects_of(company_id)
            if not owners:
                return []
            flt = and_(flt, in_(_WORK_OWNER[work_kind], owners))
        rows = self.client.query(entity, flt, ["id", number, "title"], limit)
        return [_work(work_kind, row, number) for row in rows]

    def _projects_of(self, company_id: int) -> list[int]:
        """A task's company is its project's: the ids of the company's projects."""
        return [r["id"] for r in self.client.query("Projects", eq("companyID", company_id), ["id"], 500)]

    def _company_of(self, kind: WorkKind, row: Row) -> int | None:
        if kind is WorkKind.TICKET:
            return row.get("companyID")
        project = row.get("projectID")
        if project is None:
            return None
        return self._get_or_lookup_failed("Projects", int(project), "project").get("companyID")

    def _get_or_lookup_failed(self, entity: str, item_id: int, what: str) -> Row:
        try:
            return self.client.get(entity, item_id)
        except NotFound:
            raise LookupFailed(f"no {what} has id {item_id} in the PSA") from None

    # --- bookkeeping ----------------------------------------------------------------------------

    def request_counts(self) -> dict[str, int]:
        return self.client.stats

    def warnings(self) -> list[str]:
        """What the user should know so far (an unknown location zone; the client's hourly budget at
        75 % / 90 %), for the run's warnings."""
        return [*self._warnings, *self.client.warnings]

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.client.close()


# --- rows <-> model ----------------------------------------------------------------------------------


def _when(row: Mapping[str, Any], name: str) -> datetime | None:
    value = row.get(name)
    return parse_utc(value) if value else None


def _required_when(row: Mapping[str, Any], name: str) -> datetime:
    value = _when(row, name)
    if value is None:
        raise PsaError(f"the PSA sent an item without {name}")
    return value


def _appointment(row: Row) -> PsaAppointment:
    return PsaAppointment(
        id=row["id"],
        title=row.get("title") or "",
        start=_required_when(row, "startDateTime"),
        end=_required_when(row, "endDateTime"),
        resource_id=row["resourceID"],
        description=row.get("description") or "",
        updated=_when(row, "updateDateTime"),
    )


def _todo(row: Row) -> PsaToDo:
    return PsaToDo(
        id=row["id"],
        company_id=row["companyID"],
        action_type_id=row["actionType"],
        assigned_resource_id=row["assignedToResourceID"],
        start=_required_when(row, "startDateTime"),
        end=_required_when(row, "endDateTime"),
        description=row.get("activityDescription") or "",
        contact_id=row.get("contactID") or None,
        updated=_when(row, "lastModifiedDate"),
    )


def _service_call(row: Row, work: tuple[ServiceCallWork, ...]) -> PsaServiceCall:
    return PsaServiceCall(
        id=row["id"],
        company_id=row["companyID"],
        start=_required_when(row, "startDateTime"),
        end=_required_when(row, "endDateTime"),
        description=row.get("description") or "",
        work=work,
        updated=_when(row, "lastModifiedDateTime"),
    )


_ITEM: dict[PsaKind, Callable[[Row], PsaItem]] = {PsaKind.APPOINTMENT: _appointment, PsaKind.TODO: _todo}


def _marker(kind: PsaKind, row: Row) -> PsaMarker:
    updated = _when(row, MARKER[kind])
    return PsaMarker(PsaRef(kind, row["id"]), _marker_text(updated) if updated else None)


def _work(kind: WorkKind, row: Row, number_field: str) -> ServiceCallWork:
    return ServiceCallWork(kind, row["id"], row.get(number_field) or "", row.get("title") or "")


def _company(row: Row, country: str = "") -> Company:
    address = Address(
        line1=row.get("address1") or "",
        line2=row.get("address2") or "",
        city=row.get("city") or "",
        state=row.get("state") or "",
        postal_code=row.get("postalCode") or "",
        country=country,
    )
    return Company(row["id"], row.get("companyName") or "", address, row.get("isActive") is not False)


def _action_type(row: Row) -> ActionType:
    return ActionType(
        row["id"], row.get("name") or "", row.get("isActive") is not False, row.get("view") in _TODO_VIEWS
    )


def _contact(row: Row) -> Contact:
    return Contact(
        row["id"],
        row["companyID"],
        row.get("firstName") or "",
        row.get("lastName") or "",
        bool(row.get("isActive", 1)),
    )


def _resource(row: Row, time_zone: str) -> Resource:
    return Resource(
        id=row["id"],
        first_name=row.get("firstName") or "",
        last_name=row.get("lastName") or "",
        email=row.get("email") or "",
        user_name=row.get("userName") or "",
        time_zone=time_zone,
        crm_access=True,  # Autotask shows no CRM flag: assumed until a to-do is refused (``_crm``)
        active=row.get("isActive") is not False,
    )


def _row(item: PsaItem) -> Row:
    """The create body: the owned fields plus the ones fixed at creation (owner, company)."""
    if isinstance(item, PsaAppointment):
        return {"resourceID": item.resource_id, **_owned(item)}
    if isinstance(item, PsaToDo):
        return {
            "companyID": item.company_id,
            "assignedToResourceID": item.assigned_resource_id,
            **_owned(item),
        }
    return {"companyID": item.company_id, **_owned(item)}


def _owned(item: PsaItem) -> Row:
    """The fields calferry writes on update (PATCH leaves every other field alone)."""
    times = {"startDateTime": format_utc(item.start), "endDateTime": format_utc(item.end)}
    if isinstance(item, PsaAppointment):
        return {"title": item.title, "description": item.description, **times}
    if isinstance(item, PsaToDo):
        return {
            "companyID": item.company_id,
            "actionType": item.action_type_id,
            "activityDescription": item.description,
            "contactID": item.contact_id,
            **times,
        }
    return {"description": item.description, **times}


_FINGERPRINT_FIELD = {
    "resource_id": "resourceID",
    "title": "title",
    "assigned_resource_id": "assignedToResourceID",
    "company_id": "companyID",
    "start": "startDateTime",
    "end": "endDateTime",
}
"""The Autotask field of each part of :func:`calferry.identity.fingerprint` (its kind picks the entity)."""


def _fingerprint(item: PsaItem) -> Filter:
    return and_(*(eq(_FINGERPRINT_FIELD[k], v) for k, v in fingerprint(item).items() if k != "kind"))


# --- name matching ------------------------------------------------------------------------------------


def _is_id(value: str | int) -> bool:
    return isinstance(value, int) or str(value).strip().isdigit()


def _pick(what: str, name: str, candidates: Mapping[str, T], all_names: Callable[[], list[str]]) -> T:
    """The one candidate named ``name`` (case-insensitive), else ``LookupFailed`` naming close matches."""
    exact = [value for key, value in candidates.items() if key.casefold() == name.casefold()]
    if len(exact) == 1:
        return exact[0]
    if exact:
        raise LookupFailed(f"more than one {what} is named {name!r}; use its id")
    names = list(candidates) or all_names()
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.4) or sorted(names)[:5]
    raise LookupFailed(f"no {what} named {name!r}", hint=_hint(close))


def _hint(names: list[str]) -> str:
    return "close matches: " + ", ".join(names) if names else "nothing similar was found"


__all__ = ["AutotaskPsa", "version_of"]
