"""AutotaskPsa, every method of the Psa contract, against the demo-seeded ``calferry psa serve``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from calferry.config import Settings
from calferry.errors import LookupFailed, NotFound, PermissionDenied, PsaValidationError
from calferry.model import (
    PsaAppointment,
    PsaKind,
    PsaRef,
    PsaServiceCall,
    PsaToDo,
    ServiceCallWork,
    Window,
    WorkKind,
)
from calferry.psa.gateway import AutotaskPsa, version_of
from calferry.psa.query import eq, gte
from calferry.wiring import open_psa
from tests.contract.test_autotask_client import make_client

NY = "tech.ny@demo.calferry.local"
ALL_KINDS = (PsaKind.APPOINTMENT, PsaKind.TODO, PsaKind.SERVICE_CALL)


@pytest.fixture
def psa(psa_server: Any) -> Iterator[AutotaskPsa]:
    gateway = AutotaskPsa(make_client(psa_server), resource=NY)
    yield gateway
    gateway.close()


def around_now(days: int = 30) -> Window:
    now = datetime.now(UTC)
    return Window(now - timedelta(days=days), now + timedelta(days=days))


def test_me_by_email_has_time_zone_and_crm_access_until_refused(psa: AutotaskPsa) -> None:
    me = psa.me()
    assert me.email == NY and me.time_zone == "America/New_York" and me.crm_access
    assert psa.me() is me  # asked once


def test_me_by_email_and_by_id(psa_server: Any, psa: AutotaskPsa) -> None:
    nocrm = AutotaskPsa(make_client(psa_server), resource="tech.nocrm@demo.calferry.local")
    assert nocrm.me().time_zone == "Australia/Sydney"
    by_id = AutotaskPsa(make_client(psa_server), resource=str(psa.me().id))
    assert by_id.me().email == NY
    with pytest.raises(LookupFailed):
        AutotaskPsa(make_client(psa_server), resource="nobody@example.com").me()


def test_r10_snapshot_has_every_kind_with_references_in_few_requests(psa: AutotaskPsa) -> None:
    me = psa.me()
    before = psa.request_counts()["total"]
    snap = psa.snapshot(around_now(), me.id, ALL_KINDS)
    appointments = [i for i in snap.items if isinstance(i, PsaAppointment)]
    todos = [i for i in snap.items if isinstance(i, PsaToDo)]
    calls = [i for i in snap.items if isinstance(i, PsaServiceCall)]
    assert len(appointments) == 5 and all(a.resource_id == me.id for a in appointments)
    assert todos and all(t.assigned_resource_id == me.id for t in todos)
    assert len(calls) == 2
    for call in calls:
        assert {w.kind for w in call.work} == {WorkKind.TICKET, WorkKind.TASK}
        assert all(w.number and w.title for w in call.work)
        assert snap.companies[call.company_id].address.city
    for todo in todos:
        assert todo.company_id in snap.companies and todo.action_type_id in snap.action_types
        assert todo.contact_id in snap.contacts
    used = psa.request_counts()["total"] - before
    # one query per kind, 2 children + 2 assignments + 2 work look-ups, companies (and their countries),
    # contacts, action types
    assert used <= 13


def test_r28_service_call_company_address_has_the_country_fetched_in_one_batched_request(
    psa_server: Any, psa: AutotaskPsa
) -> None:
    me = psa.me()
    snap = psa.snapshot(around_now(), me.id, ALL_KINDS)
    counts = psa.request_counts()
    calls = [i for i in snap.items if isinstance(i, PsaServiceCall)]
    assert calls
    with make_client(psa_server) as raw:
        rows = {r["id"]: r for r in raw.query("Companies", gte("id", 0))}
        names = {r["id"]: r["displayName"] for r in raw.query("Countries", gte("id", 0))}
    for company in snap.companies.values():
        assert company.address.country == names[rows[company.id]["countryID"]]
    countries = {c.address.country for c in snap.companies.values()}
    assert len(countries) >= 2  # several countries, still one request
    assert counts["POST Countries/query"] == 1
    assert not any(label.startswith("GET Countries/") for label in counts)
    contoso = psa.company("Contoso Dental")
    assert contoso.address.one_line() == "350 Fifth Avenue, 10118 New York, NY, United States"
    for call in calls:
        location = snap.companies[call.company_id].address.one_line()
        assert location.endswith(", " + snap.companies[call.company_id].address.country)
    again = psa.snapshot(around_now(), me.id, ALL_KINDS)  # cached for the client's lifetime
    psa.company(contoso.id)
    assert again.companies == snap.companies
    assert psa.request_counts()["POST Countries/query"] == 1


def test_company_lookup_fills_the_country_with_one_request(psa: AutotaskPsa) -> None:
    before = psa.request_counts()
    northwind = psa.company("Northwind Traders Pty")
    by_id = psa.company(northwind.id)
    used = {k: v - before.get(k, 0) for k, v in psa.request_counts().items() if v != before.get(k, 0)}
    assert northwind == by_id and northwind.address.country == "Australia"
    assert northwind.address.one_line() == "1 Macquarie Street, 2000 Sydney, NSW, Australia"
    assert used.get("POST Countries/query") == 1 and used["total"] == 4  # by name, by id, country once
    assert used.get("GET ThresholdInformation") == 1  # and the client's first look at the hourly budget


def test_r26_snapshot_respects_the_window_and_kinds(psa: AutotaskPsa) -> None:
    me = psa.me()
    now = datetime.now(UTC)
    narrow = Window(now + timedelta(days=6), now + timedelta(days=8))
    snap = psa.snapshot(narrow, me.id, [PsaKind.APPOINTMENT])
    assert [i.title for i in snap.items if isinstance(i, PsaAppointment)] == ["Quarterly review"]
    assert all(narrow.overlaps(i.start, i.end) for i in snap.items)


def test_b3_markers_match_the_snapshot_with_ids_and_versions_only(psa: AutotaskPsa) -> None:
    me = psa.me()
    snap = psa.snapshot(around_now(), me.id, ALL_KINDS)
    markers = psa.markers(around_now(), me.id, ALL_KINDS)
    expected = {(PsaRef(_kind(i), i.id or 0), version_of(i)) for i in snap.items}
    assert {(m.ref, m.version) for m in markers} == expected
    assert all(m.version for m in markers)


def test_get_each_kind_and_not_found(psa: AutotaskPsa) -> None:
    snap = psa.snapshot(around_now(), psa.me().id, ALL_KINDS)
    for item in snap.items:
        assert psa.get(PsaRef(_kind(item), item.id or 0)) == item
    with pytest.raises(NotFound):
        psa.get(PsaRef(PsaKind.APPOINTMENT, 99_999_999))


def test_r16_create_update_find_and_delete_an_appointment(psa: AutotaskPsa) -> None:
    start = datetime(2031, 5, 6, 8, 30, tzinfo=UTC)
    draft = PsaAppointment(None, "Dentist", start, start + timedelta(hours=1), psa.me().id, "Check-up")
    made = psa.create(draft)
    assert isinstance(made, PsaAppointment) and made.id and made.updated
    assert replace(made, id=None, updated=None) == draft
    assert psa.find_matching(draft) == [made]
    changed = psa.update(replace(made, title="Dentist (moved)", start=start + timedelta(hours=1),
                                 end=start + timedelta(hours=2)))  # fmt: skip
    assert isinstance(changed, PsaAppointment) and changed.title == "Dentist (moved)"
    assert version_of(changed) != version_of(made)
    psa.delete(PsaRef(PsaKind.APPOINTMENT, made.id))
    psa.delete(PsaRef(PsaKind.APPOINTMENT, made.id))  # already gone is fine
    with pytest.raises(NotFound):
        psa.get(PsaRef(PsaKind.APPOINTMENT, made.id))


def test_r14_create_and_update_a_todo(psa: AutotaskPsa) -> None:
    company = psa.company("Contoso Dental")
    contact = psa.contact(next(psa.client.query("Contacts", eq("companyID", company.id)))["id"], company.id)
    start = datetime(2031, 5, 7, 9, tzinfo=UTC)
    draft = PsaToDo(None, company.id, psa.action_type("Phone Call").id, psa.me().id, start, start + timedelta(minutes=30),
                    "Call back", contact_id=contact.id)  # fmt: skip
    made = psa.create(draft)
    assert isinstance(made, PsaToDo) and replace(made, id=None, updated=None) == draft
    changed = psa.update(replace(made, description="Called", action_type_id=psa.action_type("meeting").id))
    assert isinstance(changed, PsaToDo) and changed.description == "Called" and changed.action_type_id == 2
    assert psa.find_matching(draft) == [changed]
    psa.delete(PsaRef(PsaKind.TODO, made.id or 0))
    psa.delete(PsaRef(PsaKind.TODO, made.id or 0))
    assert psa.find_matching(draft) == []


def test_r33_todo_for_a_resource_without_crm_is_refused_and_nothing_is_made(psa_server: Any) -> None:
    nocrm = AutotaskPsa(make_client(psa_server), resource="tech.nocrm@demo.calferry.local")
    company = nocrm.company("Contoso Dental")
    start = datetime(2031, 5, 8, 9, tzinfo=UTC)
    draft = PsaToDo(None, company.id, 3, nocrm.me().id, start, start + timedelta(minutes=30))
    with pytest.raises(PermissionDenied) as caught:
        nocrm.create(draft)
    assert caught.value.side == "psa" and "CRM" in str(caught.value)
    assert nocrm.find_matching(draft) == []
    assert not nocrm.me().crm_access  # learnt from the refusal: Autotask shows no CRM flag


def test_r30_service_call_with_ticket_and_task_is_created_and_deleted_whole(psa: AutotaskPsa) -> None:
    me = psa.me()
    snap = psa.snapshot(around_now(), me.id, [PsaKind.SERVICE_CALL])
    work = next(i for i in snap.items if isinstance(i, PsaServiceCall)).work
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    draft = PsaServiceCall(None, psa.company("fabrikam logistik gmbh").id, start, start + timedelta(hours=2),
                           "Install", work)  # fmt: skip
    made = psa.create(draft)
    assert isinstance(made, PsaServiceCall) and set(made.work) == set(work)
    mine = psa.snapshot(around_now(), me.id, [PsaKind.SERVICE_CALL])
    assert made in mine.items
    psa.delete(PsaRef(PsaKind.SERVICE_CALL, made.id or 0))
    assert psa.find_matching(draft) == []
    assert psa.client.count("ServiceCallTickets", gte("id", 0)) == 3  # only the demo's children remain


def test_r33_service_call_with_a_bad_ticket_leaves_nothing_half_made(psa: AutotaskPsa) -> None:
    before = {
        e: psa.client.count(e, gte("id", 0))
        for e in ("ServiceCalls", "ServiceCallTickets", "ServiceCallTasks")
    }
    task = psa.work("task", next(psa.client.query("Tasks", gte("id", 0)))["title"])
    bogus = ServiceCallWork(WorkKind.TICKET, 99_999_999, "T0", "missing")
    start = datetime(2031, 6, 1, 9, tzinfo=UTC)
    draft = PsaServiceCall(
        None, psa.company("Contoso Dental").id, start, start + timedelta(hours=1), "", (task, bogus)
    )
    with pytest.raises(PsaValidationError):
        psa.create(draft)
    after = {e: psa.client.count(e, gte("id", 0)) for e in before}
    assert after == before


def test_lookups_by_id_and_name_with_close_matches(psa: AutotaskPsa) -> None:
    contoso = psa.company("CONTOSO DENTAL")
    assert psa.company(contoso.id) == contoso and psa.company(str(contoso.id)) == contoso
    with pytest.raises(LookupFailed) as caught:
        psa.company("Contoso Dentl")
    assert "Contoso Dental" in str(caught.value)
    with pytest.raises(LookupFailed):
        psa.company(99_999_999)
    contacts = list(psa.client.query("Contacts", gte("id", 0)))
    first = next(c for c in contacts if c["companyID"] == contoso.id)
    contact = psa.contact(f"{first['firstName']} {first['lastName']}".upper(), contoso.id)
    assert contact.id == first["id"] and psa.contact(first["id"], contoso.id) == contact
    with pytest.raises(LookupFailed, match="another company"):
        psa.contact(first["id"], psa.company("Northwind Traders Pty").id)
    assert psa.action_type("general").id == 3 and psa.action_type(2).name == "Meeting"
    with pytest.raises(LookupFailed) as caught:
        psa.action_type("Phone Cal")
    assert "Phone Call" in str(caught.value)


def test_r30_work_by_number_or_title(psa: AutotaskPsa) -> None:
    ticket = next(psa.client.query("Tickets", gte("id", 0)))
    by_number = psa.work("ticket", ticket["ticketNumber"])
    assert by_number == ServiceCallWork(
        WorkKind.TICKET, ticket["id"], ticket["ticketNumber"], ticket["title"]
    )
    assert psa.work("ticket", ticket["title"]) == by_number
    with pytest.raises(LookupFailed):
        psa.work("task", "no such task at all")


def test_request_counts_and_open_psa_from_settings(psa_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = psa_server.headers
    settings = Settings.from_dict(
        {"psa": {"base_url": psa_server.base_url, "username": headers["UserName"],
                 "integration_code": headers["ApiIntegrationCode"], "resource": NY}}
    )  # fmt: skip
    monkeypatch.setenv("CALFERRY_PSA_SECRET", headers["Secret"])
    gateway = open_psa(settings)
    try:
        assert gateway.me().email == NY
        counts = gateway.request_counts()
        assert counts["POST Resources/query"] == 1 and counts["GET InternalLocations/{id}"] == 1
        assert counts["GET ThresholdInformation"] == 1  # the first request looks at the hourly budget
        assert counts["total"] == 3
    finally:
        gateway.close()


def _kind(item: Any) -> PsaKind:
    if isinstance(item, PsaAppointment):
        return PsaKind.APPOINTMENT
    return PsaKind.TODO if isinstance(item, PsaToDo) else PsaKind.SERVICE_CALL
