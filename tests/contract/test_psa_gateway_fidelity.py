"""AutotaskPsa against ``calferry psa serve`` answering as the real Autotask does (issue 16, items 13-19).

Each test pins an answer the real service gives (autotask-fidelity-review.md) and what calferry makes of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from calferry.config import Settings
from calferry.errors import ConfigError, NotFound, PermissionDenied
from calferry.model import PsaAppointment, PsaKind, PsaRef, PsaServiceCall, PsaToDo
from calferry.psa.gateway import ADMIN_HINT, AutotaskPsa
from calferry.psa.query import eq, gte
from calferry.psa.server.problems import NO_MATCHING_RECORDS
from calferry.wiring import open_psa
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


def _set_location_zone(server: Any, location_id: int, value: str) -> None:
    """InternalLocations are read-only over the API, as in Autotask: change one in the database."""
    engine = create_engine(server.db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text('UPDATE "InternalLocations" SET "timeZone" = :v WHERE id = :i'),
                         {"v": value, "i": location_id})  # fmt: skip
    finally:
        engine.dispose()


def test_location_time_zone_as_index_text_or_windows_name(psa_server: Any, psa: AutotaskPsa) -> None:
    assert psa.me().time_zone == "America/New_York"  # "35", Microsoft's index as text
    berlin = AutotaskPsa(make_client(psa_server), resource="tech.berlin@demo.calferry.local")
    assert berlin.me().time_zone == "Europe/Berlin"  # "W. Europe Standard Time"
    assert berlin.warnings() == []
    berlin.close()


@pytest.mark.parametrize("value", ["(GMT-05:00) Eastern Time (US & Canada)", "999", "", "Mars/Olympus"])
def test_an_unknown_location_zone_warns_and_uses_utc_instead_of_failing(
    psa_server: Any, psa: AutotaskPsa, value: str
) -> None:
    location = psa.client.get("Resources", psa.me().id)["locationID"]
    _set_location_zone(psa_server, location, value)
    fresh = AutotaskPsa(make_client(psa_server), resource=NY)
    try:
        assert fresh.me().time_zone == "UTC"
        [warning] = fresh.warnings()
        assert repr(value) in warning and "UTC" in warning and "psa.time_zone" in warning
    finally:
        fresh.close()


def test_the_configured_time_zone_wins_over_the_location(psa_server: Any) -> None:
    _set_location_zone(psa_server, 1, "not a zone at all")
    psa = AutotaskPsa(make_client(psa_server), resource=NY, time_zone="America/Detroit")
    try:
        assert psa.me().time_zone == "America/Detroit" and psa.warnings() == []
        assert "GET InternalLocations/{id}" not in psa.request_counts()
    finally:
        psa.close()


def test_psa_time_zone_setting_is_checked_and_used(psa_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = psa_server.headers
    psa_section = {"base_url": psa_server.base_url, "username": headers["UserName"],
                   "integration_code": headers["ApiIntegrationCode"], "resource": NY}  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        Settings.from_dict({"psa": psa_section | {"time_zone": "Eastern Standard Time"}})
    assert "psa.time_zone" in caught.value.problems[0] and "Europe/Berlin" in caught.value.problems[0]
    monkeypatch.setenv("CALFERRY_PSA_SECRET", headers["Secret"])
    gateway = open_psa(Settings.from_dict({"psa": psa_section | {"time_zone": "Pacific/Auckland"}}))
    try:
        assert gateway.me().time_zone == "Pacific/Auckland"
    finally:
        gateway.close()


def _draft(psa: AutotaskPsa, day: int = 6) -> PsaAppointment:
    start = datetime(2031, 5, day, 8, 30, tzinfo=UTC)
    return PsaAppointment(None, "Dentist", start, start + timedelta(hours=1), psa.me().id)


def test_r16_own_appointments_are_written_as_the_technician_where_others_are_refused(
    psa_server_factory: Any,
) -> None:
    server = psa_server_factory(appointments_for_others=False)
    psa = AutotaskPsa(make_client(server), resource=NY)
    try:
        me = psa.me().id
        with server.client() as raw:  # the API user writing someone else's appointment is refused
            body = {"title": "x", "resourceID": me, "startDateTime": "2031-05-06T08:00:00Z",
                    "endDateTime": "2031-05-06T09:00:00Z"}  # fmt: skip
            refused = raw.post("Appointments", json=body)
        assert refused.status_code == 500 and "adequate permissions" in refused.json()["errors"][0]
        made = psa.create(_draft(psa))
        assert psa.client.get("Appointments", made.id or 0)["creatorResourceID"] == me
        moved = psa.update(replace(made, title="Dentist (moved)"))
        assert isinstance(moved, PsaAppointment) and moved.title == "Dentist (moved)"
        psa.delete(PsaRef(PsaKind.APPOINTMENT, made.id or 0))
        with pytest.raises(NotFound):
            psa.get(PsaRef(PsaKind.APPOINTMENT, made.id or 0))
    finally:
        psa.close()


def test_r16_without_impersonation_the_api_user_writes_and_asks_only_once(psa_server_factory: Any) -> None:
    server = psa_server_factory(impersonation=False)
    psa = AutotaskPsa(make_client(server), resource=NY)
    try:
        first, second = psa.create(_draft(psa, 6)), psa.create(_draft(psa, 7))
        api_user = psa.client.get("Appointments", first.id or 0)["creatorResourceID"]
        assert api_user != psa.me().id and second.id
        assert (
            psa.request_counts()["POST Appointments"] == 3
        )  # one refused impersonation, then as the API user
    finally:
        psa.close()


def test_r16_refused_both_ways_says_what_the_admin_must_enable(psa_server_factory: Any) -> None:
    server = psa_server_factory(impersonation=False, appointments_for_others=False)
    psa = AutotaskPsa(make_client(server), resource=NY)
    try:
        with pytest.raises(PermissionDenied) as caught:
            psa.create(_draft(psa))
        assert caught.value.hint == ADMIN_HINT and "Allow users that can view all tickets" in str(
            caught.value
        )
        assert psa.find_matching(_draft(psa)) == []
    finally:
        psa.close()


def test_r33_no_invented_crm_fields_and_the_refusal_is_read_from_autotasks_words(
    psa_server: Any, psa: AutotaskPsa
) -> None:
    nocrm = psa.client.query("Resources", eq("email", "tech.nocrm@demo.calferry.local"))
    nocrm_id = next(iter(nocrm))["id"]
    with psa_server.client() as raw:
        fields = {f["name"] for f in raw.get("Resources/entityInformation/fields").json()["fields"]}
        row = raw.get(f"Resources/{nocrm_id}").json()["item"]
        by_flag = raw.post(
            "Resources/query", json={"filter": [{"op": "eq", "field": "hasCrmAccess", "value": False}]}
        )
    assert not {"hasCrmAccess", "securityLevel"} & (fields | set(row))  # Autotask has neither
    assert by_flag.status_code == 500
    start = datetime(2031, 5, 8, 9, tzinfo=UTC)
    draft = PsaToDo(None, psa.company("Contoso Dental").id, 3, nocrm_id, start, start + timedelta(minutes=30))
    with pytest.raises(PermissionDenied) as caught:  # assigned to a technician without CRM access
        psa.create(draft)
    assert "CRM access" in caught.value.message and "adequate permissions" in caught.value.message
    assert caught.value.exit_code == 8 and caught.value.hint
    assert psa.find_matching(draft) == []
