"""AutotaskClient against the real ``calferry psa serve`` on loopback: paging, chunking, writes, metadata."""

from __future__ import annotations

import logging
import socket
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine

from calferry.errors import NotFound, PsaAuthError, PsaUnavailable, PsaValidationError
from calferry.psa.autotask import AutotaskClient, RetryPolicy
from calferry.psa.query import and_, eq, gte, in_, not_in, or_
from calferry.psa.server.seed import bulk_appointments

FAST = RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.05)


def make_client(server: Any, **kwargs: Any) -> AutotaskClient:
    """A client with the server's credentials and fast retries."""
    headers = server.headers
    options: dict[str, Any] = {
        "username": headers["UserName"],
        "integration_code": headers["ApiIntegrationCode"],
        "secret": headers["Secret"],
        "retry": FAST,
    }
    return AutotaskClient(server.base_url, **(options | kwargs))


def resource_id(client: AutotaskClient, email_start: str) -> int:
    rows = list(client.query("Resources", eq("userName", f"{email_start}@demo.calferry.local")))
    return int(rows[0]["id"])


def seed_appointments(server: Any, client: AutotaskClient, n: int, who: str = "tech.berlin") -> int:
    """``n`` appointments for one demo technician, inserted straight into the server's database."""
    rid = resource_id(client, who)
    engine = create_engine(server.db_url)
    try:
        bulk_appointments(engine, n, rid, datetime(2030, 1, 1, tzinfo=UTC))
    finally:
        engine.dispose()
    return rid


@pytest.fixture
def client(psa_server: Any) -> Any:
    with make_client(psa_server) as c:
        yield c


def test_b3_1200_appointments_come_back_in_exactly_3_requests(
    psa_server: Any, client: AutotaskClient
) -> None:
    rid = seed_appointments(psa_server, client, 1200)
    before = client.stats
    flt = and_(eq("resourceID", rid), gte("startDateTime", datetime(2030, 1, 1, tzinfo=UTC)))
    rows = list(client.query("Appointments", flt))
    assert len(rows) == 1200
    assert len({r["id"] for r in rows}) == 1200
    after = client.stats
    assert after["POST Appointments/query"] - before.get("POST Appointments/query", 0) == 3
    assert after["total"] - before["total"] == 3


def test_b3_in_list_of_1100_ids_runs_as_3_queries_merged(psa_server: Any, client: AutotaskClient) -> None:
    rid = seed_appointments(psa_server, client, 1100)
    ids = [r["id"] for r in client.query("Appointments", eq("resourceID", rid), ["id"])]
    ids = ids[-1100:]
    before = client.stats.get("POST Appointments/query", 0)
    rows = list(client.query("Appointments", in_("id", ids), ["id", "title"]))
    assert sorted(r["id"] for r in rows) == sorted(ids)
    assert client.stats["POST Appointments/query"] - before == 3


def test_not_in_list_over_500_is_intersected(psa_server: Any, client: AutotaskClient) -> None:
    rid = seed_appointments(psa_server, client, 700)
    ids = [r["id"] for r in client.query("Appointments", eq("resourceID", rid), ["id"])]
    keep = ids[:5]
    rows = list(client.query("Appointments", and_(eq("resourceID", rid), not_in("id", ids[5:])), ["id"]))
    assert sorted(r["id"] for r in rows) == sorted(keep)


def test_count_and_max_records(psa_server: Any, client: AutotaskClient) -> None:
    rid = seed_appointments(psa_server, client, 30)
    assert client.count("Appointments", eq("resourceID", rid)) >= 30
    assert len(list(client.query("Appointments", eq("resourceID", rid), max_records=7))) == 7


