"""Timings and request counts of the engine's Get: 1,000 PSA items into an empty Radicale calendar.

Starts ``calferry psa serve`` in-process on loopback (a temp SQLite file, demo seed) holding N items for
one technician (a third each appointments, to-dos and service calls, one per day) and an embedded
Radicale, then measures:

(a) a bare caldav PUT loop of the same N events into an empty calendar (the floor: Radicale's own cost),
(b) a full Get through ``calferry.service.Service`` into an empty calendar,
(c) a following no-change Get in a fresh Service (as the next ``calferry get`` run would be),

and prints seconds, the ratio (b)/(a), PSA requests per ``VERB Entity`` and CalDAV requests per method.
(b) runs first and (a) PUTs the very events (b) stored, read back from Radicale.

    .venv/bin/python bench/engine_get.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from caldav.collection import Calendar as DavCalendar
from caldav.davclient import DAVClient
from psa_bench_server import resource_id, seed_items, serving

from calferry.config import Settings
from calferry.links import LinkStore
from calferry.personal.caldav import CalDavCalendar
from calferry.personal.radicale import DEFAULT_USER, RadicaleServer, ensure_calendar
from calferry.psa.autotask import AutotaskClient
from calferry.psa.gateway import AutotaskPsa
from calferry.psa.server.app import create_app
from calferry.psa.server.state import Settings as ServerSettings
from calferry.service import Service

START = datetime(2031, 1, 1, tzinfo=UTC)
DAV = Counter[str]()
"""CalDAV requests per HTTP method, of every DAVClient in this process."""


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = ServerSettings(db_url=f"sqlite:///{root / 'psa.sqlite3'}", seed="demo")
        app = create_app(server)
        rid = resource_id(app.state.psa.engine)
        start, thirds = START.replace(tzinfo=None), n // 3
        seed_items(app.state.psa.engine, rid, start, n - 2 * thirds, thirds, thirds)
        radicale = RadicaleServer(root / "radicale").start(quiet=True)
        try:
            with serving(app) as url:
                _measure(root, url, server, radicale, rid, n)
        finally:
            radicale.stop()


def _measure(
    root: Path, url: str, server: ServerSettings, radicale: RadicaleServer, rid: int, n: int
) -> None:
    _count_dav_requests()
    settings = _settings(n)
    store = LinkStore(root / "links.sqlite3")
    get_url = radicale.calendar_url(calendar="get")
    ensure_calendar(get_url)
    full = _run_get("(b) full Get", settings, store, get_url, url, server, rid)
    _run_get("(c) no-change Get", settings, store, get_url, url, server, rid)
    bare = _bare_put_loop(_stored_events(get_url), radicale.calendar_url(calendar="bare"))
    print(f"\nratio (b)/(a): {full / bare:.3f} (target <= 1.15)")
    store.close()


def _run_get(
    label: str, settings: Settings, store: LinkStore, cal_url: str, url: str, server: ServerSettings, rid: int
) -> float:
    """One Get with fresh adapters (a new ``calferry get`` run); the link store is kept between runs."""
    personal = CalDavCalendar(cal_url, username=DEFAULT_USER)
    client = AutotaskClient(
        url, username=server.username, integration_code=server.integration_code, secret=server.secret
    )
    psa = AutotaskPsa(client, resource=rid)
    DAV.clear()
    t0 = time.perf_counter()
    result = Service(settings, personal, psa, store, lambda: START).get()
    elapsed = time.perf_counter() - t0
    print(f"\n{label}: {elapsed:.2f} s, outcomes {result.outcomes() or '{}'}")
    _print_counts("PSA requests", client.stats)
    _print_counts("CalDAV requests", DAV, writes=("PUT", "DELETE", "MKCALENDAR"))
    personal.close()
    psa.close()
    return elapsed


def _bare_put_loop(events: list[tuple[str, str]], cal_url: str) -> float:
    """(a): one PUT per event with the caldav library, nothing else."""
    ensure_calendar(cal_url)
    client = DAVClient(url=cal_url, username=DEFAULT_USER)
    calendar = DavCalendar(client=client, url=cal_url)
    headers = {"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"}
    DAV.clear()
    t0 = time.perf_counter()
    for name, data in events:
        client.put(str(calendar.url.join(name)), data, headers)
    elapsed = time.perf_counter() - t0
    print(f"\n(a) bare caldav PUT loop: {len(events)} events in {elapsed:.2f} s")
    _print_counts("CalDAV requests", DAV, writes=("PUT",))
    client.close()
    return elapsed


def _stored_events(cal_url: str) -> list[tuple[str, str]]:
    """The events (b) stored, as Radicale serves them: (file name, iCalendar text)."""
    client = DAVClient(url=cal_url, username=DEFAULT_USER)
    found = DavCalendar(client=client, url=cal_url).search(event=True)
    events = [(quote(str(o.url).rstrip("/").rsplit("/", 1)[-1]), str(o.data)) for o in found]
    client.close()
    return events


def _print_counts(title: str, counts: Any, writes: tuple[str, ...] = ()) -> None:
    total = sum(v for k, v in counts.items() if k != "total")
    extra = f", {sum(counts.get(w, 0) for w in writes)} writes" if writes else ""
    print(f"  {title}: {total}{extra}")
    for key, count in sorted(counts.items()):
        if key != "total":
            print(f"    {count:5d}  {key}")


def _count_dav_requests() -> None:
    """Count every CalDAV request by method, for the adapter and the bare loop alike."""
    send = DAVClient.request

    def counted(self: DAVClient, url: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        DAV[method] += 1
        return send(self, url, method, *args, **kwargs)

    DAVClient.request = counted  # type: ignore[method-assign]


def _settings(n: int) -> Settings:
    days = n // 3 + 2
    return Settings.from_dict(
        {
            "calendar": {"enabled": True, "get_past_days": 0, "get_future_days": days, "delete_threshold": n},
            "personal": {"backend": "caldav"},
        }
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
