"""Items per second of the pure planner: ``plan_send`` and ``plan_get`` at 10,000 and 100,000 items.

No I/O: the inputs (personal items, PSA snapshot, links) are built in memory first, then each plan is
timed alone. Every branch of each planner is represented, in equal shares (one item of each case in
turn), so the figure is not that of the cheapest path:

- Send: first send (R16), first send of an occurrence (R20), a private item (R18), re-send of an edited
  item (R17), re-send as a To-Do, unchanged since the last send (skipped), a To-Do without company
  (not mappable, R14), a downloaded service call (R7), a copied stamp (not followed);
- Get: new appointment, To-Do and service call (R23), linked and unchanged (no action), PSA changed
  (R24), personal edit only (R5), changed on both sides (conflict), a recurring item sent from the
  personal calendar (R27), a copy outside the window (R24, if present), deleted in the PSA (R25),
  deleted in the PSA but edited here (conflict), a link rebuilt from a stamp whose sides differ
  (conflict), claimed by another device (B9), a copied stamp (reported), an item outside the window
  (R26, ignored).

Prints, per size, the seconds and items per second of each plan and how many actions each branch gave.

    .venv/bin/python bench/planner.py [SIZES...]      (default: 10000 100000)
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from calferry.contracts import PsaSnapshot
from calferry.mapping import personal_hash, psa_fingerprint, psa_hash
from calferry.model import (
    ActionType,
    Address,
    Claim,
    Company,
    Contact,
    Link,
    Origin,
    PersonalItem,
    PsaAppointment,
    PsaItem,
    PsaKind,
    PsaRef,
    PsaServiceCall,
    PsaToDo,
    Resource,
    ServiceCallWork,
    Stamp,
    Window,
    WorkKind,
    psa_kind_of,
)
from calferry.plan import GetOptions, Plan, SendOptions, plan_get, plan_send, psa_version

NOW = datetime(2031, 1, 1, 7, tzinfo=UTC)
ME = Resource(7, "Tess", "Tech", "tess@example.com", "tess", "Europe/Berlin")
ACME = Company(1, "Acme", Address("1 Main St", city="Springfield", postal_code="12345"))
ALICE = Contact(11, 1, "Alice", "Able")
MEETING = ActionType(3, "Meeting")
TICKET = ServiceCallWork(WorkKind.TICKET, 101, "T20310101.0001", "Printer down")
OLD, NEW = datetime(2030, 12, 1, tzinfo=UTC), datetime(2030, 12, 20, tzinfo=UTC)
_REF = re.compile(r"\b(?:p|copy|series)-\d+|\b(?:appointment|todo|service-call):\d+")
"""Item refs in a reason, so that the branches of one kind count together."""
BEFORE = NOW - timedelta(days=30)
"""Where the items outside the window are (the window starts a day before NOW)."""


def at(k: int, minutes: int = 0) -> datetime:
    """Item k's start: one every 10 minutes from NOW on."""
    return NOW + timedelta(minutes=10 * k + minutes)


def personal(k: int, **fields: object) -> PersonalItem:
    values: dict[str, object] = {
        "uid": f"p-{k}", "start": at(k), "end": at(k, 45), "subject": f"Visit {k}", "location": f"Main St {k}",
        "version": f"v{k}",
    }  # fmt: skip
    return PersonalItem(**(values | fields))  # type: ignore[arg-type]


# --- Send ------------------------------------------------------------------------------------


@dataclass
class SendInput:
    items: list[PersonalItem] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    versions: dict[PsaRef, str | None] = field(default_factory=dict)


def _sent(inp: SendInput, item: PersonalItem, ref: PsaRef, **link: object) -> None:
    """``item`` linked to ``ref`` as sent; the PSA item is at version v1 now and was at the last send."""
    inp.items.append(item)
    values: dict[str, object] = {
        "origin": Origin.SENT,
        "psa_version": "v1",
        "personal_hash": personal_hash(item),
    }
    inp.links.append(Link(item.key, ref, **(values | link)))  # type: ignore[arg-type]
    inp.versions[ref] = "v1"


SEND_CASES: tuple[Callable[[SendInput, int], None], ...] = (
    lambda inp, k: inp.items.append(personal(k)),
    lambda inp, k: inp.items.append(personal(k, uid=f"series-{k}", recurring=True, recurrence_id=at(k))),
    lambda inp, k: inp.items.append(personal(k, private=True)),
    lambda inp, k: _sent(inp, personal(k), PsaRef(PsaKind.APPOINTMENT, k), personal_hash="old"),
    lambda inp, k: _sent(
        inp,
        personal(k),
        PsaRef(PsaKind.TODO, k),
        personal_hash="old",
        company_id=1,
        action_type_id=MEETING.id,
    ),
    lambda inp, k: _sent(inp, personal(k), PsaRef(PsaKind.APPOINTMENT, k)),
    lambda inp, k: _sent(inp, personal(k), PsaRef(PsaKind.TODO, k), personal_hash="old"),
    lambda inp, k: _sent(inp, personal(k), PsaRef(PsaKind.SERVICE_CALL, k), origin=Origin.DOWNLOADED),
    lambda inp, k: inp.items.append(
        personal(k, stamp=Stamp(PsaKind.APPOINTMENT, k - 3, Origin.SENT))
    ),  # the stamp of case 5's item, copied
)


def send_input(n: int) -> SendInput:
    inp = SendInput()
    for k in range(n):
        SEND_CASES[k % len(SEND_CASES)](inp, k)
    return inp


