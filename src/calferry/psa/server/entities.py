"""The one table of entity metadata the whole server is driven by.

Tables (``models.py``), write validation (``store.py``), query field lookup (``query.py``) and the
``entityInformation`` / ``entityInformation/fields`` answers are all derived from ``ENTITIES`` below,
so a field is described exactly once. Lengths and flags follow autotask-api.md §3 (SOAP-derived where
the REST pages are silent). The fields below are those calferry relies on; ``catalog.py`` adds every other
field Autotask documents for the entity, after these.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from calferry.psa.server.catalog import CATALOG

LONG, INT, STR, DT, BOOL, DOUBLE = "long", "integer", "string", "dateTime", "boolean", "double"

READ, CREATE, UPDATE, DELETE = "query", "create", "update", "delete"


@dataclass(frozen=True)
class Field:
    """One field as ``entityInformation/fields`` describes it."""

    name: str
    type: str
    length: int = 0
    required: bool = False
    read_only: bool = False
    queryable: bool = True
    reference: str | None = None
    picklist: tuple[tuple[int, str], ...] = ()
    tenant_picklist: bool = False  # a picklist whose values each tenant defines: none listed, any accepted


@dataclass(frozen=True)
class ParentUrl:
    """``/{parent}/{id}/{child}``: where Autotask wants a child entity written; ``key`` links the two."""

    parent: str
    child: str
    key: str
    verbs: frozenset[str]


@dataclass(frozen=True)
class Entity:
    """An entity: its fields, the verbs its root URL takes, its parent URL and its bookkeeping fields."""

    name: str
    fields: tuple[Field, ...]
    root_verbs: frozenset[str] = frozenset({READ})
    parent: ParentUrl | None = None
    markers: tuple[str, ...] = ()  # change markers, stamped on every write
    created: str | None = None  # creation time, stamped on create
    creator: str | None = None  # creatorResourceID
    impersonator: str | None = None  # impersonatorCreatorResourceID
    indexes: tuple[tuple[str, ...], ...] = ()
    internal: tuple[Field, ...] = ()
    """Columns only this server keeps (its security model): never on the wire, in a filter or a body."""
    by_lower: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_lower", {f.name.lower(): f for f in self.fields})

    def field(self, name: str) -> Field | None:
        """Field names are case-insensitive, as in Autotask."""
        return self.by_lower.get(name.lower())

    @property
    def all_verbs(self) -> frozenset[str]:
        return self.root_verbs | (self.parent.verbs if self.parent else frozenset())


def _id() -> Field:
    return Field("id", LONG, read_only=True)


def _ref(name: str, target: str, *, required: bool = False, read_only: bool = False) -> Field:
    return Field(name, LONG, required=required, read_only=read_only, reference=target)


def _ro(name: str, kind: str = DT, *, queryable: bool = True) -> Field:
    return Field(name, kind, read_only=True, queryable=queryable)


def _s(name: str, length: int, *, required: bool = False) -> Field:
    return Field(name, STR, length, required=required)


RW = frozenset({READ, CREATE, UPDATE, DELETE})
RCU = frozenset({READ, CREATE, UPDATE})
CU = frozenset({CREATE, UPDATE})

SECURITY_LEVELS = (
    (1, "System Administrator"),
    (2, "Technician"),
    (3, "Technician (no CRM)"),
    (4, "API User"),
)
"""The server's own security levels, kept in ``Resources``' internal columns ``securityLevel`` and
``hasCrmAccess``: Autotask's REST API exposes neither, it only refuses (rules.py)."""
ADMIN_LEVEL, NO_CRM_LEVEL, API_LEVEL = 1, 3, 4

