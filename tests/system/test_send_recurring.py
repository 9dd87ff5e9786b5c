"""Item kinds and recurring items through the CLI against the real PSA server and Radicale:
R6, R7, R9, R15, R20, R21, R22. Both sides are checked directly (raw REST, CalDAV)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from calferry.links import LinkStore
from calferry.model import ItemKey, Origin, PersonalItem, PsaKind, Stamp
from tests.system.conftest import Cli, at
from tests.system.send_helpers import (
    appointment_ids,
    daily_series,
    only,
    psa_delete,
    psa_item,
    psa_patch,
    refs_of,
    resource_id,
    todo_ids,
    vcalendar,
    vevent,
)

_Z = "%Y%m%dT%H%M%SZ"


def _standup(cli: Cli, uid: str = "standup", count: int = 5) -> list[str]:
    """A daily series from tomorrow 14:00 UTC: the 2nd occurrence excluded, the 3rd moved an hour later."""
    first = at(1, 14)
    moved = first + timedelta(days=2)
    override = vevent(
        uid,
        moved + timedelta(hours=1),
        moved + timedelta(hours=2),
        "Standup (late)",
        f"RECURRENCE-ID:{moved:{_Z}}",
    )
    cli.seed_ical(
        vcalendar(
            daily_series(uid, first, count, "Standup", f"EXDATE:{first + timedelta(days=1):{_Z}}"), override
        )
    )
    return [r for r in refs_of(cli) if r.startswith(f"{uid}@")]


def _series_range(days: int = 8) -> tuple[str, ...]:
    return ("--from", f"{at(0):%Y-%m-%d}", "--to", f"{at(days):%Y-%m-%d}")


def _psa_ids(cli: Cli, refs: list[str]) -> dict[str, int]:
    stamps = {ref: cli.personal(ref).stamp for ref in refs}
    return {ref: s.psa_id for ref, s in stamps.items() if s is not None}


def _existing(cli: Cli, ids: set[int]) -> set[int]:
    return ids & appointment_ids(cli)


# --- R9: the personal kinds -------------------------------------------------------------------


def test_r9_items_shows_appointment_meeting_and_event_kinds_and_any_kind_may_recur(cli: Cli) -> None:
    cli.seed_ical(
        vcalendar(
            vevent("k-appointment", at(1, 9), at(1, 10), "Dentist"),
            vevent("k-meeting", at(1, 11), at(1, 12), "Review", "ATTENDEE:mailto:someone@example.com"),
            vevent("k-allday", date.fromordinal(at(2).toordinal()), date.fromordinal(at(3).toordinal()), "Off"),
            vevent("k-long", at(3, 8), at(4, 8), "Hackathon"),  # 24 h: an event
            vevent("k-birthday", date.fromordinal(at(4).toordinal()), date.fromordinal(at(5).toordinal()),
                   "Birthday", "RRULE:FREQ=YEARLY"),
            daily_series("k-weekly-meeting", at(5, 15), 2, "1:1", "ATTENDEE:mailto:boss@example.com"),
        )
    )  # fmt: skip
    listed = {i["ref"]: i for i in cli.ok("items").data["items"]}
    kinds = {ref.split("@")[0]: (i["kind"], i["recurring"]) for ref, i in listed.items()}
    assert kinds == {
        "k-appointment": ("appointment", False),
        "k-meeting": ("meeting", False),
        "k-allday": ("event", False),
        "k-long": ("event", False),
        "k-birthday": ("event", True),
        "k-weekly-meeting": ("meeting", True),
    }
    birthday = only([r for r in listed if r.startswith("k-birthday@")])
    before = appointment_ids(cli)
    sent = only(cli.ok("send", birthday).actions(outcome="done"))  # a recurring event goes as one day
    assert appointment_ids(cli) - before == {sent["psa_id"]}
    stored = psa_item(cli, "Appointments", sent["psa_id"])
    midnight = datetime.combine(at(4).date(), time(0), ZoneInfo("America/New_York")).astimezone(UTC)
    assert stored["startDateTime"] == f"{midnight:%Y-%m-%dT%H:%M:%SZ}"  # midnight in New York


# --- R6 / R20: occurrences, never a recurring PSA appointment ------------------------------------


def test_r6_a_recurring_item_is_sent_as_single_appointments_never_a_recurring_one(cli: Cli) -> None:
    refs = _standup(cli)
    assert len(refs) == 4  # five by the rule, one excluded
    before = appointment_ids(cli)
    sent = cli.ok("send", "--series", "standup", *_series_range())
    assert sorted(a["ref"] for a in sent.actions(outcome="done")) == sorted(refs)

    new = appointment_ids(cli) - before
    assert len(new) == len(refs)  # one single appointment per occurrence, none for the excluded one
    stored = sorted((psa_item(cli, "Appointments", i) or {} for i in new), key=lambda a: a["startDateTime"])
    first = at(1, 14)
    expected = [
        first,
        first + timedelta(days=2, hours=1),
        first + timedelta(days=3),
        first + timedelta(days=4),
    ]
    assert [a["startDateTime"] for a in stored] == [f"{t:%Y-%m-%dT%H:%M:%SZ}" for t in expected]
    assert [a["title"] for a in stored] == ["Standup", "Standup (late)", "Standup", "Standup"]
    for appointment in stored:  # nothing in the PSA record repeats: each is one slot
        assert set(appointment) >= {"startDateTime", "endDateTime"}
        assert not {k for k in appointment if "recur" in k.lower()}
        assert appointment["resourceID"] == resource_id(cli)


def test_r20_each_occurrence_gets_its_own_psa_item_and_later_sends_join_the_series(cli: Cli) -> None:
    refs = _standup(cli)
    first = only(cli.ok("send", refs[0]).actions(outcome="done"))
    assert first["rule"] == "R20"

    later = cli.ok("send", "--series", "standup", *_series_range())
    by_ref = {a["ref"]: a for a in later.actions()}
    # the occurrence sent before is unchanged on both sides: skipped, still its own PSA item (R17)
    assert by_ref[refs[0]]["action"] == "skip" and by_ref[refs[0]]["psa_id"] == first["psa_id"]
    assert all(by_ref[r]["action"] == "create" for r in refs[1:])

    ids = _psa_ids(cli, refs)
    assert len(set(ids.values())) == len(refs)  # a unique PSA item per occurrence
    for ref in refs:
        assert cli.personal(ref).stamp == Stamp(PsaKind.APPOINTMENT, ids[ref], Origin.SENT)
    store = LinkStore.open()
    try:
        links = {link.personal.ref: link for link in store.links()}
    finally:
        store.close()
    assert {ref: links[ref].series_uid for ref in refs} == dict.fromkeys(refs, "standup")
    assert {links[ref].personal.recurrence_id for ref in refs} == {r.split("@")[1] for r in refs}
    listed = {i["ref"]: i for i in cli.ok("items").data["items"]}
    assert all(listed[r]["recurring"] and listed[r]["psa_id"] == ids[r] for r in refs)

    # the series id makes them one: deleting the series removes the first and the later ones alike
    cli.ok("series", "delete", "standup")
    assert _existing(cli, set(ids.values())) == set()


def test_r15_a_recurring_occurrence_is_always_an_appointment(cli: Cli) -> None:
    refs = _standup(cli)
    todos, before = todo_ids(cli), appointment_ids(cli)
    sent = cli.ok("send", refs[1], "--as", "todo", "--company", "Contoso Dental")
    done = only(sent.actions(ref=refs[1]))
    assert (done["psa_kind"], done["outcome"]) == ("appointment", "done")
    assert any("always sent as an Appointment" in w for w in sent.data["warnings"])
    assert todo_ids(cli) == todos and appointment_ids(cli) - before == {done["psa_id"]}
    assert cli.personal(refs[1]).stamp.psa_kind is PsaKind.APPOINTMENT  # type: ignore[union-attr]

    refused = cli.run("send", refs[1], "--as", "todo", "--company", "Contoso Dental")  # and it stays one
    assert refused.exit_code == 5
    assert only(refused.actions(ref=refs[1]))["action"] == "skip"
    assert todo_ids(cli) == todos


# --- R21: PSA edits of recurring items never come back ------------------------------------------


def test_r21_psa_edits_of_a_sent_occurrence_never_come_back_on_get(cli: Cli) -> None:
    refs = _standup(cli)
    cli.ok("send", refs[0], refs[2])
    ids = _psa_ids(cli, refs)
    moved = at(1, 18)
    psa_patch(
        cli, "Appointments", id=ids[refs[0]], title="Edited in the PSA", description="PSA notes",
        startDateTime=f"{moved:%Y-%m-%dT%H:%M:%SZ}", endDateTime=f"{moved + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}",
    )  # fmt: skip
    mine_before = cli.personal(refs[0])

    got = cli.ok("get")
    skip = only(got.actions(ref=refs[0]))
    assert skip["action"] == "skip" and skip["rule"] == "R27"
    assert got.actions(ref=refs[2]) == []  # unchanged in the PSA: nothing to say
    mine = cli.personal(refs[0])
    assert (mine.subject, mine.description, mine.start, mine.end) == (
        mine_before.subject, mine_before.description, mine_before.start, mine_before.end,
    )  # fmt: skip
    assert cli.ok("get").actions(ref=refs[0])[0]["outcome"] == "skipped"  # and never later either

    # edits are made in the personal calendar and travel by Send: the PSA copy is overwritten
    cli.calendar().update(replace(mine, subject="Standup (room 2)"))
    cli.ok("send", refs[0])
    stored = psa_item(cli, "Appointments", ids[refs[0]])
    assert (stored["title"], stored["startDateTime"]) == (
        "Standup (room 2)",
        f"{at(1, 14):%Y-%m-%dT%H:%M:%SZ}",
    )


# --- R22: deletions ---------------------------------------------------------------------------


def test_r22_series_delete_of_one_occurrence_removes_it_on_both_sides(cli: Cli) -> None:
    refs = _standup(cli)
    cli.ok("send", "--series", "standup", *_series_range())
    ids = _psa_ids(cli, refs)
    gone = refs[2]

    deleted = cli.ok("series", "delete", "standup", "--occurrence", gone.split("@")[1])
    assert {(a["action"], a["ref"], a["outcome"]) for a in deleted.actions()} == {("delete", gone, "done")}
    assert _existing(cli, set(ids.values())) == {ids[r] for r in refs if r != gone}
    assert [r for r in refs_of(cli) if r.startswith("standup@")] == [r for r in refs if r != gone]
    assert cli.ok("status").data["links"] == {"appointment/sent": len(refs) - 1}


def test_r22_series_delete_removes_every_occurrence_on_both_sides(cli: Cli) -> None:
    refs = _standup(cli)
    cli.create(PersonalItem("bystander", at(2), at(2, 10), "Not in the series"))
    cli.ok("send", refs[0], refs[1], "bystander")  # the others were never sent
    ids = _psa_ids(cli, [*refs, "bystander"])

    deleted = cli.ok("series", "delete", "standup")
    psa_deletes = [a for a in deleted.actions() if a["psa_kind"] == "appointment"]
    assert sorted(a["psa_id"] for a in psa_deletes) == sorted([ids[refs[0]], ids[refs[1]]])
    assert _existing(cli, set(ids.values())) == {ids["bystander"]}
    assert [i.uid for i in cli.personal_items() if i.uid == "standup"] == []
    assert cli.personal("bystander").stamp is not None
    assert cli.ok("status").data["links"] == {"appointment/sent": 1}


def test_r22_a_plain_delete_on_one_side_does_not_delete_on_the_other(cli: Cli) -> None:
    refs = _standup(cli)
    cli.ok("send", "--series", "standup", *_series_range())
    ids = _psa_ids(cli, refs)

    psa_delete(cli, "Appointments", ids[refs[0]])  # deleted in the PSA only
    got = cli.ok("get")
    assert all(a["action"] != "delete" for a in got.actions())
    assert cli.personal(refs[0]).subject == "Standup"  # still in the personal calendar

    calendar = cli.calendar()
    try:
        calendar.delete(ItemKey.from_ref(refs[1]))  # deleted in the personal calendar only
    finally:
        calendar.close()
    cli.ok("get")
    cli.ok("send", refs[2])
    assert ids[refs[1]] in appointment_ids(cli)  # still in the PSA
    assert refs[1] not in refs_of(cli)

    # the series id still deletes what is left on both sides in one action
    cli.ok("series", "delete", "standup")
    assert _existing(cli, set(ids.values())) == set()
    assert [r for r in refs_of(cli) if r.startswith("standup@")] == []


# --- R7: a service call cannot be sent ----------------------------------------------------------


def test_r7_a_downloaded_service_call_cannot_be_sent(cli: Cli) -> None:
    cli.ok("get")
    call_ref = next(r for r in refs_of(cli) if r.startswith("calferry-service-call-"))
    call_id = int(call_ref.rsplit("-", 1)[1])
    call_before = psa_item(cli, "ServiceCalls", call_id)
    mine = cli.personal(call_ref)
    assert mine.subject.startswith("Service Call: ") and "Service Call Description:" in mine.description
    cli.calendar().update(replace(mine, description="My own notes", start=mine.start + timedelta(hours=1)))
    before = appointment_ids(cli), todo_ids(cli)

    for extra in ((), ("--as", "todo", "--company", "Contoso Dental"), ("--as", "appointment")):
        refused = cli.run("send", call_ref, *extra)
        assert refused.exit_code == 5
        skip = only(refused.actions(ref=call_ref))
        assert skip["action"] == "skip" and skip["rule"] == "R7"
    assert psa_item(cli, "ServiceCalls", call_id) == call_before
    assert (appointment_ids(cli), todo_ids(cli)) == before
    assert cli.personal(call_ref).stamp.psa_kind is PsaKind.SERVICE_CALL  # type: ignore[union-attr]
