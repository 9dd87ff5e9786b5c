"""What the seed talks about, as frozen values: personal items, PSA items, windows and links.

Times: a timed personal item has timezone-aware ``datetime`` start/end (its own zone kept); an
all-day personal item has ``date`` start/end with an exclusive end, exactly as iCalendar says.
PSA times are always aware UTC datetimes (the Autotask REST API speaks UTC only).

Nothing here does I/O or reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

When = date | datetime
"""A personal item's start or end: ``date`` for all-day items, aware ``datetime`` otherwise."""


class PersonalKind(StrEnum):
    """R9: the personal calendar's kinds of item."""

    APPOINTMENT = "appointment"  # no attendees, no resources
    MEETING = "meeting"  # attendees or resources
    EVENT = "event"  # 24 h or longer, or all-day


class PsaKind(StrEnum):
    """R10: the PSA's kinds of calendar item."""

    APPOINTMENT = "appointment"
    TODO = "todo"
    SERVICE_CALL = "service-call"


class Origin(StrEnum):
    """Where a linked pair started: sent from the personal calendar, or downloaded from the PSA."""

    SENT = "sent"
    DOWNLOADED = "downloaded"


class Policy(StrEnum):
    """R5-B: what Get does with a personal edit not yet sent (the config's ``calendar.conflict_policy``)."""

    KEEP_PERSONAL = "keep-personal"  # report the conflict, keep the personal version
    PSA_WINS = "psa-wins"  # overwrite it with the PSA's, as the plug-in does
    ASK = "ask"  # report the conflict, change nothing until the person chooses


class Outcome(StrEnum):
    """What became of one applied action, as the audit log, the journal and ``--json`` write it.

    ``LEFT``: another device is sending the item right now (B9); it is done there, not here.
    ``ADOPTED``: the item's PSA copy already existed (another device, or a create whose answer was lost).
    The journal's settled intents use ``DONE`` and ``FAILED`` of the same words.
    """

    DONE = "done"
    UNCHANGED = "unchanged"
    ADOPTED = "adopted"
    KEPT = "kept"  # R25: a personal delete not done, the PSA item only left the window
    SKIPPED = "skipped"
    LEFT = "left"
    CONFLICT = "conflict"
    FAILED = "failed"


class ShowAs(StrEnum):
    """Free/busy display of a personal item (not mapped to the PSA, R18)."""

    FREE = "free"
    TENTATIVE = "tentative"
    BUSY = "busy"
    OUT_OF_OFFICE = "oof"
    WORKING_ELSEWHERE = "workingElsewhere"


def is_all_day(value: When) -> bool:
    """A bare ``date`` marks an all-day boundary."""
    return not isinstance(value, datetime)


def format_recurrence_id(value: When) -> str:
    """The text form of a recurrence id used in refs and link keys: ``20261130T090000Z`` or ``20261130``."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%d")


def parse_recurrence_id(text: str) -> When:
    """Inverse of :func:`format_recurrence_id`."""
    if "T" in text:
        return datetime.strptime(text.rstrip("Z"), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return datetime.strptime(text, "%Y%m%d").date()


@dataclass(frozen=True)
class Stamp:
    """What calferry writes into a personal item (R16): the PSA item it is linked to.

    Written per occurrence for recurring items, so every sent occurrence carries its own PSA id (R20).
    """

    psa_kind: PsaKind
    psa_id: int
    origin: Origin
    company_id: int | None = None


CLAIM_TTL = timedelta(minutes=10)
"""How long a device's claim keeps other devices away; a create takes seconds, clocks drift minutes."""


@dataclass(frozen=True)
class Claim:
    """A device's intent to create this item's PSA copy, written into the item before the create (B9).

    Written with the item's version (If-Match, the file lock, Graph's change key), so of two devices
    only one can claim an item; the other finds the claim and leaves the item to it. ``fingerprint``
    names the PSA item being made (:func:`calferry.mapping.psa_fingerprint`), so a Get that finds it in
    the PSA before the stamp is written knows whose copy it is. The stamp replaces the claim.
    """

    device: str
    at: datetime
    fingerprint: str

    def fresh(self, now: datetime) -> bool:
        """True while the claiming device may still be at work (a claim from the future counts too)."""
        return abs(now - self.at) < CLAIM_TTL


@dataclass(frozen=True)
class PersonalItem:
    """One item of the personal calendar; an occurrence of a series has ``recurrence_id`` set.

    ``uid`` is the iCalendar UID (shared by all occurrences of a series: the series uid).
    ``version`` is the adapter's concurrency tag (ETag, changeKey, file hash) for optimistic updates.
    """

    uid: str
    start: When
    end: When
    subject: str = ""
    description: str = ""
    location: str = ""
    private: bool = False
    categories: tuple[str, ...] = ()
    reminder_minutes: int | None = None
    show_as: ShowAs = ShowAs.BUSY
    attendees: tuple[str, ...] = ()
    recurring: bool = False
    recurrence_id: When | None = None
    stamp: Stamp | None = None
    version: str | None = None
    claim: Claim | None = None

    @property
    def all_day(self) -> bool:
        return is_all_day(self.start)

    @property
    def kind(self) -> PersonalKind:
        """R9: meeting if it has attendees, event if all-day or 24 h or longer, else appointment."""
        if self.attendees:
            return PersonalKind.MEETING
        if self.all_day or _span(self.start, self.end) >= timedelta(hours=24):
            return PersonalKind.EVENT
        return PersonalKind.APPOINTMENT

    @property
    def series_uid(self) -> str | None:
        """The series this item belongs to, if it is an occurrence of a recurring item."""
        return self.uid if self.recurring else None

    @property
    def ref(self) -> str:
        """How a person names this item on the command line: ``uid`` or ``uid@recurrence-id``."""
        return make_ref(self.uid, self.recurrence_id)

    @property
    def key(self) -> ItemKey:
        return ItemKey(
            self.uid, None if self.recurrence_id is None else format_recurrence_id(self.recurrence_id)
        )


