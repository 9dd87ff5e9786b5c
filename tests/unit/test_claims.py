"""B9/B8: a claim written into a personal item reads back exactly, and a damaged or hostile one reads as
no claim (never a traceback), in iCalendar and in Outlook's extended property."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from icalendar import Event

from calferry.model import CLAIM_TTL, Claim, ItemKey
from calferry.personal import graph, ical

CLAIM = Claim("3f2a9c0d11be", datetime(2026, 12, 7, 12, 0, 5, tzinfo=UTC), "a1b2c3d4e5f60718")


def _event(value: str) -> Event:
    event = Event()
    event.add("UID", "x")
    event.add(ical.CLAIM, value)
    return event


def test_b9_a_claim_round_trips_through_icalendar_and_outlook() -> None:
    resource = ical.Resource("x", [_event("")])
    ical.claim_resource(resource, ItemKey("x"), CLAIM)
    assert ical.read_claim(resource.events[0]) == CLAIM
    ical.stamp_resource(resource, ItemKey("x"), None)  # the stamp's write removes the claim
    assert ical.read_claim(resource.events[0]) is None
    assert graph.read_claim({"singleValueExtendedProperties": [graph.claim_property(CLAIM)]}) == CLAIM


@given(st.text(max_size=200))
def test_b8_any_claim_text_reads_as_a_claim_or_none(text: str) -> None:
    found = ical.read_claim(_event(text))
    assert found is None or isinstance(found.at, datetime)
    outlook = graph.read_claim(
        {"singleValueExtendedProperties": [{"id": graph.CLAIM_PROPERTY, "value": text}]}
    )
    assert outlook is None or outlook.at.tzinfo is not None


@given(
    st.dictionaries(st.sampled_from(["device", "at", "fp"]), st.one_of(st.text(), st.integers(), st.none()))
)
def test_b8_any_outlook_claim_json_reads_as_a_claim_or_none(data: dict[str, object]) -> None:
    prop = {"id": graph.CLAIM_PROPERTY, "value": json.dumps(data)}
    found = graph.read_claim({"singleValueExtendedProperties": [prop]})
    assert found is None or found.at.tzinfo is not None


def test_b9_a_claim_is_fresh_for_its_time_to_live_either_side_of_now() -> None:
    assert CLAIM.fresh(CLAIM.at + CLAIM_TTL - timedelta(seconds=1))
    assert CLAIM.fresh(CLAIM.at - timedelta(minutes=1))  # a device whose clock runs ahead
    assert not CLAIM.fresh(CLAIM.at + CLAIM_TTL)
    assert not CLAIM.fresh(CLAIM.at - CLAIM_TTL - timedelta(days=365))
