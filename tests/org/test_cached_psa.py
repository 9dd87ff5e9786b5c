"""A technician's PSA view from the poll's cache against `calferry psa serve` on PostgreSQL: what the poll
holds costs no request; an item newer than the poll is read from Autotask, never taken for deleted."""

from __future__ import annotations

from datetime import timedelta

from calferry.model import PsaKind, PsaRef, PsaToDo
from calferry.org.cached_psa import CachedPsa
from calferry.org.poll import CentralPoll
from calferry.org.store import OrgStore
from calferry.psa.autotask import AutotaskClient
from calferry.psa.query import parse_utc
from tests.org.test_poll import KINDS, _in_window, _window, client, pg_psa

__all__ = ["client", "pg_psa"]  # the fixtures, shared with the poll tests


def test_an_item_newer_than_the_poll_is_read_from_autotask_and_a_cached_one_costs_nothing(
    client: AutotaskClient, org_store: OrgStore
) -> None:
    CentralPoll(client, org_store).run(_window(), KINDS)
    cached = _in_window(client, "CompanyToDos")[0]
    start = parse_utc(str(cached["startDateTime"])) + timedelta(hours=2)
    new_id = client.create("CompanyToDos", {
        "companyID": cached["companyID"], "actionType": cached["actionType"], "contactID": cached["contactID"],
        "assignedToResourceID": cached["assignedToResourceID"], "activityDescription": "Made after the poll",
        "startDateTime": start, "endDateTime": start + timedelta(minutes=30),
    })  # fmt: skip
    before = client.stats["total"]
    psa = CachedPsa(client, int(str(cached["assignedToResourceID"])), org_store)
    try:
        snapshot = psa.fetch([PsaRef(PsaKind.TODO, int(str(cached["id"]))), PsaRef(PsaKind.TODO, new_id)])
    finally:
        psa.close()
    assert client.stats["total"] - before == 1  # the new to-do only; what it names is cached
    todos = {item.id: item for item in snapshot.items if isinstance(item, PsaToDo)}
    assert todos[new_id].description == "Made after the poll"
    assert set(todos) == {cached["id"], new_id}
    assert cached["companyID"] in snapshot.companies and cached["contactID"] in snapshot.contacts
