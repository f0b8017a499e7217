"""A study's environment from its devices: daily temperature, growing degree days, rainfall."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

DEFAULT_GDD_BASE = 10.0


@dataclass(frozen=True, slots=True)
class DayWeather:
    """One day's temperature (min, max, mean of readings, deg C) and rainfall total (mm)."""

    t_min: float | None
    t_max: float | None
    t_mean: float | None
    rain: float | None


@dataclass(frozen=True, slots=True)
class DayEnvironment:
    day: date
    t_min: float | None
    t_max: float | None
    t_mean: float | None
    gdd: float | None
    cumulative_gdd: float
    rain: float | None
    cumulative_rain: float


def growing_degree_days(t_min: float, t_max: float, base: float) -> float:
    """The averaging method: ``max(0, (Tmax + Tmin) / 2 - base)``."""
    return max(0.0, (t_max + t_min) / 2.0 - base)


def environment(
    days: list[date], weather: Mapping[date, DayWeather], *, gdd_base: float = DEFAULT_GDD_BASE
) -> list[DayEnvironment]:
    """One row per day in order; a day without data adds nothing to the running totals."""
    out: list[DayEnvironment] = []
    total_gdd = total_rain = 0.0
    for day in days:
        w = weather.get(day, DayWeather(None, None, None, None))
        gdd = None
        if w.t_min is not None and w.t_max is not None:
            gdd = growing_degree_days(w.t_min, w.t_max, gdd_base)
            total_gdd += gdd
        if w.rain is not None:
            total_rain += w.rain
        out.append(
            DayEnvironment(day, w.t_min, w.t_max, w.t_mean, gdd, total_gdd, w.rain, total_rain)
        )
    return out
