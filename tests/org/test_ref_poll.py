"""The poll's references against `calferry psa serve` on PostgreSQL: read once per cycle, only what is
missing or old, so that a technician's run reads nothing of them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from calferry.model import PsaKind
from calferry.org.poll import CentralPoll
from calferry.org.ref_poll import WORK_KEY
from calferry.org.refs import RefCache
from calferry.org.store import OrgStore
from calferry.psa.autotask import AutotaskClient
from calferry.psa.query import ALL, eq
from calferry.psa.server.models import TABLES
from tests.fixtures.psa_server import PsaServer
from tests.org.test_poll import KINDS, _in_window, _window, client, pg_psa

__all__ = ["client", "pg_psa"]  # the fixtures, shared with the poll tests

QUIET = 2 * len(KINDS)


def _asked(client: AutotaskClient, before: dict[str, int]) -> dict[str, int]:
    """Requests per label since ``before`` (the client's stats then)."""
    now = client.stats
    return {k: now[k] - before.get(k, 0) for k in now if k != "total" and now[k] != before.get(k, 0)}


def _row(refs: RefCache, entity: str, psa_id: int) -> dict[str, Any]:
    row = refs.rows(entity, [psa_id]).get(psa_id)
    assert row is not None, f"{entity} {psa_id} is not cached"
    return row


def test_the_first_poll_reads_what_every_to_do_and_service_call_names_once(
    client: AutotaskClient, org_store: OrgStore
) -> None:
    CentralPoll(client, org_store).run(_window(), KINDS)
    refs = RefCache(org_store.engine)
    for todo in _in_window(client, "CompanyToDos"):
        company, contact = int(str(todo["companyID"])), int(str(todo["contactID"]))
        assert (
            _row(refs, "Companies", company)["companyName"] == client.get("Companies", company)["companyName"]
        )
        assert _row(refs, "Contacts", contact)["companyID"] == company
    assert {r["id"] for r in refs.all_rows("ActionTypes")} == {
        r["id"] for r in client.query("ActionTypes", ALL)
    }
    calls = org_store.cached(
        PsaKind.SERVICE_CALL, [int(str(c["id"])) for c in _in_window(client, "ServiceCalls")]
    )
    for call_id, rows in calls.items():
        tickets = [r["ticketID"] for r in client.query("ServiceCallTickets", eq("serviceCallID", call_id))]
        tasks = [r["taskID"] for r in client.query("ServiceCallTasks", eq("serviceCallID", call_id))]
        assert sorted(map(tuple, rows[0].row[WORK_KEY])) == sorted(
            [("ticket", t) for t in tickets] + [("task", t) for t in tasks]
        )
        assert all(_row(refs, "Tickets", t)["id"] == t for t in tickets)
        assert all(_row(refs, "Tasks", t)["id"] == t for t in tasks)


def test_a_changed_to_do_naming_known_records_costs_no_reference_request(
    client: AutotaskClient, org_store: OrgStore
) -> None:
    poll = CentralPoll(client, org_store)
    poll.run(_window(), KINDS)
    todo = _in_window(client, "CompanyToDos")[0]
    client.update(
        "CompanyToDos", {"id": todo["id"], "companyID": todo["companyID"], "activityDescription": "Call back"}
    )
    result = poll.run(_window(), KINDS)
    assert result.changed == {PsaKind.TODO: {todo["id"]}}
    assert result.requests == QUIET


def test_a_record_named_for_the_first_time_is_read_once_for_everyone(
    client: AutotaskClient, org_store: OrgStore
) -> None:
    poll = CentralPoll(client, org_store)
    poll.run(_window(), KINDS)
    todo = _in_window(client, "CompanyToDos")[0]
    refs = RefCache(org_store.engine)
    other = next(
        c for c in client.query("Contacts", eq("companyID", todo["companyID"]))
        if not refs.rows("Contacts", [c["id"]])
    )  # fmt: skip
    client.update(
        "CompanyToDos", {"id": todo["id"], "companyID": todo["companyID"], "contactID": other["id"]}
    )
    before = client.stats
    result = poll.run(_window(), KINDS)
    assert result.requests == QUIET + 1
    assert _asked(client, before)["POST Contacts/query"] == 1
    assert _row(refs, "Contacts", other["id"])["lastName"] == other["lastName"]


def test_records_older_than_a_day_are_read_again_one_query_an_entity(
    pg_psa: PsaServer, client: AutotaskClient, org_store: OrgStore
) -> None:
    poll = CentralPoll(client, org_store)
    poll.run(_window(), KINDS)
    company = int(str(_in_window(client, "CompanyToDos")[0]["companyID"]))
    table = TABLES["Companies"]
    with pg_psa.state.engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == company).values(companyName="Renamed Ltd"))
    with org_store.engine.begin() as conn:
        conn.execute(text("UPDATE psa_refs SET fetched_at = fetched_at - interval '25 hours'"))
    before = client.stats
    result = poll.run(_window(), KINDS)
    read_again = {"Companies", "Countries", "Contacts", "Tickets", "Tasks", "ActionTypes"}
    assert _asked(client, before) == {
        **{"POST Appointments/query": 1, "POST CompanyToDos/query": 1, "POST ServiceCalls/query": 1},
        **{f"POST {e}/query/count": 1 for e in ("Appointments", "CompanyToDos", "ServiceCalls")},
        **{f"POST {e}/query": 1 for e in read_again},
    }
    assert result.requests == QUIET + len(read_again)
    assert _row(RefCache(org_store.engine), "Companies", company)["companyName"] == "Renamed Ltd"
    assert poll.run(_window(), KINDS).requests == QUIET  # read again: fresh for another day