def test_or_groups_and_include_fields(psa_server: Any, client: AutotaskClient) -> None:
    flt = or_(
        eq("userName", "tech.ny@demo.calferry.local"), eq("userName", "tech.berlin@demo.calferry.local")
    )
    rows = list(client.query("Resources", flt, ["userName"]))
    assert sorted(r["userName"] for r in rows) == [
        "tech.berlin@demo.calferry.local",
        "tech.ny@demo.calferry.local",
    ]
    assert "firstName" not in rows[0] or rows[0]["firstName"] is None


def test_create_get_patch_delete_appointment(client: AutotaskClient) -> None:
    rid = resource_id(client, "tech.ny")
    start = datetime(2031, 3, 1, 9, tzinfo=UTC)
    new_id = client.create(
        "Appointments",
        {"title": "Dentist", "description": "keep", "startDateTime": start, "endDateTime": start + timedelta(hours=1),
         "resourceID": rid},
    )  # fmt: skip
    row = client.get("Appointments", new_id)
    assert row["title"] == "Dentist" and row["startDateTime"].startswith("2031-03-01T09:00:00")
    client.update("Appointments", {"id": new_id, "title": "Dentist (moved)"})
    row = client.get("Appointments", new_id)
    assert row["title"] == "Dentist (moved)" and row["description"] == "keep"  # PATCH leaves the rest alone
    client.delete("Appointments", new_id)
    with pytest.raises(NotFound) as caught:
        client.get("Appointments", new_id)
    assert caught.value.side == "psa"
    assert client.stats["PATCH Appointments"] == 1 and client.stats["DELETE Appointments/{id}"] == 1


def test_todo_is_written_under_its_company_and_deleted_via_parent_lookup(client: AutotaskClient) -> None:
    rid = resource_id(client, "tech.ny")
    company = next(iter(client.query("Companies", gte("id", 0))))["id"]
    start = datetime(2031, 3, 2, 9, tzinfo=UTC)
    todo = {"companyID": company, "actionType": 3, "assignedToResourceID": rid, "startDateTime": start,
            "endDateTime": start + timedelta(minutes=30), "activityDescription": "Call back"}  # fmt: skip
    new_id = client.create("CompanyToDos", todo)
    assert client.stats["POST Companies/{id}/ToDos"] == 1
    client.update("CompanyToDos", {"id": new_id, "companyID": company, "activityDescription": "Called"})
    assert client.get("CompanyToDos", new_id)["activityDescription"] == "Called"
    client.delete("CompanyToDos", new_id)
    assert client.stats["DELETE Companies/{id}/ToDos/{id}"] == 1
    with pytest.raises(NotFound):
        client.get("CompanyToDos", new_id)


def test_child_entity_without_parent_id_is_refused_before_sending(client: AutotaskClient) -> None:
    with pytest.raises(PsaValidationError, match="companyID"):
        client.create("CompanyToDos", {"actionType": 3})
    assert client.stats["total"] == 0


def test_field_info_gives_lengths_and_required_fields_fetched_once(client: AutotaskClient) -> None:
    fields = client.field_info("Appointments")
    assert fields["title"].length == 256 and fields["title"].required
    assert fields["updatedatetime"].read_only
    client.field_info("Appointments")
    assert client.stats["GET Appointments/entityInformation/fields"] == 1


def test_impersonation_header_makes_the_resource_the_creator(psa_server: Any, client: AutotaskClient) -> None:
    rid = resource_id(client, "tech.berlin")
    start = datetime(2031, 4, 1, 9, tzinfo=UTC)
    with make_client(psa_server, impersonation_resource_id=rid) as acting:
        new_id = acting.create(
            "Appointments",
            {
                "title": "As Bernd",
                "startDateTime": start,
                "endDateTime": start + timedelta(hours=1),
                "resourceID": rid,
            },
        )
    assert client.get("Appointments", new_id)["creatorResourceID"] == rid


