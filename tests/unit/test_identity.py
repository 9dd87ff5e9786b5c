"""One fingerprint (B2): what the journal records before a create is what both PSA implementations
search for, and it names an item by kind, who or what it is for, start and end, nothing else."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from calferry.identity import fingerprint, psa_version, with_link_versions
from calferry.mapping import psa_hash
from calferry.model import (
    Company,
    ItemKey,
    Link,
    Origin,
    PsaAppointment,
    PsaItem,
    PsaKind,
    PsaRef,
    PsaServiceCall,
    PsaToDo,
    Resource,
)
from calferry.psa.memory import MemoryPsa

START = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
END = START + timedelta(hours=1)
ME = 4

APPOINTMENT = PsaAppointment(None, "Visit", START, END, ME)
TODO = PsaToDo(None, 10, 3, ME, START, END)
CALL = PsaServiceCall(None, 10, START, END)


def test_b2_fingerprint_names_kind_owner_and_times() -> None:
    assert fingerprint(APPOINTMENT) == {
        "kind": "appointment", "resource_id": ME, "title": "Visit", "start": START, "end": END,
    }  # fmt: skip
    assert fingerprint(TODO) == {
        "kind": "todo", "assigned_resource_id": ME, "company_id": 10, "start": START, "end": END,
    }  # fmt: skip
    assert fingerprint(CALL) == {"kind": "service-call", "company_id": 10, "start": START, "end": END}


@given(st.sampled_from([APPOINTMENT, TODO, CALL]), st.integers(1, 10**6), st.text(max_size=20))
def test_b2_id_description_and_marker_do_not_count(item: PsaItem, new_id: int, text: str) -> None:
    """What the PSA fills in or the technician may write later leaves the fingerprint as it was."""
    answered = replace(item, id=new_id, description=text, updated=START)
    assert fingerprint(answered) == fingerprint(item)


@given(st.sampled_from([APPOINTMENT, TODO, CALL]), st.integers(1, 600))
def test_b2_a_moved_item_is_another_fingerprint(item: PsaItem, minutes: int) -> None:
    later = replace(
        item, start=item.start + timedelta(minutes=minutes), end=item.end + timedelta(minutes=minutes)
    )
    assert fingerprint(later) != fingerprint(item)


def test_b2_memory_psa_finds_exactly_the_fingerprint() -> None:
    psa = MemoryPsa(me=Resource(ME, "Ada", "Tech"))
    psa.companies[10] = Company(10, "Acme")
    made = psa.create(APPOINTMENT)
    psa.create(replace(APPOINTMENT, title="Other"))
    psa.create(replace(APPOINTMENT, start=START - timedelta(hours=1)))
    assert psa.find_matching(replace(APPOINTMENT, description="typed later")) == [made]


def test_link_versions_follow_what_each_side_holds() -> None:
    item = PsaAppointment(9, "Visit", START, END, ME, updated=END)
    link = Link(ItemKey("u1"), PsaRef(PsaKind.APPOINTMENT, 0), Origin.SENT)
    after = with_link_versions(link, None, item)
    assert (after.psa, after.psa_version, after.psa_hash) == (
        PsaRef(PsaKind.APPOINTMENT, 9), END.isoformat(), psa_hash(item),
    )  # fmt: skip
    assert after.personal_version is None and psa_version(replace(item, updated=None)) is None
