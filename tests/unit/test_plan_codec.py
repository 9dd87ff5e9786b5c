"""The exact JSON of a saved plan (``--plan FILE``), the journal and the Get cache: what is written
decodes to an equal value, zones kept by name across DST, all-day dates as dates (B1: a saved plan
is applied exactly as it was shown)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from calferry.mapping import PersonalFields
from calferry.model import (
    ItemKey,
    Link,
    Origin,
    PersonalItem,
    PsaAppointment,
    PsaKind,
    PsaRef,
    PsaServiceCall,
    ServiceCallWork,
    ShowAs,
    Stamp,
    WorkKind,
)
from calferry.plan import Action, ActionKind, Plan, Target
from calferry.plan_codec import decode, encode

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]


def _exists(moment: datetime) -> bool:
    """A wall time the zone has (not skipped by a spring-forward gap): what a calendar or the PSA holds."""
    return moment.astimezone(UTC).astimezone(moment.tzinfo).replace(tzinfo=None) == moment.replace(
        tzinfo=None
    )


zoned = st.builds(
    lambda naive, zone, fold: naive.replace(tzinfo=ZoneInfo(zone), fold=fold),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
    st.sampled_from(ZONES),
    st.integers(0, 1),
).filter(_exists)
text = st.text(max_size=30)


def _json_round(value: object) -> object:
    """Through real JSON text, as a plan file or the journal holds it."""
    return decode(json.loads(json.dumps(encode(value))))


@given(zoned)
def test_zoned_times_keep_their_zone_and_instant(moment: datetime) -> None:
    back = _json_round(moment)
    assert isinstance(back, datetime)
    assert back == moment and back.utcoffset() == moment.utcoffset()
    assert back.tzinfo == ZoneInfo(str(moment.tzinfo))


@given(st.dates())
def test_all_day_dates_stay_dates(day: date) -> None:
    back = _json_round(day)
    assert type(back) is date and back == day


@given(zoned, text, text, st.integers(1, 10**9), st.sampled_from(list(ShowAs)), st.booleans())
def test_personal_items_round_trip(
    start: datetime, subject: str, uid: str, psa_id: int, show_as: ShowAs, recurring: bool
) -> None:
    stamp = Stamp(PsaKind.TODO, psa_id, Origin.SENT, company_id=7)
    item = PersonalItem(
        uid or "u", start, start + timedelta(hours=1), subject=subject, show_as=show_as, categories=("a", "b"),
        recurring=recurring, recurrence_id=start if recurring else None, stamp=stamp, version="v1",
    )  # fmt: skip
    assert _json_round(item) == item


@given(zoned, text, st.integers(1, 10**6))
def test_psa_items_round_trip(start: datetime, title: str, company: int) -> None:
    work = (ServiceCallWork(WorkKind.TICKET, 3, "T0001", title),)
    call = PsaServiceCall(None, company, start, start + timedelta(hours=2), description=title, work=work)
    appointment = PsaAppointment(5, title, start, start + timedelta(minutes=30), 29682885, updated=start)
    assert _json_round((call, appointment)) == (call, appointment)


def test_a_plan_with_every_payload_round_trips_through_json() -> None:
    start = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Berlin"))  # the second 02:30
    item = PsaAppointment(None, "Visit", start, start + timedelta(hours=1), 4)
    link = Link(ItemKey("u1"), PsaRef(PsaKind.APPOINTMENT, 9), Origin.DOWNLOADED, psa_version="x")
    fields = PersonalFields("Visit", "notes", start, start + timedelta(hours=1), location="Berlin")
    plan = Plan(
        "get",
        (
            Action(ActionKind.CREATE, "u1", PsaKind.APPOINTMENT, None, "new", Target.PSA, psa_item=item, rule="R17"),
            Action(ActionKind.UPDATE, "u1", PsaKind.APPOINTMENT, 9, "moved", Target.PERSONAL, fields=fields, link=link),
            Action(ActionKind.SKIP, "u2", None, None, "private"),
        ),
        created=datetime(2026, 10, 25, 0, 59, tzinfo=UTC),
        warnings=("low budget",),
    )  # fmt: skip
    assert Plan.from_json(json.loads(json.dumps(plan.to_json()))) == plan


def test_lists_come_back_as_tuples() -> None:
    assert decode(encode([1, [2, "x"]])) == (1, (2, "x"))