def test_zone_lookup_is_cached_under_calferry_home(psa_server: Any, calferry_home: Any) -> None:
    root = psa_server.base_url.rstrip("/").rsplit("/", 1)[0] + "/v1.0/"
    user = psa_server.headers["UserName"]
    credentials = {"username": user, "integration_code": psa_server.headers["ApiIntegrationCode"],
                   "secret": psa_server.headers["Secret"]}  # fmt: skip
    seen: list[str] = []
    with httpx.Client(event_hooks={"request": [lambda request: seen.append(request.url.path)]}) as http:
        zoned = AutotaskClient.from_zone(user, zone_url=root, http=http, **credentials)
        assert zoned.base_url.lower().endswith("/atservicesrest/v1.0/")
        assert zoned.count("ActionTypes", gte("id", 0)) >= 5
        again = AutotaskClient.from_zone(user, zone_url=root, http=http, **credentials)
        assert again.base_url == zoned.base_url
    assert [p for p in seen if p.lower().endswith("zoneinformation")] == [p for p in seen[:1]]
    assert (calferry_home / "psa" / "zone.json").exists()


def test_unknown_zone_user_is_a_clear_auth_error(psa_server: Any) -> None:
    root = psa_server.base_url.rstrip("/").rsplit("/", 1)[0] + "/v1.0/"
    with pytest.raises(PsaAuthError, match="nobody@nowhere"):
        AutotaskClient.from_zone(
            "nobody@nowhere.example", zone_url=root, username="x", integration_code="y", secret="z"
        )


class _FailingZone:
    """A loopback HTTP server answering every request with one status and body: a zone service in trouble."""

    def __init__(self, status: int, body: str) -> None:
        payload = body.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                """Quiet: the failures are the point."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/atservicesrest/v1.0/"

    def __enter__(self) -> _FailingZone:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, '{"errors":["Service Unavailable"]}'),
        (502, ""),
        (504, ""),
        (500, ""),
        (500, "<html>oops</html>"),
    ],
)
def test_zone_lookup_failing_with_5xx_is_unavailable_not_an_unknown_user(status: int, body: str) -> None:
    with _FailingZone(status, body) as zone, pytest.raises(PsaUnavailable) as caught:
        AutotaskClient.from_zone("api@demo.calferry.local", zone_url=zone.url, username="x",
                                 integration_code="y", secret="z")  # fmt: skip
    assert caught.value.status == status
    assert "knows no API user" not in str(caught.value)


def test_zone_lookup_without_a_connection_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(PsaUnavailable, match="did not answer"):
        AutotaskClient.from_zone("api@demo.calferry.local", zone_url=f"http://127.0.0.1:{port}/atservicesrest/v1.0/",
                                 username="x", integration_code="y", secret="z")  # fmt: skip


def test_secret_never_shows_in_repr_errors_or_logs(
    psa_server: Any, client: AutotaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret = psa_server.headers["Secret"]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(NotFound) as caught:
        client.get("Appointments", 987654321)
    assert secret not in repr(client) and secret not in str(vars(client))
    assert secret not in str(caught.value) and secret not in caplog.text


def test_stats_count_per_entity_and_verb(client: AutotaskClient) -> None:
    list(client.query("ActionTypes", gte("id", 0)))
    client.count("ActionTypes", gte("id", 0))
    assert client.stats == {
        "GET ThresholdInformation": 1,  # the first request looks at the hourly budget once
        "POST ActionTypes/query": 1,
        "POST ActionTypes/query/count": 1,
        "total": 3,
    }


def test_raw_wire_uses_post_for_next_page(psa_server: Any, client: AutotaskClient) -> None:
    """What the client relies on: nextPageUrl answers POST (GET there is refused)."""
    seed_appointments(psa_server, client, 501)
    first = httpx.post(
        psa_server.base_url + "Appointments/query",
        headers=psa_server.headers,
        json={"filter": [{"op": "gte", "field": "id", "value": 0}]},
    )
    next_url = first.json()["pageDetails"]["nextPageUrl"]
    assert httpx.get(next_url, headers=psa_server.headers).status_code == 405
