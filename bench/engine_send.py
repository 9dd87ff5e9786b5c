"""Timings and request counts of the engine's Send: 500 personal items into the PSA.

Starts ``calferry psa serve`` in-process on loopback (a temp SQLite file, demo seed), then measures:

(b) a Send of N new personal items (appointments, one an hour in working hours) through
    ``calferry.service.Service.send``, the path ``calferry send`` takes, with ``AutotaskPsa`` over real
    HTTP; the personal side is the in-memory calendar, so that what is measured is the engine and the PSA;
(a) a bare httpx create loop on the same server: one ``POST Appointments`` per item with the very bodies
    and headers (b) sent, recorded on the wire, nothing else (the floor: the server's own cost);
(c) the same Send again in a fresh Service (the next ``calferry send`` run): nothing changed, so every
    item is skipped after one batched read of the PSA versions.

and prints seconds, items per second, the ratio (b)/(a) and the PSA requests per ``VERB Entity``.

    .venv/bin/python bench/engine_send.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from psa_bench_server import TECH, serving

from calferry.config import Settings
from calferry.links import LinkStore
from calferry.model import PersonalItem
from calferry.personal.memory import MemoryCalendar
from calferry.psa.autotask import AutotaskClient
from calferry.psa.gateway import AutotaskPsa
from calferry.psa.server.app import create_app
from calferry.psa.server.state import Settings as ServerSettings
from calferry.service import Service

START = datetime(2031, 1, 6, 8, tzinfo=UTC)
REPLAYED = frozenset({"apiintegrationcode", "username", "secret", "impersonationresourceid", "content-type"})
"""The headers the bare loop sends: the three credentials, whom the write is for, the body's type."""
Recorded = tuple[str, dict[str, str], bytes]


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = ServerSettings(db_url=f"sqlite:///{root / 'psa.sqlite3'}", seed="demo")
        with serving(create_app(server)) as url:
            _measure(root, url, server, n)


def _measure(root: Path, url: str, server: ServerSettings, n: int) -> None:
    calendar = MemoryCalendar(_items(n))
    refs = [item.ref for item in _items(n)]
    store = LinkStore(root / "links.sqlite3")
    creates: list[Recorded] = []
    full = _run_send("(b) Send", calendar, store, url, server, refs, creates)
    _run_send("(c) no-change Send", calendar, store, url, server, refs, [])
    bare = _bare_create_loop(creates, server)
    print(f"\nratio (b)/(a): {full / bare:.3f}")
    store.close()


def _items(n: int) -> Iterator[PersonalItem]:
    """N appointments, one an hour from 8 to 16 on consecutive days, each with a subject and a place."""
    for k in range(n):
        start = START + timedelta(days=k // 8, hours=k % 8)
        yield PersonalItem(
            f"send-{k:05d}", start, start + timedelta(minutes=45), subject=f"Customer visit {k + 1}",
            description="Bring the replacement parts", location=f"Main Street {k + 1}",
        )  # fmt: skip


def _run_send(
    label: str,
    calendar: MemoryCalendar,
    store: LinkStore,
    url: str,
    server: ServerSettings,
    refs: list[str],
    creates: list[Recorded],
) -> float:
    """One Send with a fresh PSA client (a new ``calferry send`` run); creates go into ``creates``."""
    http = httpx.Client(timeout=30, event_hooks={"request": [lambda request: _record(request, creates)]})
    client = AutotaskClient(
        url,
        username=server.username,
        integration_code=server.integration_code,
        secret=server.secret,
        http=http,
    )
    psa = AutotaskPsa(client, resource=TECH)
    t0 = time.perf_counter()
    result = Service(_settings(), calendar, psa, store, lambda: START).send(refs)
    elapsed = time.perf_counter() - t0
    print(f"\n{label}: {len(refs)} items in {elapsed:.2f} s = {len(refs) / elapsed:.1f} items/s")
    print(f"  outcomes {result.outcomes() or '{}'}")
    _print_counts("PSA requests", client.stats)
    psa.close()
    http.close()
    return elapsed


def _record(request: httpx.Request, creates: list[Recorded]) -> None:
    """A create of an appointment as it went on the wire: URL, the replayed headers, the JSON body."""
    if request.method == "POST" and request.url.path.rstrip("/").endswith("/Appointments"):
        headers = {k: v for k, v in request.headers.items() if k.lower() in REPLAYED}
        creates.append((str(request.url), headers, request.content))


def _bare_create_loop(creates: list[Recorded], server: ServerSettings) -> float:
    """(a): the recorded creates again, one POST each with httpx, answers checked, nothing else."""
    with httpx.Client(timeout=30) as http:
        t0 = time.perf_counter()
        for url, headers, body in creates:
            http.post(url, content=body, headers=headers).raise_for_status()
        elapsed = time.perf_counter() - t0
    rate = len(creates) / elapsed if elapsed else 0.0
    print(f"\n(a) bare httpx create loop: {len(creates)} creates in {elapsed:.2f} s = {rate:.1f} items/s")
    print(f"  requests: {len(creates)} (POST Appointments)")
    return elapsed


def _print_counts(title: str, counts: Any) -> None:
    total = sum(v for k, v in counts.items() if k != "total")
    print(f"  {title}: {total}")
    for key, count in sorted(counts.items()):
        if key != "total":
            print(f"    {count:5d}  {key}")


def _settings() -> Settings:
    return Settings.from_dict({"calendar": {"enabled": True}, "personal": {"backend": "memory"}})


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
