"""The service layer on MemoryCalendar + MemoryPsa: every rule the engine owns, end to end."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from calferry.errors import (
    InputError,
    IntegrationDisabled,
    LockBusy,
    NotFound,
    PermissionDenied,
    SideLooksEmpty,
)
from calferry.mapping import PRIVATE_TITLE, SERVICE_CALL_HEADER
from calferry.model import (
    ItemKey,
    Origin,
    PsaAppointment,
    PsaKind,
    PsaRef,
    PsaServiceCall,
    PsaToDo,
)
from calferry.plan import Plan, downloaded_uid
from calferry.service import AddForm, Records
from tests.unit.engine_helpers import ACME, NO_CRM, NOW, Engine, at, item, new_psa, settings


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine(tmp_path)


def psa_items(engine: Engine, kind: type = PsaAppointment) -> list:  # type: ignore[type-arg]
    return [i for i in engine.psa.items.values() if isinstance(i, kind)]


def outcomes(result) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(a["action"], a["outcome"]) for a in result.to_json()["actions"]]


# --- R1, R3, R13 ------------------------------------------------------------------------------


def test_r1_send_get_add_delete_refuse_while_disabled(tmp_path: Path) -> None:
    engine = Engine(tmp_path, enabled=False)
    engine.calendar.create(item("a"))
    calls = [
        lambda: engine.service.send(["a"]),
        lambda: engine.service.get(),
        lambda: engine.service.add(AddForm(PsaKind.APPOINTMENT, "x", at(11, 9), at(11, 10))),
        lambda: engine.service.delete_series("a"),
    ]
    for call in calls:
        with pytest.raises(IntegrationDisabled, match="turn it on in the options"):
            call()
    assert engine.psa.items == {}


def test_r3_r13_only_selected_items_are_sent(engine: Engine) -> None:
    for uid in ("a", "b", "c"):
        engine.calendar.create(item(uid, subject=uid))
    engine.service.send(["b"])
    assert [i.title for i in psa_items(engine)] == ["b"]
    engine.service.get()
    assert [i.title for i in psa_items(engine)] == ["b"]  # Get never sends


# --- Send: R14-R20 ----------------------------------------------------------------------------


def test_r16_first_send_creates_and_stamps_the_psa_id(engine: Engine) -> None:
    engine.calendar.create(item("a", subject="Dentist"))
    result = engine.service.send(["a"])
    (created,) = psa_items(engine)
    stamp = engine.calendar.get(ItemKey("a")).stamp
    assert stamp is not None and (stamp.psa_kind, stamp.psa_id, stamp.origin) == (
        PsaKind.APPOINTMENT,
        created.id,
        Origin.SENT,
    )
    assert result.to_json()["actions"][0]["psa_id"] == created.id
    assert engine.store.link_for(ItemKey("a")).psa == PsaRef(PsaKind.APPOINTMENT, created.id or 0)


def test_r17_resend_updates_same_psa_item(engine: Engine) -> None:
    engine.calendar.create(item("a", subject="Dentist"))
    engine.service.send(["a"])
    current = engine.calendar.get(ItemKey("a"))
    engine.calendar.update(replace(current, subject="Dentist at 10"))
    engine.service.send(["a"])
    assert [i.title for i in psa_items(engine)] == ["Dentist at 10"]


def test_r17_resend_of_an_unchanged_item_is_skipped_without_a_write(engine: Engine) -> None:
    engine.calendar.create(item("a", subject="Dentist"))
    engine.service.send(["a"])
    engine.psa.counts.clear()
    again = engine.service.send(["a"])
    assert outcomes(again) == [("skip", "skipped")]
    assert again.to_json()["actions"][0]["reason"].startswith("unchanged")
    writes = [r for r in engine.psa.request_counts() if not r.startswith("GET") and not r.endswith("/query")]
    assert writes == []  # one batched read of the PSA item's version, no PATCH
    # R17 still holds: a change made in the PSA since is overwritten by the re-send
    (appt,) = psa_items(engine)
    engine.psa.edit(PsaRef(PsaKind.APPOINTMENT, appt.id or 0), title="Edited in the PSA")
    assert outcomes(engine.service.send(["a"])) == [("update", "done")]
    assert [i.title for i in psa_items(engine)] == ["Dentist"]


def test_r14_todo_with_company_name_and_default_action_type(engine: Engine) -> None:
    engine.calendar.create(item("t", subject="Call back", description="about the invoice"))
    engine.service.send(["t"], kind="todo", company="acme", contact="Alice Able")
    (todo,) = psa_items(engine, PsaToDo)
    assert (todo.company_id, todo.contact_id, todo.action_type_id) == (ACME.id, 11, 3)
    assert todo.description == "about the invoice"
    # R17: the re-send pre-fills kind, company and contact from the last send
    engine.calendar.update(replace(engine.calendar.get(ItemKey("t")), description="paid"))
    engine.service.send(["t"])
    (todo,) = psa_items(engine, PsaToDo)
    assert (todo.company_id, todo.contact_id, todo.description) == (ACME.id, 11, "paid")


def test_r18_private_item_name_and_description_never_reach_the_psa(engine: Engine) -> None:
    engine.calendar.create(item("p", subject="Therapy", description="very private", private=True))
    engine.service.send(["p"])
    (appt,) = psa_items(engine)
    assert (appt.title, appt.description) == (PRIVATE_TITLE, "")
    engine.psa.edit(PsaRef(PsaKind.APPOINTMENT, appt.id or 0), start=at(11, 14), end=at(11, 15))
    engine.service.get()
    back = engine.calendar.get(ItemKey("p"))
    assert (back.subject, back.description, back.start) == ("Therapy", "very private", at(11, 14))


def test_r19_meeting_updates_only_my_psa_calendar(engine: Engine) -> None:
    engine.calendar.create(item("m", subject="Review", attendees=("bob@example.com",)))
    engine.service.send(["m"])
    (appt,) = psa_items(engine)
    assert appt.resource_id == 7 and "bob" not in json.dumps(appt.__dict__, default=str)


def test_r20_series_range_sends_each_occurrence_with_series_link(engine: Engine) -> None:
    engine.calendar.add_series(item("s", subject="Stand-up"), "FREQ=DAILY;COUNT=10")
    engine.service.send(series_uid="s", series_from=date(2026, 3, 11), series_to=date(2026, 3, 12))
    assert len(psa_items(engine)) == 2
    engine.service.send(series_uid="s", series_from=date(2026, 3, 11), series_to=date(2026, 3, 13))
    assert len(psa_items(engine)) == 3  # later occurrences join, none duplicated
    links = [link for link in engine.store.links() if link.series_uid == "s"]
    assert sorted(link.personal.recurrence_id or "" for link in links) == [
        "20260311T090000Z", "20260312T090000Z", "20260313T090000Z",
    ]  # fmt: skip
    assert all(engine.calendar.get(link.personal).stamp.psa_id == link.psa.id for link in links)


def test_r15_recurring_item_sent_as_todo_becomes_appointment(engine: Engine) -> None:
    engine.calendar.add_series(item("s"), "FREQ=DAILY;COUNT=2")
    result = engine.service.send(["s@20260311T090000Z"], kind="todo", company="Acme")
    assert len(psa_items(engine)) == 1 and not psa_items(engine, PsaToDo)
    assert any("always sent as an Appointment" in w for w in result.warnings)


def test_r7_service_call_cannot_be_sent(engine: Engine) -> None:
    engine.calendar.create(item("a"))
    result = engine.service.send(["a"], kind="service-call")
    assert outcomes(result) == [("skip", "skipped")] and engine.psa.items == {}


# --- Get: R4, R5, R8, R21-R29 -----------------------------------------------------------------


def test_r23_r28_get_downloads_todo_and_service_call(engine: Engine) -> None:
    engine.psa.items[PsaRef(PsaKind.TODO, 1)] = PsaToDo(
        1, 1, 3, 7, at(12, 9), at(12, 10), "bring coffee", 11, NOW
    )
    call = PsaServiceCall(1, 1, at(13, 9), at(13, 11), "fix printer", (engine.psa.work_items[0],), NOW)
    engine.psa.items[PsaRef(PsaKind.SERVICE_CALL, 1)] = call
    engine.service.get()
    todo = engine.calendar.get(ItemKey(downloaded_uid(PsaRef(PsaKind.TODO, 1))))
    assert todo.subject == "Meeting: Acme / Alice Able" and todo.description == "bring coffee"
    sc = engine.calendar.get(ItemKey(downloaded_uid(PsaRef(PsaKind.SERVICE_CALL, 1))))
    assert sc.subject == "Service Call: Acme" and sc.description.startswith(SERVICE_CALL_HEADER)
    assert sc.location == ACME.address.one_line() and sc.stamp.origin is Origin.DOWNLOADED
    assert engine.service.get().results == []  # R23: only items not yet downloaded


def test_r4_r24_r29_psa_changes_override_the_personal_copy(engine: Engine) -> None:
    engine.calendar.create(item("a", subject="Dentist", description="old"))
    engine.service.send(["a"])
    ref = PsaRef(PsaKind.APPOINTMENT, 1)
    engine.psa.edit(ref, title="Dentist (PSA)", description="new", start=at(11, 12), end=at(11, 13))
    engine.service.get()
    back = engine.calendar.get(ItemKey("a"))
    assert (back.subject, back.description, back.start, back.end) == (
        "Dentist (PSA)",
        "new",
        at(11, 12),
        at(11, 13),
    )


def test_r21_r27_recurring_occurrence_never_updated_by_get(engine: Engine) -> None:
    engine.calendar.add_series(item("s", subject="Stand-up"), "FREQ=DAILY;COUNT=3")
    engine.service.send(["s@20260311T090000Z"])
    engine.psa.edit(PsaRef(PsaKind.APPOINTMENT, 1), title="changed in PSA")
    result = engine.service.get()
    assert outcomes(result) == [("skip", "skipped")]
    assert engine.calendar.get(ItemKey("s", "20260311T090000Z")).subject == "Stand-up"


@pytest.mark.parametrize(
    ("policy", "subject"), [("keep-personal", "mine"), ("ask", "mine"), ("psa-wins", "theirs")]
)
def test_r5_unsent_personal_edit_meets_psa_change(tmp_path: Path, policy: str, subject: str) -> None:
    engine = Engine(tmp_path, conflict_policy=policy)
    engine.calendar.create(item("a", subject="Dentist"))
    engine.service.send(["a"])
    engine.calendar.update(replace(engine.calendar.get(ItemKey("a")), subject="mine"))
    engine.psa.edit(PsaRef(PsaKind.APPOINTMENT, 1), title="theirs")
    engine.service.get()
    assert engine.calendar.get(ItemKey("a")).subject == subject
    states = {s.ref: s.state for s in engine.service.items()}
    assert states["a"] == ("conflict" if policy != "psa-wins" else "sent")


def test_r5_resolve_conflict_either_way(engine: Engine) -> None:
    engine.calendar.create(item("a", subject="Dentist"))
    engine.calendar.create(item("b", day=12, subject="Gym"))
    engine.service.send(["a", "b"])
    for uid in ("a", "b"):
        engine.calendar.update(replace(engine.calendar.get(ItemKey(uid)), subject=f"{uid} mine"))
    engine.psa.edit(PsaRef(PsaKind.APPOINTMENT, 1), title="a theirs")
    engine.psa.edit(PsaRef(PsaKind.APPOINTMENT, 2), title="b theirs")
    engine.service.get()
    engine.service.resolve_conflict("a", "personal")
    engine.service.resolve_conflict("b", "psa")
    assert engine.psa.items[PsaRef(PsaKind.APPOINTMENT, 1)].title == "a mine"
    assert engine.calendar.get(ItemKey("b")).subject == "b theirs"
    assert engine.service.get().results == []
    assert {s.state for s in engine.service.items()} == {"sent"}


def test_r5_personal_edit_alone_is_reported_not_overwritten(engine: Engine) -> None:
    engine.calendar.create(item("a", subject="Dentist"))
    engine.service.send(["a"])
    engine.calendar.update(replace(engine.calendar.get(ItemKey("a")), subject="Dentist + notes"))
    assert "edited since sent" in engine.service.get().to_json()["actions"][0]["reason"]
    assert engine.calendar.get(ItemKey("a")).subject == "Dentist + notes"
    assert [s.state for s in engine.service.items()] == ["edited since sent"]


def test_r25_deleted_in_psa_is_deleted_here_moved_out_is_kept(engine: Engine) -> None:
    engine.calendar.create(item("a", subject="Gone"))
    engine.calendar.create(item("b", subject="Moved"))
    engine.calendar.create(item("c", subject="Stays"))
    engine.service.send(["a", "b", "c"])
    engine.psa.remove(PsaRef(PsaKind.APPOINTMENT, 1))
    far = NOW + timedelta(days=200)
    engine.psa.edit(PsaRef(PsaKind.APPOINTMENT, 2), start=far, end=far + timedelta(hours=1))
    result = engine.service.get()
    assert sorted(outcomes(result)) == [("delete", "done"), ("delete", "kept")]
    with pytest.raises(NotFound):
        engine.calendar.get(ItemKey("a"))
    assert engine.calendar.get(ItemKey("b")).subject == "Moved"
    assert engine.store.link_for(ItemKey("a")) is None


def test_r8_service_call_deleted_in_psa_leaves_the_personal_calendar(engine: Engine) -> None:
    call = PsaServiceCall(1, 1, at(13, 9), at(13, 11), "", (engine.psa.work_items[0],), NOW)
    engine.psa.items[PsaRef(PsaKind.SERVICE_CALL, 1)] = call
    engine.calendar.create(item("mine"))
    engine.service.get()
    engine.psa.remove(PsaRef(PsaKind.SERVICE_CALL, 1))
    engine.psa.items[PsaRef(PsaKind.APPOINTMENT, 9)] = PsaAppointment(
        9, "x", at(14, 9), at(14, 10), 7, "", NOW
    )
    engine.service.get()
    with pytest.raises(NotFound):
        engine.calendar.get(ItemKey(downloaded_uid(PsaRef(PsaKind.SERVICE_CALL, 1))))


def test_r26_get_window_limits_what_is_added(engine: Engine) -> None:
    inside = PsaAppointment(1, "in", at(20, 9), at(20, 10), 7, "", NOW)
    outside = PsaAppointment(
        2, "out", NOW + timedelta(days=60), NOW + timedelta(days=60, hours=1), 7, "", NOW
    )
    engine.psa.items.update({PsaRef(PsaKind.APPOINTMENT, 1): inside, PsaRef(PsaKind.APPOINTMENT, 2): outside})
    engine.service.get()
    assert [s.subject for s in engine.service.items(date(2026, 1, 1), date(2026, 12, 31))] == ["in"]


def test_r26_window_days_are_the_technicians_days_not_utc_days(engine: Engine) -> None:
    """Tess works in Berlin: at 23:30 there on March 10 (22:30 UTC) "today" is still March 10 there."""
    engine.reconfigure(get_past_days=0, get_future_days=0)
    engine.clock = at(10, 22, 30)
    late = PsaAppointment(1, "late tonight in Berlin", at(10, 22, 45), at(10, 22, 55), 7, "", NOW)
    tomorrow = PsaAppointment(2, "tomorrow in Berlin", at(10, 23, 15), at(10, 23, 45), 7, "", NOW)
    engine.psa.items.update({PsaRef(PsaKind.APPOINTMENT, 1): late, PsaRef(PsaKind.APPOINTMENT, 2): tomorrow})
    engine.service.get()
    subjects = [s.subject for s in engine.service.items(date(2026, 3, 1), date(2026, 3, 31))]
    assert subjects == ["late tonight in Berlin"]


def test_guard_side_looks_empty_stops_get(engine: Engine) -> None:
    engine.calendar.create(item("a"))
    engine.service.send(["a"])
    engine.psa.items.clear()
    with pytest.raises(SideLooksEmpty):
        engine.service.get()
    assert engine.calendar.get(ItemKey("a"))
    engine.service.get(force_delete=True)
    with pytest.raises(NotFound):
        engine.calendar.get(ItemKey("a"))


# --- R22: series deletion on both sides -------------------------------------------------------


def test_r22_delete_one_occurrence_then_the_series_on_both_sides(engine: Engine) -> None:
    engine.calendar.add_series(item("s", subject="Stand-up"), "FREQ=DAILY;COUNT=3")
    engine.service.send(series_uid="s", series_from=date(2026, 3, 11), series_to=date(2026, 3, 13))
    engine.service.delete_series("s", "20260312T090000Z")
    assert len(psa_items(engine)) == 2
    with pytest.raises(NotFound):
        engine.calendar.get(ItemKey("s", "20260312T090000Z"))
    engine.service.delete_series("s")
    assert psa_items(engine) == [] and engine.store.links() == []
    with pytest.raises(NotFound):
        engine.calendar.get(ItemKey("s"))


def test_r22_series_delete_refuses_a_plain_item_and_keeps_it(engine: Engine) -> None:
    engine.calendar.create(item("plain", subject="Dentist"))
    engine.service.send(["plain"])
    with pytest.raises(InputError, match="plain is not a recurring series"):
        engine.service.delete_series("plain")
    assert engine.calendar.get(ItemKey("plain")).subject == "Dentist"
    assert len(psa_items(engine)) == 1 and engine.store.link_for(ItemKey("plain")) is not None


@pytest.mark.parametrize("occurrence", ["garbage", "2099", "209911", "20261130T1400", "20261340T140000Z"])
def test_r22_a_malformed_occurrence_id_is_an_input_error_naming_the_form(
    engine: Engine, occurrence: str
) -> None:
    engine.calendar.add_series(item("s", subject="Stand-up"), "FREQ=DAILY;COUNT=3")
    with pytest.raises(InputError) as refused:
        engine.service.delete_series("s", occurrence)
    assert repr(occurrence) in refused.value.message and "20261130T140000Z" in (refused.value.hint or "")
    assert len(engine.calendar.snapshot(engine.service._window()).items) == 3


def test_r22_an_occurrence_id_without_its_z_names_the_same_occurrence(engine: Engine) -> None:
    engine.calendar.add_series(item("s", subject="Stand-up"), "FREQ=DAILY;COUNT=3")
    engine.service.send(["s@20260312T090000Z"])
    engine.service.delete_series("s", "20260312T090000")
    assert psa_items(engine) == [] and engine.store.links() == []
    with pytest.raises(NotFound):
        engine.calendar.get(ItemKey("s", "20260312T090000Z"))


# --- Add: R30-R32 -----------------------------------------------------------------------------


def test_r30_r31_r32_add_appointment_todo_and_service_call_then_get(engine: Engine) -> None:
    engine.service.add(AddForm(PsaKind.APPOINTMENT, "Lunch", at(11, 12), at(11, 13), "with team"))
    engine.service.add(
        AddForm(PsaKind.TODO, start=at(12, 9), end=at(12, 10), company="Acme", description="call")
    )
    result = engine.service.add(
        AddForm(
            PsaKind.SERVICE_CALL, start=at(13, 9), end=at(13, 10), company="Acme", tickets=("T20260310.0001",)
        )
    )
    assert ("create", "done") in outcomes(result)
    items = {s.subject: s for s in engine.service.items()}
    assert set(items) == {"Lunch", "Meeting: Acme", "Service Call: Acme"}  # R31: the automatic Get ran
    lunch = engine.calendar.get(ItemKey(items["Lunch"].ref))
    call = engine.calendar.get(ItemKey(items["Service Call: Acme"].ref))
    assert lunch.location == "" and call.location == ACME.address.one_line()  # R32


def test_r30_required_fields_are_checked_before_anything_is_sent(engine: Engine) -> None:
    from calferry.errors import InputError

    with pytest.raises(InputError):
        engine.service.add(AddForm(PsaKind.TODO, start=at(12, 9), end=at(12, 10)))
    with pytest.raises(InputError):
        engine.service.add(AddForm(PsaKind.SERVICE_CALL, start=at(12, 9), end=at(12, 10), company="Acme"))
    assert engine.psa.items == {} and engine.psa.request_counts().get("POST ToDos", 0) == 0


# --- R33: CRM permission ----------------------------------------------------------------------


def test_r33_todo_refused_without_crm_leaves_nothing_half_made(tmp_path: Path) -> None:
    engine = Engine(tmp_path, psa=new_psa(NO_CRM))
    engine.calendar.create(item("t"))
    result = engine.service.send(["t"], kind="todo", company="Acme")
    (only,) = result.to_json()["actions"]
    assert only["outcome"] == "failed" and "CRM" in only["error"]
    assert engine.psa.items == {} and engine.store.links() == [] and engine.store.pending() == []
    assert engine.calendar.get(ItemKey("t")).stamp is None
    with pytest.raises(PermissionDenied, match="CRM"):
        engine.service.add(AddForm(PsaKind.TODO, start=at(12, 9), end=at(12, 10), company="Acme"))


# --- B1, B4, identity, lock ------------------------------------------------------------------


def test_b1_saved_plan_is_applied_exactly_and_stale_plan_is_refused(engine: Engine) -> None:
    engine.calendar.create(item("a", subject="Dentist"))
    engine.calendar.create(item("b", subject="Gym"))
    saved = json.dumps(engine.service.preview_send(["a", "b"]).to_json())
    engine.calendar.update(replace(engine.calendar.get(ItemKey("b")), subject="Gym later"))
    result = engine.service.send(plan=Plan.from_json(json.loads(saved)))
    assert outcomes(result) == [("create", "done"), ("create", "failed")]
    assert "make a new plan" in result.to_json()["actions"][1]["error"]
    assert [i.title for i in psa_items(engine)] == ["Dentist"]


def test_b1_saved_get_plan_refuses_psa_change(engine: Engine) -> None:
    engine.calendar.create(item("a", subject="Dentist"))
    engine.service.send(["a"])
    engine.psa.edit(PsaRef(PsaKind.APPOINTMENT, 1), title="v2")
    plan = engine.service.preview_get()
    engine.psa.edit(PsaRef(PsaKind.APPOINTMENT, 1), title="v3")
    result = engine.service.get(plan=plan)
    assert outcomes(result) == [("update", "failed")]
    assert engine.calendar.get(ItemKey("a")).subject == "Dentist"


def test_b4_audit_log_records_every_transfer(engine: Engine) -> None:
    engine.calendar.create(item("a", subject="Dentist"))
    engine.service.send(["a"])
    engine.psa.edit(PsaRef(PsaKind.APPOINTMENT, 1), title="v2")
    engine.service.get()
    log = engine.service.log()
    assert [(e.action, e.ref, e.psa_id, e.outcome) for e in log] == [
        ("update:personal", "a", 1, "done"),
        ("create:psa", "a", 1, "done"),
    ]
    assert log[0].at == NOW and (log[0].rule, log[0].subject) == ("R24", "Dentist")


def test_lost_store_is_rebuilt_from_stamps_never_recreated(engine: Engine) -> None:
    engine.calendar.create(item("a", subject="Dentist"))
    engine.service.send(["a"])
    engine.psa.items[PsaRef(PsaKind.APPOINTMENT, 5)] = PsaAppointment(
        5, "PSA made", at(12, 9), at(12, 10), 7, "", NOW
    )
    engine.service.get()
    engine.lose_store()
    engine.service.send(["a"])
    engine.service.get()
    assert len(engine.psa.items) == 2 and len(engine.calendar.snapshot(engine.service._window()).items) == 2
    assert {link.personal.uid for link in engine.store.links()} == {
        "a",
        downloaded_uid(PsaRef(PsaKind.APPOINTMENT, 5)),
    }


def test_run_lock_is_exclusive(engine: Engine) -> None:
    with engine.store.lock(), pytest.raises(LockBusy, match="another calferry run"):
        engine.store.lock().acquire()
    with engine.store.lock():
        pass  # released: the next run may go


def test_status_and_log_need_only_the_link_store(engine: Engine) -> None:
    engine.calendar.create(item("a", subject="Dentist"))
    engine.service.send(["a"])
    records = Records(settings(enabled=False), engine.store)
    status = records.status()
    assert status["enabled"] is False and status["links"] == {"appointment/sent": 1}
    assert status["last_run"]["operation"] == "send"
    assert [(e.action, e.ref) for e in records.log()] == [("create:psa", "a")]


def test_status_and_items_states(engine: Engine) -> None:
    engine.calendar.create(item("a", subject="Dentist"))
    engine.calendar.create(item("b", subject="Private stuff"))
    engine.service.send(["a"])
    engine.psa.items[PsaRef(PsaKind.APPOINTMENT, 5)] = PsaAppointment(
        5, "From PSA", at(12, 9), at(12, 10), 7, "", NOW
    )
    engine.service.get()
    states = {s.subject: s.state for s in engine.service.items()}
    assert states == {"Dentist": "sent", "Private stuff": "not sent", "From PSA": "downloaded"}
    status = engine.service.status()
    assert status["enabled"] is True and status["pending_intents"] == 0
    assert status["links"] == {"appointment/sent": 1, "appointment/downloaded": 1}
    assert status["last_run"]["operation"] == "get"


def test_b3_the_psa_clients_warnings_reach_the_run_result(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hourly API budget is shared with other integrations: a run says when it is running low."""
    low = "the PSA's hourly API budget is 80% used (8000 of 10000 requests)"
    monkeypatch.setattr(engine.psa, "warnings", lambda: [low])
    engine.calendar.create(item("a"))
    assert low in engine.service.send(["a"]).warnings
    assert low in engine.service.get().to_json()["warnings"]
