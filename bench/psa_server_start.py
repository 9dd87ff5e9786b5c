"""How long ``calferry psa serve --port 0 --seed demo`` takes to print its URL and to answer a first query.

Starts the real command as a subprocess several times, each with a fresh CALFERRY_HOME (so the demo data
is seeded every time), and prints each run's figures and the best and median.

    .venv/bin/python bench/psa_server_start.py [RUNS]
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import httpx

from calferry.psa.server import DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME

HEADERS = {"ApiIntegrationCode": DEMO_INTEGRATION_CODE, "UserName": DEMO_USERNAME, "Secret": DEMO_SECRET}
COMMAND = [sys.executable, "-c", "from calferry.cli import main; main()", "psa", "serve", "--port", "0"]


def one_run() -> tuple[float, float]:
    """Seconds to the URL line and to the first answered query."""
    with tempfile.TemporaryDirectory() as home:
        began = time.perf_counter()
        proc = subprocess.Popen([*COMMAND, "--seed", "demo"], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "CALFERRY_HOME": home})  # fmt: skip
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            printed = time.perf_counter() - began
            body = {"filter": [{"op": "gte", "field": "id", "value": 0}]}
            httpx.post(f"{url}Appointments/query", json=body, headers=HEADERS, timeout=30).raise_for_status()
            answered = time.perf_counter() - began
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
    return printed, answered


def main(runs: int) -> None:
    figures = [one_run() for _ in range(runs)]
    for n, (printed, answered) in enumerate(figures, 1):
        print(f"run {n}: URL line {printed:.2f} s, first answer {answered:.2f} s")
    for label, values in (("URL line", [f[0] for f in figures]), ("first answer", [f[1] for f in figures])):
        print(f"{label}: best {min(values):.2f} s, median {statistics.median(values):.2f} s (target < 3 s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