@dataclass(frozen=True, order=True)
class ItemKey:
    """Identity of a personal item or occurrence: uid plus the text recurrence id (or None)."""

    uid: str
    recurrence_id: str | None = None

    @property
    def ref(self) -> str:
        return self.uid if self.recurrence_id is None else f"{self.uid}@{self.recurrence_id}"

    @classmethod
    def from_ref(cls, ref: str) -> ItemKey:
        """Parse ``uid`` or ``uid@recurrence-id``; a uid may itself contain ``@`` (only the last counts
        when what follows looks like a recurrence id)."""
        uid, sep, tail = ref.rpartition("@")
        if sep and _looks_like_recurrence_id(tail):
            return cls(uid, tail)
        return cls(ref, None)


def make_ref(uid: str, recurrence_id: When | None) -> str:
    return ItemKey(uid, None if recurrence_id is None else format_recurrence_id(recurrence_id)).ref


def _looks_like_recurrence_id(text: str) -> bool:
    digits = text.rstrip("Z").replace("T", "")
    return digits.isdigit() and len(digits) in (8, 14)


def _span(start: When, end: When) -> timedelta:
    if isinstance(start, datetime) and isinstance(end, datetime):
        return end - start
    return _as_date(end) - _as_date(start)


def _as_date(value: When) -> date:
    return value.date() if isinstance(value, datetime) else value


# --- PSA side -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    line1: str = ""
    line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""

    def one_line(self) -> str:
        """The address as one line, for a personal item's location (R28, R32)."""
        city = " ".join(p for p in (self.postal_code, self.city) if p)
        parts = (self.line1, self.line2, city, self.state, self.country)
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True)
class Company:
    id: int
    name: str
    address: Address = field(default_factory=Address)
    active: bool = True


@dataclass(frozen=True)
class Contact:
    id: int
    company_id: int
    first_name: str
    last_name: str
    active: bool = True

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class Resource:
    """A PSA user. ``time_zone`` is the IANA zone of the resource's internal location."""

    id: int
    first_name: str
    last_name: str
    email: str = ""
    user_name: str = ""
    time_zone: str = "UTC"
    crm_access: bool = True
    active: bool = True

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class ActionType:
    """A PSA action type; ``for_todos``: the PSA offers it for To-Dos (not calendar-only)."""

    id: int
    name: str
    active: bool = True
    for_todos: bool = True


@dataclass(frozen=True)
class PsaAppointment:
    """R10: personal, non-company time of one resource. ``id`` is None before it is created."""

    id: int | None
    title: str
    start: datetime
    end: datetime
    resource_id: int
    description: str = ""
    updated: datetime | None = None


@dataclass(frozen=True)
class PsaToDo:
    """R10: a CRM to-do, always tied to a company; needs CRM access (R33)."""

    id: int | None
    company_id: int
    action_type_id: int
    assigned_resource_id: int
    start: datetime
    end: datetime
    description: str = ""
    contact_id: int | None = None
    updated: datetime | None = None


class WorkKind(StrEnum):
    TICKET = "ticket"
    TASK = "task"


@dataclass(frozen=True)
class ServiceCallWork:
    """A ticket or task held by a service call, as shown in its description (R28)."""

    kind: WorkKind
    id: int
    number: str
    title: str


@dataclass(frozen=True)
class PsaServiceCall:
    """R10: a customer's time reservation holding tickets and/or tasks; never sent (R7)."""

    id: int | None
    company_id: int
    start: datetime
    end: datetime
    description: str = ""
    work: tuple[ServiceCallWork, ...] = ()
    updated: datetime | None = None


PsaItem = PsaAppointment | PsaToDo | PsaServiceCall


def psa_kind_of(item: PsaItem) -> PsaKind:
    if isinstance(item, PsaAppointment):
        return PsaKind.APPOINTMENT
    if isinstance(item, PsaToDo):
        return PsaKind.TODO
    return PsaKind.SERVICE_CALL


@dataclass(frozen=True)
class PsaRef:
    """Identity of a PSA item: kind + id (ids are only unique per entity)."""

    kind: PsaKind
    id: int

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"


# --- windows and links ----------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A half-open time range [start, end) in UTC; R26's Get window."""

    start: datetime
    end: datetime

    @classmethod
    def around(cls, now: datetime, past_days: int, future_days: int) -> Window:
        """R26: [today - past days, today + future days], whole days in UTC of ``now``'s day."""
        today = datetime(now.year, now.month, now.day, tzinfo=now.tzinfo or UTC)
        start = (today - timedelta(days=past_days)).astimezone(UTC)
        end = (today + timedelta(days=future_days + 1)).astimezone(UTC)
        return cls(start, end)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """True if [start, end) meets the window; a zero-length item counts at its instant."""
        if end <= start:
            return self.start <= start < self.end
        return start < self.end and end > self.start


@dataclass(frozen=True)
class Link:
    """One personal item (or occurrence) linked to one PSA item; the link store's row.

    The hashes are of the mapped fields at the last transfer, per side: a side "changed" when its
    version moved *and* its hash differs (noise such as a bumped ETag alone is no change).
    """

    personal: ItemKey
    psa: PsaRef
    origin: Origin
    series_uid: str | None = None
    company_id: int | None = None
    contact_id: int | None = None
    action_type_id: int | None = None
    personal_version: str | None = None
    personal_hash: str | None = None
    psa_version: str | None = None
    psa_hash: str | None = None
