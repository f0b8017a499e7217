"""A batch's rollups computed by NumPy, in the rows the rollup tables keep (ADR 0337).

A batch newer than everything its device has stored of its metrics (a device's usual batch,
ADR 0320) inserts every reading, so its rollups are an aggregate of the batch itself. They
are computed here in a few sorted passes: minute cells, the hour rows of minute slots, the
day rows of hour slots and the day totals. The store statement then only merges them into
the tables; grouping 5,000 rows into minute cells and aggregating those into slot arrays was
about a third of its time in PostgreSQL. Buckets are counted from the Unix epoch in integer
arithmetic, as the statement's own folds count them.

Slot arrays go flat (``slots`` values a row) and with no NULLs, because PostgreSQL finds an
element of an array that has NULLs by walking it from the start: an empty slot carries 0,
and a row says whether all its slots are filled, so the statement turns only a partly
filled row's empty extremes into the NULLs the tables keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from bijmantra.adapters.postgres.binary_arrays import (
    bool_array,
    float8_array,
    int2_array,
    int8_array,
)

_MICROSECONDS_A_MINUTE = 60_000_000
_MINUTES_TO_2000 = 946_684_800 // 60  # PostgreSQL counts times from 2000, buckets from 1970
_BUCKET_BITS = 40  # a metric's number above the bucket in one int64 sort key
# Slots a batch may bring whatever its size (~8 MB in NumPy and on the wire at most).
MAX_SLOTS = 100_000


def _run_heads(keys: np.ndarray) -> np.ndarray:
    """Whether each key starts a run of equal keys (keys sorted)."""
    return np.concatenate(([True], keys[1:] != keys[:-1]))


def _run_starts(keys: np.ndarray) -> np.ndarray:
    """Where each run of equal keys starts (keys sorted)."""
    return np.flatnonzero(_run_heads(keys))


def _parameters(prefix: str, *columns: np.ndarray) -> dict[str, Any]:
    """Rows as the statement's ``{prefix}_*`` array parameters (metric numbers, periods, then
    minimum, maximum, sum and count, a value each or ``slots`` each)."""
    numbers, periods, lo, hi, total, count = columns
    return {
        f"{prefix}_numbers": int2_array(numbers),
        f"{prefix}_periods": int8_array(periods),
        f"{prefix}_lo": float8_array(lo),
        f"{prefix}_hi": float8_array(hi),
        f"{prefix}_total": float8_array(total),
        f"{prefix}_count": int8_array(count),
    }


@dataclass(frozen=True, slots=True)
class SlotRows:
    """Rows of a slot-array rollup table: a row per (metric number, period), each holding
    ``slots`` sub-buckets, flattened row after row."""

    numbers: np.ndarray
    periods: np.ndarray
    whole: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    total: np.ndarray
    count: np.ndarray

    def parameters(self, prefix: str) -> dict[str, Any]:
        return {
            **_parameters(
                prefix, self.numbers, self.periods, self.lo, self.hi, self.total, self.count
            ),
            f"{prefix}_whole": bool_array(self.whole),
        }


@dataclass(frozen=True, slots=True)
class Cells:
    """Aggregates a (metric number, bucket), sorted by both, with no repeated pair."""

    numbers: np.ndarray
    buckets: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    total: np.ndarray
    count: np.ndarray

    def _period_keys(self, slots: int) -> tuple[np.ndarray, np.ndarray]:
        periods = self.buckets // slots
        return periods, (self.numbers.astype(np.int64) << _BUCKET_BITS) | periods

    def rows(self, slots: int) -> int:
        """How many rows of ``slots`` these cells fill (one a metric and period)."""
        return len(_run_starts(self._period_keys(slots)[1]))

    def coarser(self, slots: int) -> tuple[SlotRows, Cells]:
        """The rows holding these cells as slots (``slots`` of them a period), and the cells
        one level up (a period each)."""
        periods, keys = self._period_keys(slots)
        heads = _run_heads(keys)
        starts, row = np.flatnonzero(heads), np.cumsum(heads) - 1
        where = row * slots + self.buckets % slots
        size = len(starts) * slots
        lo, hi, total = np.zeros(size), np.zeros(size), np.zeros(size)
        count = np.zeros(size, np.int64)
        lo[where], hi[where], total[where], count[where] = self.lo, self.hi, self.total, self.count
        rows = SlotRows(
            self.numbers[starts],
            periods[starts],
            np.all(count.reshape(-1, slots) > 0, axis=1, keepdims=False).reshape(-1),
            lo,
            hi,
            total,
            count,
        )
        return rows, Cells(
            self.numbers[starts],
            periods[starts],
            np.minimum.reduceat(self.lo, starts),
            np.maximum.reduceat(self.hi, starts),
            np.add.reduceat(self.total, starts),
            np.add.reduceat(self.count, starts),
        )

    def parameters(self, prefix: str) -> dict[str, Any]:
        return _parameters(
            prefix, self.numbers, self.buckets, self.lo, self.hi, self.total, self.count
        )


def minute_cells(numbers: np.ndarray, microseconds: np.ndarray, values: np.ndarray) -> Cells:
    """The readings (metric number, microseconds since 2000, value; no repeated metric and
    time) aggregated per metric and minute."""
    minutes = microseconds // _MICROSECONDS_A_MINUTE + _MINUTES_TO_2000
    keys = (numbers.astype(np.int64) << _BUCKET_BITS) | minutes
    order = np.argsort(keys, kind="stable")
    keys, ordered = keys[order], values[order]
    starts = _run_starts(keys)
    return Cells(
        (keys[starts] >> _BUCKET_BITS).astype(np.int16),
        keys[starts] & ((1 << _BUCKET_BITS) - 1),
        np.minimum.reduceat(ordered, starts),
        np.maximum.reduceat(ordered, starts),
        np.add.reduceat(ordered, starts),
        np.diff(np.append(starts, len(keys))),
    )


def folded_batch(
    numbers: np.ndarray, microseconds: np.ndarray, values: Any
) -> dict[str, Any] | None:
    """The store statement's parameters for a batch's own rollups: minute rows (``minute_*``,
    60 slots), hour rows (``hour_*``, 24 slots) and day totals (``day_*``).

    ``None`` when the batch is so sparse that its slot rows would outweigh it (readings
    hours or days apart: each would bring a row of 60 and of 24 slots): the statement then
    folds it itself, and the parameters stay within ``max(4 * readings, MAX_SLOTS)``."""
    cells = minute_cells(numbers, microseconds, np.asarray(values, np.float64))
    slots = 60 * cells.rows(60) + 24 * cells.rows(1440)
    if slots > max(4 * len(numbers), MAX_SLOTS):
        return None
    minute_rows, hours = cells.coarser(60)
    hour_rows, days = hours.coarser(24)
    return {
        **minute_rows.parameters("minute"),
        **hour_rows.parameters("hour"),
        **days.parameters("day"),
        "folded": True,
    }


def _nothing_folded() -> dict[str, Any]:
    empty = Cells(*(np.zeros(0, t) for t in (np.int16, np.int64, float, float, float, np.int64)))
    rows = SlotRows(
        *(np.zeros(0, t) for t in (np.int16, np.int64, bool, float, float, float, np.int64))
    )
    return {
        **rows.parameters("minute"),
        **rows.parameters("hour"),
        **empty.parameters("day"),
        "folded": False,
    }


# The parameters of a batch the statement folds itself.
NOTHING_FOLDED = _nothing_folded()
