"""The category send (B10, R3): the pure decisions (selection, outcomes, category writes, the row's errors)
and the engine's run on memory adapters."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calferry.errors import InputError
from calferry.model import (
    ItemKey,
    Link,
    Origin,
    Outcome,
    PersonalItem,
    PsaAppointment,
    PsaKind,
    PsaRef,
    PsaToDo,
)
from calferry.org.store import OrgSettings
from calferry.personal.ics import IcsCalendar
from calferry.plan import UNCHANGED, Action, ActionKind, Plan, Target
from calferry.plan_categories import (
    CategoryNames,
    SendError,
    SendOutcome,
    kept_errors,
    marked,
    outcome_of,
    plan_categories,
    planned_outcomes,
)
from tests.unit.engine_helpers import NOW, Engine, at, item

NAMES = CategoryNames()
SEND, SENT, ERROR = NAMES.send, NAMES.sent, NAMES.error


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine(tmp_path)


def psa_appointments(engine: Engine) -> list[PsaAppointment]:
    return [i for i in engine.psa.items.values() if isinstance(i, PsaAppointment)]


def categories(engine: Engine, ref: str) -> tuple[str, ...]:
    return engine.calendar.get(ItemKey.from_ref(ref)).categories


# --- the pure decisions -------------------------------------------------------------------------


def test_r3_only_items_carrying_the_send_category_are_chosen_whatever_its_case() -> None:
    items = [
        item("a", categories=("Customer", SEND)),
        item("b", categories=(" send to AUTOTASK ",)),
        item("c", categories=("Customer",)),
        item("d", categories=(SENT,)),
        item("e"),
    ]
    assert [i.uid for i in marked(items, NAMES)] == ["a", "b"]
    assert marked(items, CategoryNames(send="Ship it")) == []


def test_r3_the_send_category_becomes_the_outcome_s_and_the_others_stay_in_order() -> None:
    assert NAMES.after(("Red", SEND, "Blue"), True) == ("Red", "Blue", SENT)
    assert NAMES.after(("Red", SEND, ERROR), True) == ("Red", SENT)  # a retried error clears
    assert NAMES.after((SEND, "blue"), False) == ("blue", ERROR)


@given(st.lists(st.sampled_from(["Red", SEND, SENT, ERROR, "send to autotask", "", "Ünïcødé, comma"])))
def test_r3_after_a_send_exactly_one_of_the_three_categories_is_left_and_the_others_are_kept(
    given_categories: list[str],
) -> None:
    for sent in (True, False):
        after = NAMES.after(given_categories, sent)
        ours = [c for c in after if c.strip().casefold() in {n.casefold() for n in (SEND, SENT, ERROR)}]
        assert ours == [SENT if sent else ERROR]
        others = [
            c
            for c in given_categories
            if c.strip().casefold() not in {SEND.casefold(), SENT.casefold(), ERROR.casefold()}
        ]
        assert list(after[:-1]) == others
        assert NAMES.after(after, sent) == after  # writing it again changes nothing


def _send_action(ref: str, kind: ActionKind = ActionKind.CREATE, reason: str = "first send") -> Action:
    return Action(
        kind,
        ref,
        PsaKind.APPOINTMENT,
        None,
        reason,
        Target.PSA if kind is not ActionKind.SKIP else Target.NONE,
        unchanged=reason == UNCHANGED,
    )


def test_r3_outcomes_sent_refused_failed_and_left_to_another_device() -> None:
    assert outcome_of(_send_action("a"), Outcome.DONE, None) == SendOutcome("a", True)
    assert outcome_of(_send_action("a"), Outcome.ADOPTED, None).sent is True
    assert outcome_of(_send_action("a", ActionKind.SKIP, UNCHANGED), Outcome.SKIPPED, None).sent is True
    refused = outcome_of(
        _send_action("a", ActionKind.SKIP, "a service call cannot be sent"), Outcome.SKIPPED, None
    )
    assert refused == SendOutcome("a", False, "a service call cannot be sent")
    assert outcome_of(_send_action("a"), Outcome.FAILED, "the PSA said no") == SendOutcome(
        "a", False, "the PSA said no"
    )
    assert outcome_of(_send_action("a"), Outcome.LEFT, "another device") == SendOutcome("a", None)
    plan = Plan("send", (_send_action("a"), _send_action("b", ActionKind.SKIP, "no")), NOW)
    assert [o.sent for o in planned_outcomes(plan)] == [True, False]


def test_r3_each_item_gets_its_category_write_with_its_version_and_the_reason() -> None:
    a = item("a", categories=("Red", SEND), version="v1")
    b = item("b", categories=(SEND,), version="v2", subject="Broken")
    plan = plan_categories(
        [a, b], {}, [SendOutcome("a", True), SendOutcome("b", False, "refused by the PSA")], NAMES, NOW
    )
    assert plan.operation == "categorize"
    first, second = plan.actions
    assert (first.ref, first.categories, first.personal_version, first.target) == (
        "a", ("Red", SENT), "v1", Target.PERSONAL,
    )  # fmt: skip
    assert second.categories == (ERROR,) and "refused by the PSA" in second.reason
    assert plan_categories([a], {}, [SendOutcome("a", None)], NAMES, NOW).actions == ()


def _occurrence(master: PersonalItem, day: int, **fields: object) -> PersonalItem:
    start = at(day, 9)
    return replace(master, start=start, end=start + timedelta(hours=1), recurrence_id=start, **fields)  # type: ignore[arg-type]


def test_r20_a_series_category_is_rewritten_on_the_series_and_each_sent_occurrence() -> None:
    master = item("s", categories=(SEND,), recurring=True, version="m1")
    plain = _occurrence(master, 11)
    exception = _occurrence(master, 12, categories=("Blue", SEND))
    outcomes = [SendOutcome(plain.ref, True), SendOutcome(exception.ref, True)]
    plan = plan_categories([plain, exception], {"s": master}, outcomes, NAMES, NOW)
    assert [(a.ref, a.categories) for a in plan.actions] == [
        ("s", (SENT,)), (plain.ref, (SENT,)), (exception.ref, ("Blue", SENT)),
    ]  # fmt: skip
    failed = [*outcomes[:1], SendOutcome(exception.ref, False, "too long")]
    on_series, *_ = plan_categories([plain, exception], {"s": master}, failed, NAMES, NOW).actions
    assert (on_series.ref, on_series.categories) == ("s", (ERROR,)) and "too long" in on_series.reason
    unmarked_master = replace(master, categories=())
    (own,) = plan_categories([exception], {"s": unmarked_master}, outcomes[1:], NAMES, NOW).actions
    assert own.ref == exception.ref  # the exception alone carried it: the series is left alone


def test_b10_the_row_keeps_errors_of_items_still_in_error_and_drops_the_rest() -> None:
    old = [SendError("a", "A", "no", NOW), SendError("b", "B", "no", NOW), SendError("c", "C", "no", NOW)]
    new = [SendError("c", "C", "still no", NOW + timedelta(minutes=5))]
    kept = kept_errors(old, new, erring={"a", "c"}, tried={"c"})
    assert [(e.ref, e.reason) for e in kept] == [("a", "no"), ("c", "still no")]  # b's category was removed
    assert SendError.from_json(new[0].to_json()) == new[0]


# --- the engine on memory adapters -------------------------------------------------------------


def test_r3_b10_marked_item_is_sent_as_appointment_and_marked_sent_unmarked_never_leaves(
    engine: Engine,
) -> None:
    engine.calendar.create(item("a", subject="Site visit", categories=("Customer", SEND)))
    engine.calendar.create(item("b", subject="Lunch with Sam", categories=("Customer",)))
    engine.calendar.create(item("c", subject="Dentist"))
    report = engine.service.send_by_category(NAMES)
    (appt,) = psa_appointments(engine)
    assert (appt.title, appt.resource_id) == ("Site visit", 7)
    assert categories(engine, "a") == ("Customer", SENT)
    assert engine.calendar.get(ItemKey("a")).stamp.psa_id == appt.id  # type: ignore[union-attr]
    assert categories(engine, "b") == ("Customer",) and engine.store.link_for(ItemKey("b")) is None
    assert report.errors == () and report.tried == {"a"}
    assert engine.service.send_by_category(NAMES).result.results == []  # nothing marked any more
    assert len(engine.psa.items) == 1


def test_r3_the_category_write_is_no_edit_for_the_next_get_and_the_link_has_its_version(
    engine: Engine,
) -> None:
    engine.calendar.create(item("a", subject="Site visit", categories=(SEND,)))
    engine.service.send_by_category(NAMES)
    written = engine.calendar.get(ItemKey("a"))
    link = engine.store.link_for(ItemKey("a"))
    assert link is not None and link.personal_version == written.version
    assert [i.state for i in engine.service.items()] == ["sent"]
    engine.psa.edit(link.psa, title="Site visit (moved)")
    engine.service.get()
    after = engine.calendar.get(ItemKey("a"))
    assert (after.subject, after.categories) == ("Site visit (moved)", (SENT,))  # an update, not a conflict


def test_r17_a_marked_item_sent_before_is_updated_with_its_kind_and_company(engine: Engine) -> None:
    engine.calendar.create(item("t", subject="Call Acme", description="old"))
    engine.service.send(["t"], kind="todo", company="Acme")
    current = engine.calendar.get(ItemKey("t"))
    engine.calendar.update(replace(current, description="new", categories=(SEND,)))
    engine.service.send_by_category(NAMES)
    (todo,) = engine.psa.items.values()
    assert isinstance(todo, PsaToDo) and (todo.company_id, todo.description) == (1, "new")
    assert categories(engine, "t") == (SENT,)


def test_r7_a_refused_item_gets_the_error_category_and_its_reason(engine: Engine) -> None:
    engine.calendar.create(item("sc", subject="Service Call: Acme", categories=(SEND,)))
    engine.store.save(Link(ItemKey("sc"), PsaRef(PsaKind.SERVICE_CALL, 5), Origin.DOWNLOADED))
    report = engine.service.send_by_category(NAMES)
    assert categories(engine, "sc") == (ERROR,) and engine.psa.items == {}
    (error,) = report.errors
    assert (error.ref, error.subject, error.reason) == (
        "sc",
        "Service Call: Acme",
        "a service call cannot be sent from your calendar",
    )
    assert "sc" in report.erring
    logged = [e for e in engine.store.log(10) if e.ref == "sc"]
    assert any("service call cannot be sent" in e.message for e in logged)


def test_b10_a_psa_refusal_gets_the_error_category_and_a_retry_after_the_fix_clears_it(
    engine: Engine,
) -> None:
    engine.calendar.create(item("n", subject="Notes", description="bad\x00byte", categories=("Red", SEND)))
    report = engine.service.send_by_category(NAMES)
    assert engine.psa.items == {} and categories(engine, "n") == ("Red", ERROR)
    assert "NUL" in report.errors[0].reason
    current = engine.calendar.get(ItemKey("n"))
    engine.calendar.update(replace(current, description="fine", categories=("Red", ERROR, SEND)))
    again = engine.service.send_by_category(NAMES)
    assert again.errors == () and categories(engine, "n") == ("Red", SENT) and len(engine.psa.items) == 1


def test_r20_a_marked_series_sends_its_occurrences_in_the_window_once_and_marks_the_series(
    engine: Engine,
) -> None:
    engine.calendar.add_series(item("s", subject="Stand-up", categories=(SEND,)), "FREQ=WEEKLY;COUNT=20")
    engine.service.send_by_category(NAMES)
    sent = psa_appointments(engine)
    in_window = [i for i in engine.calendar.snapshot(engine.service._window()).items if i.uid == "s"]
    assert len(sent) == len(in_window) >= 4
    assert categories(engine, "s") == (SENT,)
    assert {i.categories for i in engine.calendar.snapshot(engine.service._window()).items} == {(SENT,)}
    assert engine.service.send_by_category(NAMES).result.results == [] and len(
        psa_appointments(engine)
    ) == len(sent)


def test_b1_the_preview_shows_the_send_and_the_categories_and_writes_nothing(engine: Engine) -> None:
    engine.calendar.create(item("a", subject="Site visit", categories=(SEND,)))
    before = engine.calendar.get(ItemKey("a"))
    send, marks = engine.service.preview_send_by_category(NAMES)
    assert [(a.kind, a.ref) for a in send.actions] == [(ActionKind.CREATE, "a")]
    assert [(a.ref, a.categories) for a in marks.actions] == [("a", (SENT,))]
    assert engine.calendar.get(ItemKey("a")) == before and engine.psa.items == {}


def test_b10_the_three_names_are_org_settings_checked_in_words() -> None:
    changed = OrgSettings().with_value("send_category", "  Ship it ")
    assert changed.category_names == CategoryNames("Ship it", SENT, ERROR)
    for bad in ("", "a,b", "two\nlines", "x" * 256, 7):
        with pytest.raises(InputError, match="category name"):
            OrgSettings().with_value("error_category", bad)
    with pytest.raises(InputError, match="three different names"):
        OrgSettings().with_value("sent_category", " send to AUTOTASK")


# --- properties: hostile category names, the ics file, random calendars --------------------------

category_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40
).filter(lambda t: t.strip() == t and t != "")


@settings(max_examples=40, deadline=None)
@given(others=st.lists(category_names, max_size=4, unique=True))
def test_b8_any_category_names_survive_the_ics_file_and_only_ours_change(
    tmp_path_factory: pytest.TempPathFactory, others: list[str]
) -> None:
    path = tmp_path_factory.mktemp("ics") / "personal.ics"
    calendar = IcsCalendar(path)
    calendar.create(item("a", subject="Site visit", categories=(*others, SEND)))
    engine = Engine(path.parent, calendar=calendar)  # type: ignore[arg-type]
    engine.service.send_by_category(NAMES)
    expected = NAMES.after((*others, SEND), True)
    assert IcsCalendar(path).get(ItemKey("a")).categories == expected
    assert len(engine.psa.items) == 1
    engine.store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    marks=st.lists(
        st.sampled_from([(), ("Red",), (SEND,), ("Red", SEND), (SENT,), (ERROR,)]), min_size=1, max_size=8
    )
)
def test_r3_whatever_the_calendar_only_the_marked_items_reach_the_psa(
    tmp_path_factory: pytest.TempPathFactory, marks: list[tuple[str, ...]]
) -> None:
    engine = Engine(tmp_path_factory.mktemp("engine"))
    for n, cats in enumerate(marks):
        engine.calendar.create(item(f"i{n}", day=11 + n, subject=f"item {n}", categories=cats))
    engine.service.send_by_category(NAMES)
    engine.service.send_by_category(NAMES)
    sent = sorted(a.title for a in psa_appointments(engine))
    assert sent == sorted(f"item {n}" for n, cats in enumerate(marks) if SEND in cats)
    for n, cats in enumerate(marks):
        assert categories(engine, f"i{n}") == (NAMES.after(cats, True) if SEND in cats else cats)
    engine.store.close()


def test_b2_a_run_stopped_after_the_create_ends_with_one_psa_item_marked_sent(engine: Engine) -> None:
    engine.calendar.create(item("a", subject="Site visit", categories=(SEND,)))

    def crash(step: str) -> None:
        if step == "created":
            raise KeyboardInterrupt  # the power goes between the PSA's answer and the stamp

    with pytest.raises(KeyboardInterrupt):
        engine.with_checkpoint(crash).send_by_category(NAMES)
    assert categories(engine, "a") == (SEND,)
    engine.service.send_by_category(NAMES)
    assert len(engine.psa.items) == 1 and categories(engine, "a") == (SENT,)
