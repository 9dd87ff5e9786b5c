"""AutotaskPsa against ``calferry psa serve`` answering as the real Autotask does (issue 16, items 13-19).

Each test pins an answer the real service gives (autotask-fidelity-review.md) and what calferry makes of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from calferry.errors import NotFound
from calferry.model import PsaAppointment, PsaKind, PsaRef, PsaServiceCall
from calferry.psa.gateway import AutotaskPsa
from calferry.psa.query import gte
from calferry.psa.server.problems import NO_MATCHING_RECORDS
from tests.contract.test_autotask_client import make_client
from tests.contract.test_psa_gateway import NY, around_now


@pytest.fixture
def psa(psa_server: Any) -> Iterator[AutotaskPsa]:
    gateway = AutotaskPsa(make_client(psa_server), resource=NY)
    yield gateway
    gateway.close()


def test_r22_deleting_what_is_already_gone_answers_500_and_counts_as_done(
    psa_server: Any, psa: AutotaskPsa
) -> None:
    start = datetime(2031, 5, 6, 8, 30, tzinfo=UTC)
    made = psa.create(PsaAppointment(None, "Dentist", start, start + timedelta(hours=1), psa.me().id))
    ref = PsaRef(PsaKind.APPOINTMENT, made.id or 0)
    psa.delete(ref)
    with psa_server.client() as raw:  # what real Autotask answers to a DELETE of a missing id
        answer = raw.delete(f"Appointments/{ref.id}")
    assert answer.status_code == 500 and answer.json() == {"errors": [NO_MATCHING_RECORDS]}
    before = psa.request_counts().get("DELETE Appointments/{id}", 0)
    psa.delete(ref)  # already gone: done, not an error, and not retried
    assert psa.request_counts()["DELETE Appointments/{id}"] - before == 1
    with pytest.raises(NotFound):
        psa.client.delete("Appointments", ref.id)


def test_r22_a_service_call_removed_in_the_psa_is_deleted_without_error(psa: AutotaskPsa) -> None:
    call = next(
        i for i in psa.snapshot(around_now(), psa.me().id, [PsaKind.SERVICE_CALL]).items
        if isinstance(i, PsaServiceCall)
    )  # fmt: skip
    ref = PsaRef(PsaKind.SERVICE_CALL, call.id or 0)
    psa.delete(ref)
    psa.delete(ref)  # the technician's series delete after it was removed in Autotask
    with pytest.raises(NotFound):
        psa.get(ref)
    assert psa.client.count("ServiceCalls", gte("id", 0)) >= 1
