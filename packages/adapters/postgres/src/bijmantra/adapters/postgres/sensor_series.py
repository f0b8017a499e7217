"""A history series as JSON bytes, from the rows of slot arrays that hold the rollups.

A row covers one period (an hour of 60 minutes, a day of 24 hours, or one day) with four
arrays: min, max, sum and count per slot (null min/max and count 0 where nothing arrived).
A year at 1 h is 366 rows; the 8,760 points are written as text straight from them, with no
Python object per point and no formatting left to PostgreSQL (ADR 0280).
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

    ``rows``: (period start, minimums, maximums, sums, counts), any order; float text is
    Python's shortest round-trip form, valid JSON for the finite values ingestion admits."""
    step = window.resolution.step
    period = ROW_PERIOD[window.resolution].step
    slots = period // step
    found = {row[0]: row for row in rows}
    out: list[str] = []
    start = first_row(window)
    while start < window.end:
        row = found.get(start)
        for i in range(slots):
            at = start + i * step
            if window.start <= at < window.end:
                out.append(_point(at, row, i))
        start += period
    return ("[" + ",".join(out) + "]").encode()


def _point(at: datetime, row: Sequence[Any] | None, slot: int) -> str:
    n = row[4][slot] if row is not None else 0
    if row is None or not n:
        return f'{{"time":"{at.isoformat()}","min":null,"max":null,"mean":null,"count":0}}'
    lo, hi, total = row[1][slot], row[2][slot], row[3][slot]
    return (
        f'{{"time":"{at.isoformat()}","min":{lo!r},"max":{hi!r},"mean":{total / n!r},"count":{n}}}'
    )
