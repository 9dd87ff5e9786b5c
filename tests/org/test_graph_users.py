"""The Graph adapter as the org's application: any mailbox as ``users/{mailbox}``, against the stand-ins.

The stand-ins' app-only answers are compared with the documented wire samples (tests/fixtures/graph/
app_only.json), and the adapter's translation of them names what the admin must fix.
"""

from __future__ import annotations

import json
import ssl
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from calferry.errors import NotFound, PermissionDenied
from calferry.model import PersonalItem, Window
from calferry.org.graph_app import SCOPE, AppTokens, GraphApp
from calferry.personal.graph import GraphCalendar
from calferry.personal.graph_http import APP_DENIED_HINT
from tests.fixtures.entra_standin import EntraStandin
from tests.fixtures.graph_standin import GraphStandin
from tests.graph_standin.entra import DaemonApp

SAMPLES = json.loads((Path(__file__).parents[1] / "fixtures" / "graph" / "app_only.json").read_text())
NOON = datetime(2026, 11, 2, 12, tzinfo=UTC)
WINDOW = Window(NOON - timedelta(days=3), NOON + timedelta(days=3))
NORA, BERND = "nora.york@contoso.test", "bernd.lindner@contoso.test"


@pytest.fixture
def app_token(entra_standin: EntraStandin, monkeypatch: pytest.MonkeyPatch) -> AppTokens:
    client_id = str(uuid.uuid4())
    entra_standin.entra.apps[client_id] = DaemonApp(client_id, secret="s")
    monkeypatch.setenv("CALFERRY_GRAPH_CLIENT_SECRET", "s")
    return AppTokens(GraphApp("contoso.test", client_id, login_url=entra_standin.url))


def _calendar(graph_standin: GraphStandin, tokens: AppTokens, mailbox: str) -> GraphCalendar:
    return graph_standin.calendar(token_provider=tokens, mailbox=mailbox)


def _same_error(answer: httpx.Response, sample: dict[str, Any]) -> None:
    """The stand-in's answer has the documented status, code and message (the user's name aside)."""
    assert answer.status_code == sample["status"]
    assert answer.json()["error"]["code"] == sample["body"]["error"]["code"]
    documented = sample["body"]["error"]["message"]
    assert answer.json()["error"]["message"].split("'")[0] == documented.split("'")[0]


def test_the_client_credentials_answer_has_the_documented_shape(
    entra_standin: EntraStandin, app_token: AppTokens
) -> None:
    client_id = next(iter(entra_standin.entra.apps))
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": "s",
        "scope": SCOPE[0],
    }
    url = f"{entra_standin.url}/contoso.test/oauth2/v2.0/token"
    trusted = ssl.create_default_context(cafile=str(entra_standin.ca_file))
    answer = httpx.post(url, data=form, verify=trusted)
    assert answer.status_code == SAMPLES["token_answer"]["status"]
    assert set(answer.json()) == set(SAMPLES["token_answer"]["body"])  # no refresh token, no id token
    refused = httpx.post(url, data={**form, "client_secret": "secret-id"}, verify=trusted)
    sample = SAMPLES["bad_client_secret"]
    assert refused.status_code == sample["status"] and refused.json()["error"] == sample["body"]["error"]
    assert refused.json()["error_codes"] == sample["body"]["error_codes"]


def test_one_app_token_writes_into_two_mailboxes_each_reached_by_address_or_id(
    graph_standin: GraphStandin, app_token: AppTokens
) -> None:
    nora, bernd = graph_standin.add_user(NORA), graph_standin.add_user(BERND)
    item = PersonalItem(uid="", subject="Site visit", start=NOON, end=NOON + timedelta(hours=1))
    for mailbox in (NORA, bernd.user_id):
        calendar = _calendar(graph_standin, app_token, mailbox)
        calendar.create(item)
        calendar.close()
    assert [e["subject"] for e in nora.events.values()] == ["Site visit"]
    assert [e["subject"] for e in bernd.events.values()] == ["Site visit"]
    assert graph_standin.mailbox.events == {}  # nobody's "me"
    listed = _calendar(graph_standin, app_token, BERND.upper()).snapshot(WINDOW)  # addresses ignore case
    assert [i.subject for i in listed.items] == ["Site visit"]
    assert all(f"/users/{NORA}/" in path for _, path in nora.stats.requests)


def test_app_only_refusals_replay_graph_and_name_what_the_admin_must_fix(
    graph_standin: GraphStandin, app_token: AppTokens, entra_standin: EntraStandin
) -> None:
    outside = graph_standin.add_user(NORA)
    outside.app_access = False
    auth = {"Authorization": f"Bearer {app_token()}"}
    base = graph_standin.url
    _same_error(
        httpx.get(f"{base}/users/{NORA}/calendar", headers=auth), SAMPLES["outside_the_allowed_group"]
    )
    _same_error(httpx.get(f"{base}/users/nobody@contoso.com/calendar", headers=auth), SAMPLES["unknown_user"])
    _same_error(httpx.get(f"{base}/me/calendar", headers=auth), SAMPLES["me_without_a_user"])

    with pytest.raises(PermissionDenied) as denied:
        _calendar(graph_standin, app_token, NORA).snapshot(WINDOW)
    assert denied.value.hint == APP_DENIED_HINT
    with pytest.raises(NotFound, match="ErrorInvalidUser"):
        _calendar(graph_standin, app_token, "nobody@contoso.com").snapshot(WINDOW)

    client_id = next(iter(entra_standin.entra.apps))
    entra_standin.entra.apps[client_id].roles = ()  # the permission without admin consent
    unconsented = AppTokens(GraphApp("contoso.test", client_id, login_url=entra_standin.url))
    graph_standin.add_user(BERND)
    answer = httpx.get(f"{base}/users/{BERND}/calendar", headers={"Authorization": f"Bearer {unconsented()}"})
    _same_error(answer, SAMPLES["no_application_permission"])


def test_each_mailbox_has_its_own_gate_of_four_requests(
    graph_standin: GraphStandin, app_token: AppTokens
) -> None:
    """Nora's mailbox holds every request until Bernd's has answered eight: with one gate for both, her
    four requests in flight would keep his out and nothing would move."""
    nora, bernd = graph_standin.add_user(NORA), graph_standin.add_user(BERND)
    nora.faults.hold_until = lambda: len(bernd.stats.answered) >= 8
    calendars = [_calendar(graph_standin, app_token, m) for m in [NORA] * 6 + [BERND] * 4]
    with ThreadPoolExecutor(max_workers=len(calendars)) as pool:
        listings = [pool.submit(c.snapshot, WINDOW) for c in calendars]
        assert all(listing.result().items == () for listing in listings)
    eighth = sorted(at for at, _, _, _ in bernd.stats.answered)[7]
    assert min(at for at, _, _, _ in nora.stats.answered) > eighth  # Bernd went on while Nora waited
    assert nora.stats.max_in_flight == 4 and bernd.stats.max_in_flight <= 4
