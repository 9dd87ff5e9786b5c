"""The Autotask wire on record (``tests/wire/autotask``, each file quoting its source) against both the
client's reading of an answer and what ``calferry psa serve`` answers in the same situation, so that the
client and the local server cannot drift apart from Autotask again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from calferry.errors import NotFound, PermissionDenied, PsaAuthError, PsaRateLimited
from calferry.psa.autotask import _error_for, _versioned
from calferry.psa.server.limits import ThreadLimiter
from calferry.psa.server.problems import ApiError

WIRE = Path(__file__).parents[1] / "wire" / "autotask"
RECORDS = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(WIRE.glob("*.json"))}
READS_AS = {
    "delete_missing": NotFound,
    "invalid_integration_code": PsaAuthError,
    "unknown_user": PsaAuthError,
    "wrong_secret": PsaAuthError,
    "permission_denied": PermissionDenied,
    "thread_threshold": PsaRateLimited,
}


def _response(record: dict[str, Any]) -> httpx.Response:
    body = record["body"]
    return httpx.Response(record["status"]) if body is None else httpx.Response(record["status"], json=body)


def test_every_record_says_its_source_and_is_read_by_a_test() -> None:
    assert set(RECORDS) == {*READS_AS, "zone_information"}
    for record in RECORDS.values():
        assert record["source"] and record["situation"] and record["calferry"]


@pytest.mark.parametrize("name", sorted(READS_AS))
def test_the_client_reads_the_recorded_answer(name: str) -> None:
    error = _error_for(_response(RECORDS[name]), "DELETE Appointments/{id}")
    assert type(error) is READS_AS[name]
    if isinstance(error, PsaRateLimited):
        assert error.retry_after is None  # no Retry-After: the client backs off on its own


def test_the_client_builds_the_base_url_from_the_recorded_zone() -> None:
    url = RECORDS["zone_information"]["body"]["url"]
    assert _versioned(url) == "https://webservices15.autotask.net/ATServicesRest/V1.0/"


def _nocrm_todo(server: Any) -> httpx.Response:
    """A to-do written as (and for) the demo technician without CRM access."""
    with server.client() as client:

        def first(entity: str, condition: dict[str, Any]) -> int:
            return int(client.post(f"{entity}/query", json={"filter": [condition]}).json()["items"][0]["id"])

        nocrm = first("Resources", {"op": "eq", "field": "email", "value": "tech.nocrm@demo.calferry.local"})
        company = first("Companies", {"op": "gte", "field": "id", "value": 0})
        todo = {"companyID": company, "actionType": 3, "assignedToResourceID": nocrm,
                "startDateTime": "2032-05-04T09:00:00Z", "endDateTime": "2032-05-04T09:30:00Z"}  # fmt: skip
        return client.post(f"Companies/{company}/ToDos", json=todo,
                           headers={"ImpersonationResourceId": str(nocrm)})  # fmt: skip


def _provoke(server: Any, name: str) -> httpx.Response:
    """The situation of record ``name``, played against the local server."""
    wrong = {"invalid_integration_code": {"ApiIntegrationCode": "X" * 27},
             "unknown_user": {"UserName": "nobody@example.com"}, "wrong_secret": {"Secret": "wrong"}}  # fmt: skip
    if name in wrong:
        return httpx.get(f"{server.base_url}ThresholdInformation", headers=server.headers | wrong[name])
    if name == "delete_missing":
        return httpx.delete(f"{server.base_url}Appointments/99999999", headers=server.headers)
    assert name == "permission_denied"
    return _nocrm_todo(server)


@pytest.mark.parametrize("name", sorted(set(READS_AS) - {"thread_threshold"}))
def test_the_local_server_answers_as_recorded(psa_server: Any, name: str) -> None:
    record = RECORDS[name]
    answer = _provoke(psa_server, name)
    assert answer.status_code == record["status"]
    if record["body"] is not None:
        assert answer.json() == record["body"]


def test_the_local_servers_thread_refusal_is_the_recorded_one() -> None:
    record = RECORDS["thread_threshold"]
    limiter = ThreadLimiter(limit=3, refusal_status=record["status"])
    for _ in range(3):
        limiter.acquire("code", "Tickets")
    with pytest.raises(ApiError) as refused:
        limiter.acquire("code", "Tickets")
    assert refused.value.status == record["status"] and not refused.value.headers
    assert {"errors": refused.value.messages} == record["body"]


def test_the_local_zone_answer_has_the_recorded_fields(psa_server: Any) -> None:
    user = psa_server.headers["UserName"]
    answer = httpx.get(f"{psa_server.base_url}zoneInformation", params={"user": user}).json()
    assert set(answer) == set(RECORDS["zone_information"]["body"])
    assert _versioned(answer["url"]).lower() == psa_server.base_url.lower()