_OWN: tuple[Entity, ...] = (
    Entity(
        "Appointments",
        (
            _id(),
            _s("title", 256, required=True),
            _s("description", 8000),
            Field("startDateTime", DT, required=True),
            Field("endDateTime", DT, required=True),
            _ref("resourceID", "Resources", required=True),
            _ro("createDateTime"),
            _ref("creatorResourceID", "Resources", read_only=True),
            _ro("updateDateTime"),
        ),
        root_verbs=RW,
        markers=("updateDateTime",),
        created="createDateTime",
        creator="creatorResourceID",
        indexes=(("resourceID", "startDateTime"), ("endDateTime",), ("updateDateTime",)),
    ),
    Entity(
        "CompanyToDos",
        (
            _id(),
            _ref("companyID", "Companies", required=True),
            Field("actionType", INT, required=True, reference="ActionTypes"),
            _ref("assignedToResourceID", "Resources", required=True),
            Field("startDateTime", DT, required=True),
            Field("endDateTime", DT, required=True),
            _s("activityDescription", 32000),
            _ref("contactID", "Contacts"),
            Field("contractID", LONG),
            Field("opportunityID", LONG),
            _ref("ticketID", "Tickets"),
            Field("completedDate", DT),
            _ro("createDateTime"),
            _ref("creatorResourceID", "Resources", read_only=True),
            _ref("impersonatorCreatorResourceID", "Resources", read_only=True),
            _ro("lastModifiedDate"),
        ),
        parent=ParentUrl("Companies", "ToDos", "companyID", frozenset({CREATE, UPDATE, DELETE})),
        markers=("lastModifiedDate",),
        created="createDateTime",
        creator="creatorResourceID",
        impersonator="impersonatorCreatorResourceID",
        indexes=(("assignedToResourceID", "startDateTime"), ("endDateTime",), ("companyID",)),
    ),
    Entity(
        "ServiceCalls",
        (
            _id(),
            _ref("companyID", "Companies", required=True),
            Field("companyLocationID", LONG),
            _s("description", 2000),
            Field("status", INT, picklist=((1, "New"), (2, "Scheduled"), (3, "Complete"))),
            Field("isComplete", INT),
            _ref("canceledByResourceID", "Resources"),
            Field("canceledDateTime", DT),
            Field("startDateTime", DT, required=True),
            Field("endDateTime", DT, required=True),
            _ro("duration", DOUBLE),
            _ro("cancelationNoticeHours", DOUBLE),
            _ro("createDateTime"),
            _ref("creatorResourceID", "Resources", read_only=True),
            _ref("impersonatorCreatorResourceID", "Resources", read_only=True),
            _ro("lastModifiedDateTime"),
        ),
        root_verbs=RW,
        markers=("lastModifiedDateTime",),
        created="createDateTime",
        creator="creatorResourceID",
        impersonator="impersonatorCreatorResourceID",
        indexes=(("startDateTime",), ("endDateTime",), ("companyID",)),
    ),
    Entity(
        "ServiceCallTickets",
        (
            _id(),
            _ref("serviceCallID", "ServiceCalls", required=True),
            _ref("ticketID", "Tickets", required=True),
        ),
        parent=ParentUrl("ServiceCalls", "Tickets", "serviceCallID", frozenset({CREATE, DELETE})),
        indexes=(("serviceCallID",),),
    ),
    Entity(
        "ServiceCallTasks",
        (_id(), _ref("serviceCallID", "ServiceCalls", required=True), _ref("taskID", "Tasks", required=True)),
        parent=ParentUrl("ServiceCalls", "Tasks", "serviceCallID", frozenset({CREATE, DELETE})),
        indexes=(("serviceCallID",),),
    ),
    Entity(
        "ServiceCallTicketResources",
        (
            _id(),
            _ref("serviceCallTicketID", "ServiceCallTickets", required=True),
            _ref("resourceID", "Resources", required=True),
        ),
        parent=ParentUrl(
            "ServiceCallTickets", "Resources", "serviceCallTicketID", frozenset({CREATE, DELETE})
        ),
        indexes=(("serviceCallTicketID",), ("resourceID",)),
    ),
    Entity(
        "ServiceCallTaskResources",
        (
            _id(),
            _ref("serviceCallTaskID", "ServiceCallTasks", required=True),
            _ref("resourceID", "Resources", required=True),
        ),
        parent=ParentUrl("ServiceCallTasks", "Resources", "serviceCallTaskID", frozenset({CREATE, DELETE})),
        indexes=(("serviceCallTaskID",), ("resourceID",)),
    ),
    Entity(
        "Companies",
        (
            _id(),
            _s("companyName", 100, required=True),
            Field(
                "companyType",
                INT,
                required=True,
                picklist=((1, "Customer"), (2, "Lead"), (3, "Prospect"), (7, "Vendor"), (8, "Partner")),
            ),
            _ref("ownerResourceID", "Resources", required=True),
            _s("phone", 25, required=True),
            _s("address1", 128),
            _s("address2", 128),
            _s("city", 30),
            _s("state", 40),
            _s("postalCode", 10),
            Field("countryID", INT, reference="Countries"),
            _s("additionalAddressInformation", 100),
            _s("fax", 25),
            _s("webAddress", 255),
            Field("isActive", BOOL),
            _ref("parentCompanyID", "Companies"),
            _ro("createDate"),
            _ro("lastActivityDate"),
            _ro("lastTrackedModifiedDateTime"),
        ),
        root_verbs=RCU,
        markers=("lastTrackedModifiedDateTime",),
        created="createDate",
        indexes=(("companyName",),),
    ),
    Entity(
        "Contacts",
        (
            _id(),
            _ref("companyID", "Companies", required=True),
            _s("firstName", 50, required=True),
            _s("lastName", 50, required=True),
            Field("isActive", INT, required=True),
            _s("emailAddress", 254),
            _s("emailAddress2", 254),
            _s("emailAddress3", 254),
            _s("phone", 25),
            _s("mobilePhone", 25),
            _s("title", 50),
            _s("addressLine", 128),
            _s("addressLine1", 128),
            _s("city", 32),
            _s("state", 40),
            _s("zipCode", 16),
            _ro("createDate"),
            _ro("lastActivityDate"),
            _ro("lastModifiedDate"),
        ),
        parent=ParentUrl("Companies", "Contacts", "companyID", frozenset({CREATE, UPDATE, DELETE})),
        markers=("lastModifiedDate",),
        created="createDate",
        indexes=(("companyID",),),
    ),
    Entity(
        "Resources",
        (
            _id(),
            _s("firstName", 50, required=True),
            _s("lastName", 50, required=True),
            _s("middleName", 50),
            _s("email", 254, required=True),
            _s("email2", 254),
            _s("email3", 254),
            _s("emailTypeCode", 20, required=True),
            _s("userName", 32, required=True),
            Field("isActive", BOOL, required=True),
            _s("resourceType", 15, required=True),
            Field("payrollType", INT, required=True),
            _s("numberFormat", 20, required=True),
            _ref("locationID", "InternalLocations", read_only=True),
            _ro("userType", INT),
            _ro("hireDate"),
            _ro("dateFormat", STR),
            _ro("timeFormat", STR),
            _ro("internalCost", DOUBLE),
            _s("title", 50),
            _s("officePhone", 25),
            _s("officeExtension", 10),
            _s("mobilePhone", 25),
            _s("initials", 32),
            Field("licenseType", INT),
            Field("defaultServiceDeskRoleID", LONG, queryable=False),
        ),
        root_verbs=frozenset({READ, UPDATE}),
        internal=(Field("securityLevel", INT, picklist=SECURITY_LEVELS), Field("hasCrmAccess", BOOL)),
        indexes=(("email",), ("userName",)),
    ),
    Entity(
        "ActionTypes",
        (
            _id(),
            _s("name", 32, required=True),
            Field("isActive", BOOL, required=True),
            _ro("isSystemActionType", BOOL),
            Field(
                "view",
                INT,
                required=True,
                picklist=((1, "Calendar"), (2, "To-Do"), (3, "Calendar and To-Do"), (4, "None")),
            ),
        ),
        root_verbs=RW,
    ),
    Entity(
        "Tickets",
        (
            _id(),
            _ref("companyID", "Companies", required=True),
            _s("title", 255, required=True),
            Field("status", INT, required=True, picklist=((1, "New"), (5, "Complete"), (8, "In Progress"))),
            Field("priority", INT, required=True, picklist=((1, "High"), (2, "Medium"), (3, "Low"))),
            Field("ticketNumber", STR, 50, read_only=True),
            _s("description", 8000),
            _ref("assignedResourceID", "Resources"),
            Field("dueDateTime", DT, required=True),
            _ro("creatorType", INT, queryable=False),
            _ro("lastActivityPersonType", INT, queryable=False),
            _ro("createDate"),
            _ro("lastActivityDate"),
            _ro("lastTrackedModificationDateTime"),
        ),
        root_verbs=RCU,
        markers=("lastTrackedModificationDateTime", "lastActivityDate"),
        created="createDate",
        indexes=(("ticketNumber",), ("companyID",)),
    ),
    Entity(
        "Tasks",
        (
            _id(),
            _ref("projectID", "Projects", required=True),
            _s("title", 255, required=True),
            Field("status", INT, required=True, picklist=((1, "New"), (5, "Complete"), (8, "In Progress"))),
            Field("taskType", INT, required=True, picklist=((1, "Fixed Work"), (2, "Fixed Duration"))),
            Field("taskNumber", STR, 50, read_only=True),
            _s("description", 8000),
            _ref("assignedResourceID", "Resources"),
            Field("startDateTime", DT),
            Field("endDateTime", DT),
            Field("remainingHours", DOUBLE, queryable=False),
            _ro("createDateTime"),
            _ro("lastActivityDateTime"),
        ),
        parent=ParentUrl("Projects", "Tasks", "projectID", CU),
        markers=("lastActivityDateTime",),
        created="createDateTime",
        indexes=(("taskNumber",), ("projectID",)),
    ),
    Entity(
        "InternalLocations",
        (
            _id(),
            _s("name", 100, required=True),
            # A string in the swagger ("the Microsoft Time Zone Index value" says the entity page); the
            # demo uses every form calferry accepts: an index as text, a Windows and an IANA zone name.
            _s("timeZone", 100, required=True),
            Field("isDefault", BOOL),
        ),
    ),
    Entity(
        # Autotask's fixed country list: a client can rename, (de)activate or re-default a country
        # (PATCH/PUT) but never add or delete one. ``name`` is the ISO standard name, ``displayName`` what
        # Autotask shows (and calferry puts into an address).
        "Countries",
        (
            _id(),
            Field("name", STR, 50, read_only=True),
            _s("displayName", 100, required=True),
            Field("countryCode", STR, 2, read_only=True),
            Field("addressFormatID", LONG, required=True),
            Field("isActive", BOOL),
            Field("isDefaultCountry", BOOL),
        ),
        root_verbs=frozenset({READ, UPDATE}),
    ),
    Entity(
        "Projects",
        (
            _id(),
            _s("projectName", 100, required=True),
            _ref("companyID", "Companies", required=True),
            Field("status", INT, required=True, picklist=((1, "New"), (5, "Complete"))),
            Field(
                "projectType",
                INT,
                required=True,
                picklist=((4, "Proposal"), (5, "Template"), (8, "Baseline")),
            ),
            Field("startDateTime", DT, required=True),
            Field("endDateTime", DT, required=True),
            _ro("createDateTime"),
            _ro("lastActivityDateTime"),
        ),
        root_verbs=RCU,
        markers=("lastActivityDateTime",),
        created="createDateTime",
    ),
)


