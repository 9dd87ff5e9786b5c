"""The add-in against real parts: ``create_app`` served over TLS (calferry's own localhost certificate),
the Graph stand-in as the technician's Outlook mailbox, and the demo-seeded ``calferry psa serve``.

Fixtures:

- ``outlook``: an :class:`Outlook` per test: Nora York's calferry (integration on, PSA configured,
  personal calendar = Outlook through the Graph adapter pointed at the stand-in), the add-in paired
  (``outlook.token``), the app on ``https://localhost:<port>`` and a CA-verifying httpx client.
  ``outlook.event(...)``/``outlook.series(...)`` put items into the mailbox and return Graph ids.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from calferry.addin import token
from calferry.config import load_settings
from calferry.model import PsaKind, PsaRef
from calferry.personal.graph import STAMP_PROPERTY
from calferry.psa.gateway import AutotaskPsa
from calferry.service import Service
from calferry.tls import TlsFiles, ensure_local_tls
from calferry.web.app import bind, create_app, make_server
from calferry.wiring import open_service
from tests.browser.conftest import NORA, QUICK_RETRY
from tests.fixtures.graph_standin import GraphStandin
from tests.fixtures.psa_server import PsaServer, configure_calferry
from tests.graph_standin.mailbox import DEFAULT_CALENDAR, to_graph_time


@dataclass
class Outlook:
    """The technician's Outlook mailbox (stand-in), their PSA, and calferry serving the add-in."""

    graph: GraphStandin
    psa_server: PsaServer
    base_url: str
    tls: TlsFiles
    token: str

    def client(self, **headers: str) -> httpx.Client:
        auth = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(
            base_url=self.base_url, verify=ssl.create_default_context(cafile=self.tls.ca_file),
            headers={**auth, **headers}, timeout=60,
        )  # fmt: skip

    def event(self, subject: str, start: datetime, minutes: int = 60, **extra: Any) -> str:
        """A single item in the mailbox, as Outlook keeps it; returns its Graph (REST) id."""
        body = {
            "subject": subject, "body": {"contentType": "text", "content": f"about {subject}"},
            "start": {"dateTime": to_graph_time(start), "timeZone": "UTC"},
            "end": {"dateTime": to_graph_time(start + timedelta(minutes=minutes)), "timeZone": "UTC"},
            **extra,
        }  # fmt: skip
        return str(self.graph.mailbox.create(DEFAULT_CALENDAR, body)["id"])

    def occurrence(self, subject: str, start: datetime, count: int = 3) -> str:
        """A weekly series; returns the Graph id of its first occurrence."""
        master = self.graph.seed_series(subject, start, start + timedelta(hours=1), count)
        return self.graph.mailbox.occurrence_id(master["id"], start)

    def stamp(self, graph_id: str) -> dict[str, Any] | None:
        """calferry's stamp on the stand-in's stored item (None: not stamped)."""
        event = self.graph.mailbox.find(graph_id)
        value = event["_props"].get(STAMP_PROPERTY.lower(), ("", None))[1]
        return json.loads(value) if value else None

    def psa_item(self, kind: PsaKind, psa_id: int) -> Any:
        with open_service(load_settings()) as svc:
            return svc.psa.get(PsaRef(kind, psa_id))

    def action_type_name(self, action_type_id: int) -> str:
        with open_service(load_settings()) as svc:
            return svc.psa.action_type(action_type_id).name

    def psa_rows(self, entity: str) -> list[dict[str, Any]]:
        with self.psa_server.client() as client:
            answer = client.post(
                f"{entity}/query", json={"filter": [{"op": "gte", "field": "id", "value": 0}]}
            )
        answer.raise_for_status()
        rows: list[dict[str, Any]] = answer.json()["items"]
        return rows


def start_tls_app(tls: TlsFiles) -> tuple[uvicorn.Server, threading.Thread, int]:
    """The page's app with the configured service, over HTTPS on a free loopback port."""
    sock = bind("127.0.0.1", 0)
    server = make_server(create_app(_service_factory), tls)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the add-in's app did not start")
        time.sleep(0.01)
    return server, thread, sock.getsockname()[1]


@contextmanager
def _service_factory() -> Iterator[Service]:
    """What ``calferry web`` opens per request, with quick PSA retries (a refused loopback is final)."""
    with open_service(load_settings()) as svc:
        assert isinstance(svc.psa, AutotaskPsa)
        svc.psa.client.retry = QUICK_RETRY
        yield svc


@pytest.fixture
def outlook(
    demo_psa: PsaServer, graph_standin: GraphStandin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Outlook]:
    demo_psa.state.reset()
    configure_calferry(demo_psa, "http://127.0.0.1:9/unused/", NORA, monkeypatch)
    from calferry import config

    config.set_value("personal.backend", "graph")
    # The configured Graph calendar, pointed at the stand-in (a real sign-in cannot happen here).
    monkeypatch.setattr("calferry.wiring.open_calendar", lambda settings: graph_standin.calendar())
    tls = ensure_local_tls(tmp_path / "tls", datetime.now(UTC))
    server, thread, port = start_tls_app(tls)
    try:
        yield Outlook(graph_standin, demo_psa, f"https://localhost:{port}", tls, token.pair())
    finally:
        server.should_exit = True
        thread.join(10)


def monday_at(hour: int, days: int = 0) -> datetime:
    """This week's Monday (plus ``days``) at ``hour`` UTC: inside the Get window."""
    today = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return today - timedelta(days=today.weekday()) + timedelta(days=days)
