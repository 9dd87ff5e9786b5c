"""``bench/org_scale.py`` end to end at a tiny size: every part starts, a cycle with a PSA edit, a new
appointment and a deletion runs on a real worker, and the summary line says what it measured."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
SUMMARY = re.compile(
    r"org-bench technicians=3 requests_per_hour=(\d+) change_p95_s=(\d+\.\d\d) delete_p95_s=(\d+\.\d\d) "
    r"duplicates=(\d+)"
)


def test_the_org_bench_runs_tiny_and_ends_with_its_summary_line_and_no_duplicates(
    calferry_home: Path,
) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    run = subprocess.run(
        [sys.executable, "org_scale.py", "--technicians", "3", "--items", "2", "--cycles", "1", "--workers", "1"],
        cwd=ROOT / "bench", env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    found = SUMMARY.fullmatch(run.stdout.strip().splitlines()[-1])
    assert found, run.stdout
    requests, change_p95, delete_p95, duplicates = found.groups()
    assert duplicates == "0"
    assert int(requests) > 0 and float(change_p95) > 0 and float(delete_p95) > 0  # each was measured
    assert "not arrived: 0" in run.stdout  # the edit, the new item and the deletion all reached the calendar
    assert "calendars unlike the PSA: 0" in run.stdout
