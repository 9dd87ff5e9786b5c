"""The admin page's requests chart as geometry: any 24 hours, any zone (DST days included), any load."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from calferry.org.admin.chart import BOTTOM, HEIGHT, TOP, hourly_chart
from calferry.org.overview import HourCount

ZONES = st.sampled_from(["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kathmandu"])
FIRST_HOURS = st.datetimes(datetime(2024, 1, 1), datetime(2030, 12, 31)).map(
    lambda d: d.replace(minute=0, second=0, microsecond=0, tzinfo=UTC)
)
LOADS = st.lists(st.integers(0, 50_000), min_size=24, max_size=24)


def _hours(first: datetime, loads: list[int]) -> list[HourCount]:
    return [HourCount(first + timedelta(hours=n), r) for n, r in enumerate(loads)]


@given(first=FIRST_HOURS, loads=LOADS, zone=ZONES, threshold=st.integers(1, 20_000))
def test_every_bar_stands_on_the_axis_inside_the_chart_and_taller_means_more(
    first: datetime, loads: list[int], zone: str, threshold: int
) -> None:
    chart = hourly_chart(_hours(first, loads), threshold, threshold * 0.25, zone)
    assert len(chart.bars) == 24
    for bar in chart.bars:
        assert bar.y >= TOP and abs(bar.y + bar.height - (HEIGHT - BOTTOM)) < 0.02
        assert (bar.height > 0) == (bar.requests > 0)  # one request is still seen
    by_load = sorted(chart.bars, key=lambda b: b.requests)
    assert all(a.height <= b.height for a, b in itertools.pairwise(by_load))
    assert TOP <= chart.threshold.y <= chart.share.y <= HEIGHT - BOTTOM
    assert [b.x for b in chart.bars] == sorted(b.x for b in chart.bars)


@given(first=FIRST_HOURS, zone=ZONES)
def test_the_hours_are_written_in_the_admins_zone_and_the_newest_is_labelled(
    first: datetime, zone: str
) -> None:
    from zoneinfo import ZoneInfo

    chart = hourly_chart(_hours(first, [1] * 24), 10_000, 2500, zone)
    expected = [f"{(first + timedelta(hours=n)).astimezone(ZoneInfo(zone)):%H:%M}" for n in range(24)]
    assert [b.hour for b in chart.bars] == expected
    assert chart.bars[-1].label and sum(b.label for b in chart.bars) == 8


def test_the_scale_reaches_the_threshold_even_on_a_quiet_day() -> None:
    first = datetime(2026, 3, 29, 0, tzinfo=UTC)  # Europe's spring-forward day
    quiet = hourly_chart(_hours(first, [96] * 24), 10_000, 2500, "Europe/Berlin")
    assert all(b.height < 3 for b in quiet.bars)  # 96 of 10,000 is a sliver, honestly drawn
    busy = hourly_chart(_hours(first, [30_000, *[0] * 23]), 10_000, 2500, "Europe/Berlin")
    assert busy.bars[0].y >= TOP and busy.threshold.y > busy.bars[0].y
    assert [b.hour for b in quiet.bars][:4] == ["01:00", "03:00", "04:00", "05:00"]  # 02:00 never happened
