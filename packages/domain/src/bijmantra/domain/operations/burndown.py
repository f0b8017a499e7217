"""The burndown of a season of work: what is left each day, against the ideal line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from bijmantra.domain.operations.model import Season


@dataclass(frozen=True, slots=True)
class PlannedTask:
    estimate_hours: float
    completed_on: date | None  # None while open (a cancelled task is left out by the caller)


@dataclass(frozen=True, slots=True)
class BurndownPoint:
    day: date
    remaining_tasks: int
    remaining_hours: float
    ideal_hours: float
    logged_hours: float  # time entries up to and including the day


def burndown(
    season: Season,
    tasks: Iterable[PlannedTask],
    logged: Iterable[tuple[date, float]],
    *,
    today: date,
) -> list[BurndownPoint]:
    """One point per day of the season up to ``today`` (or its end, whichever is first)."""
    planned = list(tasks)
    entries = sorted(logged)
    total = sum(t.estimate_hours for t in planned)
    days = (season.ends_on - season.starts_on).days
    last = min(season.ends_on, today)
    points: list[BurndownPoint] = []
    logged_total, index = 0.0, 0
    day = season.starts_on
    while day <= last:
        while index < len(entries) and entries[index][0] <= day:
            logged_total += entries[index][1]
            index += 1
        open_tasks = [t for t in planned if t.completed_on is None or t.completed_on > day]
        elapsed = (day - season.starts_on).days
        ideal = total * (1 - elapsed / days) if days else 0.0
        points.append(
            BurndownPoint(
                day=day,
                remaining_tasks=len(open_tasks),
                remaining_hours=round(sum(t.estimate_hours for t in open_tasks), 6),
                ideal_hours=round(ideal, 6),
                logged_hours=round(logged_total, 6),
            )
        )
        day += timedelta(days=1)
    return points


def committed_hours(estimates: Iterable[float]) -> float:
    return round(sum(estimates), 6)