def _documented(entity: Entity) -> Entity:
    """``entity`` with the further fields ``catalog.py`` lists for it (one it already has stays as it is)."""
    extra = tuple(
        Field(
            name,
            kind,
            length,
            read_only="O" in flags,
            reference=reference[0] if reference else None,
            tenant_picklist="P" in flags,
        )
        for name, kind, length, flags, *reference in CATALOG.get(entity.name, ())
        if entity.field(name) is None
    )
    return replace(entity, fields=entity.fields + extra)


ENTITIES: tuple[Entity, ...] = tuple(_documented(e) for e in _OWN)
BY_NAME: dict[str, Entity] = {e.name.lower(): e for e in ENTITIES}
INTERNAL: frozenset[str] = frozenset(f.name for e in ENTITIES for f in e.internal)
"""Names of the internal columns, which no answer shows."""
CHILD_URLS: dict[tuple[str, str], Entity] = {
    (e.parent.parent.lower(), e.parent.child.lower()): e for e in ENTITIES if e.parent is not None
}


def entity(name: str) -> Entity | None:
    """An entity by its (case-insensitive) URL name."""
    return BY_NAME.get(name.lower())


def child_entity(parent: str, child: str) -> Entity | None:
    """The entity written at ``/{parent}/{id}/{child}``, if Autotask has such a URL."""
    return CHILD_URLS.get((parent.lower(), child.lower()))
