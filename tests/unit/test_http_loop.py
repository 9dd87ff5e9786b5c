"""B2/B3: the one retry loop (:meth:`calferry.http.RetryPolicy.run`) that every HTTP adapter sends through."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calferry.http import Mode, Retry, RetryPolicy

POLICY = RetryPolicy(attempts=4, base_delay=1.0, max_delay=30.0, give_up_after=120.0, jitter=0.0)


class Refused(Exception):
    """A failure carrying the judge's verdict, as an adapter's translated error would."""

    def __init__(self, verdict: Retry | None) -> None:
        super().__init__("refused")
        self.verdict = verdict


def _judge(outcome: object) -> Retry | None:
    return outcome.verdict if isinstance(outcome, Refused) else None


def _script(*failures: Retry | None) -> tuple[list[int], Callable[[], str]]:
    """A ``send`` that fails with each verdict in turn, then answers ``"done"``; the calls made."""
    calls: list[int] = []

    def send() -> str:
        calls.append(len(calls))
        if len(calls) <= len(failures):
            raise Refused(failures[len(calls) - 1])
        return "done"

    return calls, send


def test_a_refusal_that_names_its_wait_is_repeated_after_that_wait() -> None:
    calls, send = _script(Retry(applied=False, wait=7.0))
    waits: list[float] = []
    ran = POLICY.run(send, _judge, mode="write", sleep=waits.append)
    assert ran == ("done", False) and waits == [7.0] and len(calls) == 2


def test_a_failure_that_may_have_been_applied_is_repeated_only_for_an_idempotent_call() -> None:
    maybe = Retry(applied=True)
    calls, send = _script(maybe)
    assert POLICY.run(send, _judge, mode="read", sleep=lambda _: None) == ("done", True)
    calls, send = _script(maybe)
    with pytest.raises(Refused):
        POLICY.run(send, _judge, mode="write", sleep=lambda _: None)
    assert len(calls) == 1


def test_never_repeats_nothing_and_a_final_failure_is_raised_as_it_came() -> None:
    calls, send = _script(Retry(applied=False))
    with pytest.raises(Refused):
        POLICY.run(send, _judge, mode="never")
    calls, send = _script(None)
    with pytest.raises(Refused):
        POLICY.run(send, _judge, mode="read")
    assert len(calls) == 1


def test_a_cause_with_few_tries_and_a_wait_past_give_up_end_the_loop_early() -> None:
    refused = Retry(applied=False, tries=2)
    calls, send = _script(refused, refused, refused)
    waits: list[float] = []
    with pytest.raises(Refused):
        POLICY.run(send, _judge, mode="read", sleep=waits.append)
    assert len(calls) == 3 and waits == [1.0, 2.0]
    calls, send = _script(Retry(applied=False, wait=300.0))
    with pytest.raises(Refused):
        POLICY.run(send, _judge, mode="read", sleep=waits.append)
    assert len(calls) == 1


def test_an_answer_judged_retryable_is_returned_when_the_attempts_are_spent() -> None:
    answers = iter([429, 429, 429, 429, 200])
    waits: list[float] = []
    ran = POLICY.run(
        lambda: next(answers), lambda status: Retry(applied=False) if status == 429 else None,
        mode="read", sleep=waits.append,
    )  # fmt: skip
    assert ran.value == 429 and waits == [1.0, 2.0, 4.0]


def test_the_slot_is_held_while_a_request_is_in_flight_never_while_waiting() -> None:
    held = threading.Lock()
    log: list[str] = []

    @contextmanager
    def slot() -> Iterator[None]:
        with held:
            log.append("in")
            try:
                yield
            finally:
                log.append("out")

    def sleep(_: float) -> None:
        log.append("locked" if held.locked() else "sleep")

    _, send = _script(Retry(applied=False))
    POLICY.run(send, _judge, mode="read", sleep=sleep, slot=slot, before=lambda: log.append("pace"))
    assert log == ["pace", "in", "out", "sleep", "pace", "in", "out"]


VERDICTS = st.one_of(
    st.none(),
    st.builds(
        Retry,
        applied=st.booleans(),
        wait=st.one_of(st.none(), st.floats(0, 500, allow_nan=False)),
        tries=st.one_of(st.none(), st.integers(0, 5)),
    ),
)


@given(st.lists(VERDICTS, max_size=8), st.sampled_from(["read", "write", "never"]))
def test_no_call_is_sent_more_than_attempts_times_and_a_write_never_after_it_may_have_applied(
    verdicts: list[Retry | None], mode: Mode
) -> None:
    calls, send = _script(*verdicts)
    waits: list[float] = []
    with suppress(Refused):
        POLICY.run(send, _judge, mode=mode, sleep=waits.append)
    assert 1 <= len(calls) <= POLICY.attempts and len(waits) == len(calls) - 1
    repeated = verdicts[: len(waits)]
    assert all(v is not None for v in repeated)
    assert mode != "never" or not waits
    assert mode == "read" or not any(v is not None and v.applied for v in repeated)
    assert all(0 <= w <= POLICY.max_delay for w in waits)
