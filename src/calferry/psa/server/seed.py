"""Demo data (``--seed demo``) and a fast bulk loader for tests and benchmarks.

Dates are relative to the server's current UTC date, so the demo calendar always has items in the
past and the coming weeks. The demo is written once into an empty database; a seeded one is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, or_, select

from calferry.psa.server.entities import ADMIN_LEVEL, API_LEVEL, NO_CRM_LEVEL
from calferry.psa.server.models import TABLES, sync_sequences

DEMO_DOMAIN = "demo.calferry.local"
LOCATIONS = (  # id, name, Autotask's timeZone in the forms a tenant may answer: an index as text and
    # Windows zone names
    (1, "Head Office New York", "35"),
    (2, "Berlin Office", "W. Europe Standard Time"),
    (3, "Sydney Office", "AUS Eastern Standard Time"),
)
TECHNICIANS = (  # first, last, mail name, location, security level
    ("Ada", "Admin", "admin", 1, ADMIN_LEVEL),
    ("Nora", "York", "tech.ny", 1, 2),
    ("Bernd", "Lindner", "tech.berlin", 2, 2),
    ("Noah", "Crmless", "tech.nocrm", 3, NO_CRM_LEVEL),
)
ACTION_TYPES = (  # id, name, view (1 Calendar, 2 To-Do, 3 both, 4 none), system
    (0, "Opportunity Update", 1, True),
    (1, "Phone Call", 3, True),
    (2, "Meeting", 3, True),
    (3, "General", 3, True),
    (5, "Quick Note", 4, True),
    (29682776, "Email", 2, False),
)
COUNTRIES = (  # id, ISO standard name, display name, ISO code, address format, default
    (14, "Australia", "Australia", "AU", 1, False),
    (83, "Germany", "Germany", "DE", 2, False),
    (237, "United States of America", "United States", "US", 1, True),
)
"""Every database holds these, seeded or not (a tenant always has its country list); address format ids
are ours (1 "city state postal code", 2 "postal code city"), Autotask does not publish its own."""
COMPANIES = (  # name, phone, address1, city, state, postal code, country id (COUNTRIES)
    ("Contoso Dental", "+1 212 555 0101", "350 Fifth Avenue", "New York", "NY", "10118", 237),
    ("Fabrikam Logistik GmbH", "+49 30 555 0102", "Friedrichstraße 43", "Berlin", "BE", "10117", 83),
    ("Northwind Traders Pty", "+61 2 5550 0103", "1 Macquarie Street", "Sydney", "NSW", "2000", 14),
)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _insert(conn: Connection, table: str, **values: Any) -> int:
    key = conn.execute(TABLES[table].insert().values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def _resource(conn: Connection, first: str, last: str, email: str, location: int, level: int) -> int:
    return _insert(
        conn,
        "Resources",
        firstName=first,
        lastName=last,
        email=email,
        emailTypeCode="PRIMARY",
        userName=email[:32],
        isActive=True,
        resourceType="Employee",
        payrollType=1,
        numberFormat="X,XXX.XX",
        locationID=location,
        userType=1 if level != API_LEVEL else 17,
        hireDate=datetime(2024, 1, 2),
        dateFormat="yyyy-MM-dd",
        timeFormat="HH:mm",
        securityLevel=level,
        hasCrmAccess=level != NO_CRM_LEVEL,
    )


def _ensure_location(conn: Connection) -> int:
    table = TABLES["InternalLocations"]
    found = conn.execute(select(table.c.id).order_by(table.c.id)).scalars().first()
    if found is not None:
        return int(found)
    return _insert(conn, "InternalLocations", name="Head Office", timeZone="UTC", isDefault=True)


def ensure_countries(engine: Engine) -> None:
    """The countries of ``COUNTRIES`` that the database lacks (Countries cannot be created over the API)."""
    table = TABLES["Countries"]
    with engine.begin() as conn:
        have = set(conn.execute(select(table.c.id)).scalars())
        for country_id, name, display, code, address_format, default in COUNTRIES:
            if country_id not in have:
                _insert(
                    conn,
                    "Countries",
                    id=country_id,
                    name=name,
                    displayName=display,
                    countryCode=code,
                    addressFormatID=address_format,
                    isActive=True,
                    isDefaultCountry=default,
                )


def ensure_api_user(engine: Engine, username: str) -> int:
    """The API-only resource for ``username`` (created if missing): the creator of API writes."""
    table = TABLES["Resources"]
    with engine.begin() as conn:
        found = conn.execute(
            select(table.c.id).where(
                or_(
                    func.lower(table.c.email) == username.lower(),
                    func.lower(table.c.userName) == username.lower(),
                )
            )
        ).scalar()
        if found is not None:
            return int(found)
        return _resource(conn, "API", "User", username, _ensure_location(conn), API_LEVEL)


def seed_demo(engine: Engine, username: str) -> bool:
    """Write the demo data into an empty database; False (nothing written) if it holds companies already."""
    with engine.connect() as conn:
        if conn.execute(select(func.count()).select_from(TABLES["Companies"])).scalar_one():
            return False
    with engine.begin() as conn:
        for loc_id, name, zone in LOCATIONS:
            _insert(conn, "InternalLocations", id=loc_id, name=name, timeZone=zone)
        for at_id, name, view, system in ACTION_TYPES:
            _insert(
                conn, "ActionTypes", id=at_id, name=name, view=view, isActive=True, isSystemActionType=system
            )
    sync_sequences(engine)
    api_user = ensure_api_user(engine, username)
    with engine.begin() as conn:
        _DemoWriter(conn, _now(), api_user).write()
    sync_sequences(engine)
    return True


class _DemoWriter:
    """Writes the demo records in dependency order; ``day(n, hour)`` is n days from today, UTC."""

    def __init__(self, conn: Connection, now: datetime, api_user: int) -> None:
        self.conn = conn
        self.now = now
        self.today = now.replace(hour=0, minute=0, second=0)
        self.api_user = api_user
        self.numbers = 0

    def day(self, offset: int, hour: float) -> datetime:
        return self.today + timedelta(days=offset, hours=hour)

    def write(self) -> None:
        techs = [
            _resource(self.conn, f, la, f"{m}@{DEMO_DOMAIN}", loc, lvl) for f, la, m, loc, lvl in TECHNICIANS
        ]
        companies = [self._company(techs[0], *row) for row in COMPANIES]
        contacts = [self._contact(cid, n) for cid in companies for n in range(2)]
        tickets = [
            self._ticket(companies[i % 3], techs[1 + i % 2], f"Printer queue stalls #{i + 1}")
            for i in range(4)
        ]
        project = _insert(
            self.conn,
            "Projects",
            projectName="Office move",
            companyID=companies[1],
            status=1,
            projectType=8,
            startDateTime=self.day(-7, 8),
            endDateTime=self.day(30, 17),
            createDateTime=self.now,
            lastActivityDateTime=self.now,
        )
        tasks = [self._task(project, techs[1 + i % 2], f"Move rack {i + 1}") for i in range(3)]
        self._service_calls(companies, tickets, tasks, techs)
        self._appointments(techs)
        self._todos(companies, contacts, techs)

    def _company(
        self, owner: int, name: str, phone: str, street: str, city: str, state: str, postal: str, country: int
    ) -> int:
        return _insert(
            self.conn,
            "Companies",
            companyName=name,
            companyType=1,
            ownerResourceID=owner,
            phone=phone,
            address1=street,
            city=city,
            state=state,
            postalCode=postal,
            countryID=country,
            isActive=True,
            createDate=self.now,
            lastTrackedModifiedDateTime=self.now,
        )

    def _contact(self, company: int, n: int) -> int:
        first, last = (("Maria", "Garcia"), ("Sam", "Lee"))[n]
        return _insert(
            self.conn,
            "Contacts",
            companyID=company,
            firstName=first,
            lastName=f"{last} {company}",
            isActive=1,
            emailAddress=f"{first.lower()}.{company}@example.com",
            createDate=self.now,
            lastModifiedDate=self.now,
        )

    def _number(self) -> str:
        self.numbers += 1
        return f"T{self.now:%Y%m%d}.{self.numbers:04d}"

    def _ticket(self, company: int, tech: int, title: str) -> int:
        return _insert(
            self.conn,
            "Tickets",
            companyID=company,
            title=title,
            status=1,
            priority=2,
            dueDateTime=self.day(3, 17),
            ticketNumber=self._number(),
            assignedResourceID=tech,
            createDate=self.now,
            lastActivityDate=self.now,
            lastTrackedModificationDateTime=self.now,
        )

    def _task(self, project: int, tech: int, title: str) -> int:
        return _insert(
            self.conn,
            "Tasks",
            projectID=project,
            title=title,
            status=1,
            taskType=1,
            taskNumber=self._number(),
            assignedResourceID=tech,
            createDateTime=self.now,
            lastActivityDateTime=self.now,
        )

    def _service_calls(
        self, companies: list[int], tickets: list[int], tasks: list[int], techs: list[int]
    ) -> None:
        for n, offset in enumerate((2, 5, 12)):
            start, end = self.day(offset, 13), self.day(offset, 15.5)
            call = _insert(
                self.conn,
                "ServiceCalls",
                companyID=companies[n],
                description=f"On-site visit {n + 1}",
                status=1,
                isComplete=0,
                startDateTime=start,
                endDateTime=end,
                duration=2.5,
                createDateTime=self.now,
                creatorResourceID=self.api_user,
                lastModifiedDateTime=self.now,
            )
            sct = _insert(self.conn, "ServiceCallTickets", serviceCallID=call, ticketID=tickets[n])
            _insert(
                self.conn, "ServiceCallTicketResources", serviceCallTicketID=sct, resourceID=techs[1 + n % 2]
            )
            sck = _insert(self.conn, "ServiceCallTasks", serviceCallID=call, taskID=tasks[n])
            _insert(self.conn, "ServiceCallTaskResources", serviceCallTaskID=sck, resourceID=techs[1 + n % 2])

    def _appointments(self, techs: list[int]) -> None:
        for tech in techs:
            for offset, hour, title in _APPOINTMENT_PLAN:
                _insert(
                    self.conn,
                    "Appointments",
                    title=title,
                    description=f"Demo appointment ({title.lower()})",
                    startDateTime=self.day(offset, hour),
                    endDateTime=self.day(offset, hour + 1),
                    resourceID=tech,
                    createDateTime=self.now,
                    creatorResourceID=self.api_user,
                    updateDateTime=self.now,
                )

    def _todos(self, companies: list[int], contacts: list[int], techs: list[int]) -> None:
        crm_techs = techs[:3]
        for n, (offset, hour, action) in enumerate(((-4, 10, 1), (-1, 15, 2), (1, 9, 3), (3, 11, 29682776))):
            company = companies[n % 3]
            _insert(
                self.conn,
                "CompanyToDos",
                companyID=company,
                actionType=action,
                assignedToResourceID=crm_techs[n % 3],
                startDateTime=self.day(offset, hour),
                endDateTime=self.day(offset, hour + 0.5),
                activityDescription=f"Follow up #{n + 1}",
                contactID=contacts[(n % 3) * 2],
                completedDate=self.day(offset, hour) if offset < -2 else None,
                createDateTime=self.now,
                creatorResourceID=self.api_user,
                lastModifiedDate=self.now,
            )


_APPOINTMENT_PLAN = (
    (-10, 9, "Dentist"),
    (-2, 14, "Team lunch"),
    (1, 8, "Training"),
    (7, 16, "Quarterly review"),
    (21, 10, "Vacation planning"),
)


def bulk_appointments(
    engine: Engine, n: int, resource_id: int, start: datetime, *, minutes: int = 30, step_minutes: int = 60
) -> int:
    """Insert ``n`` appointments for ``resource_id`` fast (executemany in chunks); returns ``n``.

    ``start`` is naive UTC or aware; item k starts at ``start + k * step_minutes``.
    """
    if start.tzinfo is not None:
        start = start.astimezone(UTC).replace(tzinfo=None)
    table = TABLES["Appointments"]
    now = _now()
    with engine.begin() as conn:
        for chunk in _chunks(n, 5000):
            rows = [
                {
                    "title": f"Bulk appointment {k + 1}",
                    "startDateTime": start + timedelta(minutes=k * step_minutes),
                    "endDateTime": start + timedelta(minutes=k * step_minutes + minutes),
                    "resourceID": resource_id,
                    "createDateTime": now,
                    "updateDateTime": now,
                }
                for k in chunk
            ]
            conn.execute(table.insert(), rows)
    return n


def bulk_resources(engine: Engine, emails: Iterable[str], location: int = 1) -> list[int]:
    """Insert a technician resource (security level 2) per e-mail at ``location``; their ids, in order."""
    with engine.begin() as conn:
        return [_resource(conn, "Tech", email.split("@")[0], email, location, 2) for email in emails]


def _chunks(n: int, size: int) -> Iterator[range]:
    for begin in range(0, n, size):
        yield range(begin, min(n, begin + size))
