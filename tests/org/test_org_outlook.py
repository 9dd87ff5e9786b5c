"""Outlook and CalDAV technicians in one org, against real parts: PostgreSQL, `psa serve`, Radicale (with
passwords), the Graph and Entra stand-ins, procrastinate workers.

Two Outlook technicians are reached through the org's one Graph app (client credentials) in their own
mailboxes (``users/{mailbox}``), one CalDAV technician with their own user name and the password the
admin's command prints for their e-mail address. A PSA change reaches each in one cycle, reading only
Outlook's delta; a revoked mailbox is that technician's error alone; a mailbox Outlook throttles slows
only itself.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import text

from calferry.model import Window
from calferry.org.cluster import PrivateCluster
from calferry.org.graph_app import SECRET_ENV
from calferry.org.jobs import SYNC, make_app, run_cycle
from calferry.org.store import OrgStore, Technician, libpq_url
from calferry.org.worker import runtime_for
from calferry.personal.caldav import CalDavCalendar
from calferry.personal.radicale import RadicaleServer, bulk_put
from tests.fixtures.entra_standin import EntraStandin
from tests.fixtures.graph_standin import GraphStandin
from tests.fixtures.psa_server import PsaServer, configure_calferry
from tests.graph_standin.entra import DaemonApp
from tests.graph_standin.mailbox import Mailbox, Stats

pytestmark = pytest.mark.postgres
_numbers = itertools.count()
EVERYTHING = Window(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
EMPTY = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nEND:VCALENDAR\r\n"
NY, BERLIN, NOCRM = (f"{name}@demo.calferry.local" for name in ("tech.ny", "tech.berlin", "tech.nocrm"))
CALDAV_USER, CALDAV_PASSWORD = "noah", "pw-of-noah"
RETRY_AFTER = 1.0


@pytest.fixture(scope="module")
def guarded_radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    """A Radicale that checks passwords: only ``noah`` with his own password gets in."""
    from passlib.hash import sha512_crypt

    folder = tmp_path_factory.mktemp("guarded-radicale")
    htpasswd = folder / "users"
    htpasswd.write_text(f"{CALDAV_USER}:{sha512_crypt.hash(CALDAV_PASSWORD)}\n")
    server = RadicaleServer(folder / "storage", htpasswd=htpasswd)
    server.start(quiet=True)
    yield server
    server.stop()


@pytest.fixture
def pg_psa(postgres_cluster: PrivateCluster, psa_server_factory: Callable[..., PsaServer]) -> PsaServer:
    return psa_server_factory(db_url=postgres_cluster.create_database(f"psa_outlook_{next(_numbers)}"))


class Org:
    """The org under test: its store, the technicians by e-mail, their mailboxes and the CalDAV calendar."""

    def __init__(self, store: OrgStore, graph: GraphStandin, entra: EntraStandin, app: DaemonApp) -> None:
        self.store, self.graph, self.entra, self.app = store, graph, entra, app
        self.technicians: dict[str, Technician] = {}
        self.mailboxes: dict[str, Mailbox] = {}
        self.caldav_url = ""

    def row(self, email: str) -> Technician:
        return self.store.technician(self.technicians[email].id)

    def cycle(self, concurrency: int = 1) -> None:
        """A cycle as a worker runs it: the central poll deferring the technicians' jobs, then a worker with
        ``concurrency`` job slots running them until none is left."""
        app = make_app(libpq_url(self.store.engine))
        runtime = runtime_for(self.store)

        def defer(technician: Technician) -> bool:
            key = f"technician:{technician.id}"
            with contextlib.suppress(AlreadyEnqueued):
                app.configure_task(SYNC, queueing_lock=key, lock=key).defer(technician_id=technician.id)
            return True

        with app.open():
            run_cycle(runtime, defer)
        app.run_worker(wait=False, install_signal_handlers=False, listen_notify=False, concurrency=concurrency,
                       additional_context={"calferry": runtime})  # fmt: skip

    def next_cycle_due(self) -> None:
        with self.store.engine.begin() as conn:  # five minutes pass
            conn.execute(text("UPDATE poll_watermarks SET polled_at = polled_at - interval '5 minutes'"))

    def outlook_titles(self, email: str) -> list[str]:
        return sorted(e["subject"] for e in self.mailboxes[email].events.values())

    def caldav_titles(self) -> list[str]:
        cal = CalDavCalendar(self.caldav_url, CALDAV_USER, CALDAV_PASSWORD)
        try:
            return sorted(item.subject for item in cal.snapshot(EVERYTHING).items)
        finally:
            cal.close()


@pytest.fixture
def org(
    pg_psa: PsaServer,
    org_store: OrgStore,
    guarded_radicale: RadicaleServer,
    graph_standin: GraphStandin,
    entra_standin: EntraStandin,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Org:
    configure_calferry(pg_psa, "http://127.0.0.1:1/unused/", "tech.ny", monkeypatch)
    client_id = str(uuid.uuid4())  # each test its own app: the worker's token cache starts empty
    app = entra_standin.entra.apps[client_id] = DaemonApp(client_id, secret="app-secret")
    monkeypatch.setenv(SECRET_ENV, "app-secret")
    passwords = tmp_path / "passwords.py"
    passwords.write_text(f"import sys\nprint({{{NOCRM!r}: {CALDAV_PASSWORD!r}}}[sys.argv[1]])\n")
    for key, value in {
        "graph_tenant": "contoso.onmicrosoft.com",
        "graph_client_id": client_id,
        "graph_login_url": entra_standin.url,
        "graph_url": graph_standin.url,
        "caldav_secret_command": f"{sys.executable} {passwords} {{email}}",
    }.items():
        org_store.set_setting(key, value)
    found = Org(org_store, graph_standin, entra_standin, app)
    with pg_psa.client() as http:
        rows = http.post(
            "Resources/query", json={"filter": [{"op": "gte", "field": "id", "value": 0}]}
        ).json()
    resources = {r["email"]: r["id"] for r in rows["items"]}
    for email in (NY, BERLIN):
        found.mailboxes[email] = graph_standin.add_user(email)
        found.technicians[email] = org_store.add_technician(resources[email], email, "graph", email)
    found.caldav_url = guarded_radicale.calendar_url(CALDAV_USER, f"org-{next(_numbers)}")
    bulk_put(found.caldav_url, EMPTY, CALDAV_USER, CALDAV_PASSWORD)
    found.technicians[NOCRM] = org_store.add_technician(
        resources[NOCRM], NOCRM, "caldav", found.caldav_url, username=CALDAV_USER
    )
    return found


def _rename_training(pg_psa: PsaServer, resource_id: int, title: str) -> None:
    with pg_psa.client() as http:
        mine = http.post("Appointments/query", json={"filter": [{"op": "eq", "field": "resourceID", "value": resource_id},
                                                                 {"op": "eq", "field": "title", "value": "Training"}]})  # fmt: skip
        assert (
            http.patch("Appointments", json={"id": mine.json()["items"][0]["id"], "title": title}).status_code
            == 200
        )


def test_a_psa_change_reaches_two_mailboxes_and_a_caldav_calendar_in_one_cycle_reading_only_the_delta(
    org: Org, pg_psa: PsaServer
) -> None:
    org.cycle()
    for email in (NY, BERLIN, NOCRM):
        assert org.row(email).last_error == ""
    assert "Training" in org.outlook_titles(NY) and "Training" in org.outlook_titles(BERLIN)
    assert "Training" in org.caldav_titles()
    for email in (NY, BERLIN):  # every create carries a transactionId (a repeated POST makes no second item)
        events = org.mailboxes[email].events.values()
        assert events and all(e.get("transactionId") for e in events)

    for email in (NY, BERLIN):
        org.mailboxes[email].stats = Stats()
    for email, title in ((NY, "Training (Nora)"), (BERLIN, "Training (Bernd)"), (NOCRM, "Training (Noah)")):
        _rename_training(pg_psa, org.technicians[email].resource_id, title)
    org.next_cycle_due()
    org.cycle()

    assert "Training (Nora)" in org.outlook_titles(NY) and "Training (Bernd)" not in org.outlook_titles(NY)
    assert "Training (Bernd)" in org.outlook_titles(BERLIN) and "Training (Nora)" not in org.outlook_titles(
        BERLIN
    )
    assert "Training (Noah)" in org.caldav_titles()
    for email in (NY, BERLIN):
        paths = [path for _, path in org.mailboxes[email].stats.requests]
        assert any(
            "calendarView/delta" in p and "%24deltatoken" in p for p in paths
        )  # the last cycle's token
        assert not any("startDateTime" in p for p in paths)  # no listing of the window, no new delta round
        assert all(f"/users/{email}/" in p or p.endswith("/$batch") for p in paths)
    assert len(org.app.app_tokens) == 1  # one token for both mailboxes and both cycles, kept by the worker


def test_a_revoked_mailbox_is_that_technicians_error_while_the_others_sync(org: Org) -> None:
    org.mailboxes[BERLIN].app_access = False  # Berlin left the group the app is limited to
    org.cycle()
    error = org.row(BERLIN).last_error
    assert "ErrorAccessDenied" in error and "group the app is limited to" in error
    assert org.mailboxes[BERLIN].events == {}
    assert org.row(NY).last_error == "" and "Training" in org.outlook_titles(NY)
    assert org.row(NOCRM).last_error == "" and "Training" in org.caldav_titles()

    org.mailboxes[BERLIN].app_access = True  # the admin adds the mailbox back: the next run syncs it
    org.next_cycle_due()
    with org.store.engine.begin() as conn:
        conn.execute(text("UPDATE technicians SET next_run = now() - interval '1 minute'"))
    org.cycle()
    assert org.row(BERLIN).last_error == "" and "Training" in org.outlook_titles(BERLIN)


def test_a_wrong_caldav_password_is_that_technicians_error(org: Org, tmp_path: Path) -> None:
    org.store.set_setting("caldav_secret_command", f"{sys.executable} -c \"print('not-his-pw')\" {{email}}")
    org.cycle()
    error = org.row(NOCRM).last_error
    assert error and "not-his-pw" not in error
    assert org.row(NY).last_error == "" and "Training" in org.outlook_titles(NY)


def test_outlook_throttling_one_mailbox_does_not_delay_the_other_mailboxs_writes(org: Org) -> None:
    ny, berlin = org.mailboxes[NY], org.mailboxes[BERLIN]
    ny.faults.retry_after = str(RETRY_AFTER)

    def ny_throttled() -> bool:
        """Nora's mailbox answers 429 at first and for as long as Bernd's writes are not all in (5 at most)."""
        refused = ny.stats.statuses.count(429)
        return refused == 0 or (len(berlin.events) < 5 and refused < 5)

    ny.faults.throttle_while = ny_throttled
    org.cycle(concurrency=3)

    assert org.row(NY).last_error == "" and org.row(BERLIN).last_error == ""
    assert "Training" in org.outlook_titles(NY) and "Training" in org.outlook_titles(BERLIN)
    ny_answers, berlin_answers = ny.stats.answered, berlin.stats.answered
    first_refusal = min(at for at, status, _, _ in ny_answers if status == 429)
    first_success = min(at for at, status, _, _ in ny_answers if status < 400)
    berlin_writes = [at for at, status, method, _ in berlin_answers if method == "POST" and status < 400]
    assert berlin_writes and first_refusal < max(berlin_writes) < first_success  # written while Nora waited
    refusals = [at for at, status, _, _ in ny_answers if status == 429]
    after = [min(at for at, _, _, _ in ny_answers if at > refused) for refused in refusals]
    assert all(later - refused >= RETRY_AFTER * 0.99 for refused, later in zip(refusals, after, strict=True))
    assert ny.stats.max_in_flight <= 4 and berlin.stats.max_in_flight <= 4