# --- Get -------------------------------------------------------------------------------------


@dataclass
class GetInput:
    personal: list[PersonalItem] = field(default_factory=list)
    psa: list[PsaItem] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)


def appointment(k: int, updated: datetime = NEW, **fields: object) -> PsaAppointment:
    values: dict[str, object] = {
        "start": at(k), "end": at(k, 45), "title": f"Visit {k}", "description": "Bring parts",
        "resource_id": ME.id, "updated": updated,
    }  # fmt: skip
    return PsaAppointment(k, **(values | fields))  # type: ignore[arg-type]


def _linked(
    inp: GetInput,
    k: int,
    *,
    psa_changed: bool = False,
    personal_changed: bool = False,
    listed: bool = True,
    in_psa: bool = True,
    **link: object,
) -> None:
    """A linked pair, at the last transfer as now unless a side changed since."""
    item = appointment(k)
    mine = personal(k, stamp=Stamp(psa_kind_of(item), k, Origin.DOWNLOADED))
    before = appointment(k, OLD, title="before") if psa_changed else item
    values: dict[str, object] = {
        "origin": Origin.DOWNLOADED,
        "psa_version": psa_version(before),
        "psa_hash": psa_hash(before),
        "personal_hash": "old" if personal_changed else personal_hash(mine),
    }
    inp.links.append(Link(mine.key, PsaRef(psa_kind_of(item), k), **(values | link)))  # type: ignore[arg-type]
    if listed:
        inp.personal.append(mine)
    if in_psa:
        inp.psa.append(item)


GET_CASES: tuple[Callable[[GetInput, int], None], ...] = (
    lambda inp, k: inp.psa.append(appointment(k)),
    lambda inp, k: inp.psa.append(
        PsaToDo(k, ACME.id, MEETING.id, ME.id, at(k), at(k, 30), "Call back", ALICE.id, NEW)
    ),
    lambda inp, k: inp.psa.append(PsaServiceCall(k, ACME.id, at(k), at(k, 90), "Fix it", (TICKET,), NEW)),
    lambda inp, k: _linked(inp, k),
    lambda inp, k: _linked(inp, k, psa_changed=True),
    lambda inp, k: _linked(inp, k, personal_changed=True),
    lambda inp, k: _linked(inp, k, psa_changed=True, personal_changed=True),
    lambda inp, k: _linked(inp, k, psa_changed=True, series_uid=f"series-{k}", origin=Origin.SENT),
    lambda inp, k: _linked(inp, k, psa_changed=True, listed=False),
    lambda inp, k: _linked(inp, k, in_psa=False),
    lambda inp, k: _linked(inp, k, in_psa=False, personal_changed=True),
    lambda inp, k: _linked(inp, k, psa_changed=True, psa_hash=None),
    lambda inp, k: _claimed(inp, k),
    lambda inp, k: inp.personal.append(
        personal(k, uid=f"copy-{k}", stamp=Stamp(PsaKind.APPOINTMENT, k - 10, Origin.DOWNLOADED))
    ),  # the stamp of case 3's item, copied
    lambda inp, k: inp.psa.append(appointment(k, start=BEFORE, end=BEFORE + timedelta(hours=1))),
)


def _claimed(inp: GetInput, k: int) -> None:
    """A PSA item another device is making from a personal item it claimed (B9)."""
    item = appointment(k)
    inp.psa.append(item)
    inp.personal.append(personal(k, claim=Claim("laptop-2", NOW, psa_fingerprint(item))))


def get_input(n: int) -> GetInput:
    inp = GetInput()
    for k in range(n):
        GET_CASES[k % len(GET_CASES)](inp, k)
    return inp


# --- measuring -------------------------------------------------------------------------------


def measure(n: int) -> None:
    sent = send_input(n)
    options = SendOptions(default_action_type_id=None)
    t0 = time.perf_counter()
    plan = plan_send(sent.items, sent.links, ME, options, NOW, sent.versions)
    _report(f"plan_send, {n:,} items", n, time.perf_counter() - t0, plan)

    got = get_input(n)
    snapshot = PsaSnapshot(tuple(got.psa), {ACME.id: ACME}, {ALICE.id: ALICE}, {MEETING.id: MEETING})
    window = Window(NOW - timedelta(days=1), at(n) + timedelta(days=1))
    get_options = GetOptions(delete_threshold=n, time_zone=ME.time_zone, device="laptop-1")
    t0 = time.perf_counter()
    plan = plan_get(got.personal, snapshot, got.links, window, get_options, NOW)
    items = len(got.psa) + len(got.personal)
    _report(
        f"plan_get, {n:,} cases ({len(got.psa):,} PSA + {len(got.personal):,} personal items)",
        n,
        time.perf_counter() - t0,
        plan,
        items,
    )


def _report(label: str, n: int, seconds: float, plan: Plan, items: int | None = None) -> None:
    rate = n / seconds
    print(f"\n{label}: {seconds:.2f} s = {rate:,.0f} items/s ({len(plan.actions):,} actions)")
    if items is not None:
        print(f"  = {items / seconds:,.0f} listed items/s")
    branches = Counter(f"{a.action} {_REF.sub('<ref>', a.reason)[:70]}" for a in plan.actions)
    for branch, count in sorted(branches.items()):
        print(f"  {count:7,d}  {branch}")


def main(sizes: list[int]) -> None:
    for n in sizes:
        measure(n)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10_000, 100_000])
