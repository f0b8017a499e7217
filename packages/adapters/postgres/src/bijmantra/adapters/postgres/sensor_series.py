"""A history series as JSON bytes, from the rows of slot arrays that hold the rollups.

A row covers one period (an hour of 60 minutes, a day of 24 hours, or one day) with four
arrays: min, max, sum and count per slot (null min/max and count 0 where nothing arrived).
A row wholly inside the window arrives as its points' JSON text, written by PostgreSQL
(``domain.sensor_points``; for hours it is stored with the row), so a year at 1 h joins 366
strings. Only the window's two edge rows, and periods with no row at all, are written here
point by point (ADR 0280).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bijmantra.domain.sensors import Resolution, Window, bucket_start

# The period one stored row covers, per resolution asked for.
ROW_PERIOD = {
    Resolution.MINUTE: Resolution.HOUR,
    Resolution.HOUR: Resolution.DAY,
    Resolution.DAY: Resolution.DAY,
}


def first_row(window: Window) -> datetime:
    """The start of the row holding the window's first bucket."""
    return bucket_start(window.start, ROW_PERIOD[window.resolution])


def points_json(window: Window, rows: Sequence[Sequence[Any]]) -> bytes:
    """Every bucket starting in ``[window.start, window.end)``, in order, as
    ``{time, min, max, mean, count}``; a bucket without readings is a gap (nulls, count 0).

    ``rows``: (period start, its points' JSON text or None, then for an edge row the
    minimums, maximums, sums and counts), in any order."""
    step = window.resolution.step
    period = ROW_PERIOD[window.resolution].step
    slots = period // step
    found = {row[0]: row for row in rows}
    out: list[str] = []
    start = first_row(window)
    while start < window.end:
        row = found.get(start)
        if row is not None and row[1] is not None:
            out.append(row[1])
        else:
            arrays = row[2:] if row is not None and row[5] is not None else None
            for i in range(slots):
                at = start + i * step
                if window.start <= at < window.end:
                    out.append(_point(at, arrays, i))
        start += period
    return ("[" + ",".join(out) + "]").encode()


def _point(at: datetime, arrays: Sequence[Any] | None, slot: int) -> str:
    n = arrays[3][slot] if arrays is not None else 0
    if arrays is None or not n:
        return f'{{"time":"{at.isoformat()}","min":null,"max":null,"mean":null,"count":0}}'
    lo, hi, total = arrays[0][slot], arrays[1][slot], arrays[2][slot]
    return (
        f'{{"time":"{at.isoformat()}","min":{lo!r},"max":{hi!r},"mean":{total / n!r},"count":{n}}}'
    )
