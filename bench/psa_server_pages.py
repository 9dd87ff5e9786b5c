"""Page through 100,000 appointments on ``calferry psa serve`` (in-process, real HTTP on loopback).

Prints the seed time, pages per second, items per second and the request counts per endpoint.
Usage: ``.venv/bin/python bench/psa_server_pages.py [--n 100000] [--db URL]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime

import httpx
from psa_bench_server import resource_id, serving

from calferry.psa.server.app import create_app
from calferry.psa.server.seed import bulk_appointments
from calferry.psa.server.state import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: a temp SQLite file)")
    args = parser.parse_args()
    settings = Settings(db_url=args.db or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3", seed="demo")
    app = create_app(settings)
    state = app.state.psa
    resource = resource_id(state.engine)
    began = time.perf_counter()
    bulk_appointments(state.engine, args.n, resource, datetime(2030, 1, 1, tzinfo=UTC), step_minutes=30)
    print(
        f"seeded {args.n:,} appointments in {time.perf_counter() - began:.2f} s ({settings.db_url.split(':')[0]})"
    )

    with serving(app) as url:
        _run(url, settings, resource)


def _run(url: str, settings: Settings, resource: int) -> None:
    headers = {"ApiIntegrationCode": settings.integration_code, "UserName": settings.username,
               "Secret": settings.secret}  # fmt: skip
    body = {"filter": [{"op": "eq", "field": "resourceID", "value": resource},
                       {"op": "gte", "field": "startDateTime", "value": "2030-01-01T00:00:00Z"}]}  # fmt: skip
    counts: Counter[str] = Counter()
    with httpx.Client(headers=headers, timeout=60) as client:
        began = time.perf_counter()
        answer = client.post(f"{url}Appointments/query", json=body).json()
        first_page = time.perf_counter() - began
        counts["POST Appointments/query"] += 1
        items = len(answer["items"])
        pages = 1
        while answer["pageDetails"]["nextPageUrl"]:
            answer = client.post(answer["pageDetails"]["nextPageUrl"], json=body).json()
            counts["POST Appointments/query/next"] += 1
            items += len(answer["items"])
            pages += 1
        elapsed = time.perf_counter() - began
        window = {"filter": [{"op": "eq", "field": "resourceID", "value": resource},
                             {"op": "lt", "field": "startDateTime", "value": "2030-06-01T00:00:00Z"},
                             {"op": "gt", "field": "endDateTime", "value": "2030-05-01T00:00:00Z"}]}  # fmt: skip
        began = time.perf_counter()
        window_items = len(client.post(f"{url}Appointments/query", json=window).json()["items"])
        window_time = time.perf_counter() - began
        counts["POST Appointments/query"] += 1
        threshold = client.get(f"{url}ThresholdInformation").json()
        counts["GET ThresholdInformation"] += 1
    print(f"first page of 500: {first_page * 1000:.0f} ms")
    print(f"paged {items:,} items in {pages} pages: {elapsed:.2f} s = {pages / elapsed:.1f} pages/s, "
          f"{items / elapsed:,.0f} items/s")  # fmt: skip
    print(f"window query (one month, {window_items} items): {window_time * 1000:.0f} ms")
    print(f"requests: {sum(counts.values())} " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    print(f"server-side count (ThresholdInformation): {threshold['currentTimeframeRequestCount']}")


if __name__ == "__main__":
    main()
