"""A line chart as SVG coordinates, drawn on the server (``static/sensors.js`` redraws the
same way as live readings arrive): no chart library, nothing fetched from elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 600, 200, 24


@dataclass(frozen=True)
class Polyline:
    points: str  # "x,y x,y …" in a 600 x 200 viewBox
    low: float
    high: float


def polyline(series: Sequence[tuple[int, float]]) -> Polyline:
    """Scale (time, value) pairs to the viewBox: time across, value up, a flat line centred."""
    if not series:
        return Polyline("", 0.0, 0.0)
    times, values = [t for t, _ in series], [v for _, v in series]
    t0, t1 = min(times), max(times)
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 1, high + 1

    def x(t: int) -> float:
        share = 0.5 if t1 == t0 else (t - t0) / (t1 - t0)
        return PAD + share * (WIDTH - 2 * PAD)

    def y(v: float) -> float:
        return HEIGHT - PAD - (v - low) / (high - low) * (HEIGHT - 2 * PAD)

    return Polyline(" ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in series), low, high)
