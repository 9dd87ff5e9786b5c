"""The requests-per-hour chart as plain geometry, for a server-rendered SVG (no script, no library).

Pure: the series, the threshold and the zone are arguments. The vertical scale always reaches the
hourly threshold, so a bar's height reads as its share of what Autotask allows; a busy hour is never
drawn taller than the chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from calferry import localtime
from calferry.org.overview import HourCount

__all__ = ["Bar", "Chart", "hourly_chart"]

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 16, 40
LABEL_EVERY = 3
"""Every third hour is labelled under its bar (24 labels would overlap on a phone)."""


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    requests: int
    hour: str  # "14:00", in the admin's zone
    label: bool  # whether the hour is written under the bar


@dataclass(frozen=True)
class Line:
    y: float
    value: float
    name: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: float
    right: float
    bottom: float
    bars: tuple[Bar, ...]
    threshold: Line
    share: Line


def hourly_chart(hours: Sequence[HourCount], threshold: int, capacity: float, zone: str) -> Chart:
    """Bars for ``hours`` (oldest first) under the ``threshold`` line, with calferry's ``capacity`` line."""
    plot = HEIGHT - TOP - BOTTOM
    top_value = max([threshold, capacity, *(h.requests for h in hours)]) * 1.05 or 1.0

    def y_of(value: float) -> float:
        return round(TOP + plot - value / top_value * plot, 2)

    step = (WIDTH - LEFT - RIGHT) / max(1, len(hours))
    bars = []
    for index, hour in enumerate(hours):
        height = hour.requests / top_value * plot
        height = max(height, 1.0) if hour.requests else 0.0  # one request is still seen
        bars.append(
            Bar(
                x=round(LEFT + index * step + step * 0.15, 2), y=round(TOP + plot - height, 2),
                width=round(step * 0.7, 2), height=round(height, 2), requests=hour.requests,
                hour=f"{hour.hour.astimezone(localtime.zone_info(zone)):%H:%M}",
                label=(len(hours) - 1 - index) % LABEL_EVERY == 0,
            )
        )  # fmt: skip
    return Chart(
        WIDTH, HEIGHT, LEFT, WIDTH - RIGHT, TOP + plot, tuple(bars),
        Line(y_of(threshold), threshold, "Autotask's hourly limit"),
        Line(y_of(capacity), capacity, "calferry's share"),
    )  # fmt: skip
