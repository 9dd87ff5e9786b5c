"""The HTTP layer Autotask and Graph share: Retry-After in both forms, jittered backoff, the gate."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from hypothesis import given
from hypothesis import strategies as st

from calferry.http import LocalGate, RetryPolicy, retry_after
from calferry.psa.threads import LocalThreadGate

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _now() -> float:
    return NOW.timestamp()


@given(st.integers(min_value=0, max_value=10**7))
def test_retry_after_in_whole_seconds_is_that_wait(seconds: int) -> None:
    assert retry_after({"Retry-After": str(seconds)}, _now) == seconds


@given(st.integers(min_value=0, max_value=10**6))
def test_retry_after_as_an_http_date_is_the_wait_until_then(seconds: int) -> None:
    """RFC 9110 10.2.3: ``Retry-After: Fri, 31 Dec 1999 23:59:59 GMT``, counted from now."""
    header = format_datetime(NOW + timedelta(seconds=seconds), usegmt=True)
    assert retry_after({"retry-after": header}, _now) == seconds


def test_retry_after_forms_that_name_no_wait() -> None:
    past = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert retry_after({"Retry-After": past}, _now) == 0.0  # the time has come: no wait
    assert retry_after({"Retry-After": "2.5"}, _now) == 2.5  # Graph's may be fractional
    assert retry_after({"Retry-After": "-3"}, _now) == 0.0
    for nonsense in ("soon", "nan", "inf", "", "Fri, 99 Foo 2026"):
        assert retry_after({"Retry-After": nonsense}, _now) is None
    assert retry_after({}, _now) is None


@given(st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=2**32))
def test_backoff_is_jittered_within_its_cap_and_repeatable_from_a_seed(attempt: int, seed: int) -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0, rng=random.Random(seed))
    again = RetryPolicy(base_delay=0.5, max_delay=30.0, rng=random.Random(seed))
    full = min(30.0, 0.5 * 2.0**attempt)
    wait = policy.backoff(attempt)
    assert full / 2 <= wait <= full
    assert again.backoff(attempt) == wait


def test_backoff_without_jitter_doubles_exactly() -> None:
    policy = RetryPolicy(base_delay=0.002, max_delay=float("inf"), jitter=0.0)
    assert [policy.backoff(n) for n in range(3)] == [0.002, 0.004, 0.008]


def test_a_named_wait_is_capped_and_one_too_long_is_given_up() -> None:
    policy = RetryPolicy(max_delay=30.0, give_up_after=120.0)
    assert [policy.named_wait(s) for s in (7.0, 60.0, 120.0, 121.0)] == [7.0, 30.0, 30.0, None]


def test_one_gate_serves_autotask_and_graph_keys_alike() -> None:
    gate = LocalGate(4)
    assert gate.permits("Mailbox A") is gate.permits("mailbox a")  # one gate per key, any case
    assert gate.permits("code", "Appointments") is not gate.permits("code", "Tickets")
    with gate.slot("mailbox a", weight=99), gate.slot("mailbox b"):  # every permit of a, not forever
        pass
    threads = LocalThreadGate()
    assert isinstance(threads, LocalGate) and threads.limit == 3
