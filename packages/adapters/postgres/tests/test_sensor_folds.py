"""An appended batch's rollups as the adapter computes them (ADR 0337), against a plain
Python aggregate of the same readings, per metric and minute, hour and day."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
from bijmantra.adapters.postgres.binary_arrays import microseconds_since_2000
from bijmantra.adapters.postgres.sensor_folds import (
    MAX_SLOTS,
    Cells,
    SlotRows,
    folded_batch,
    minute_cells,
)
from hypothesis import given, settings
from hypothesis import strategies as st

START = datetime(2026, 3, 30, 22, 17, tzinfo=UTC)
Aggregate = tuple[float, float, float, int]

readings = st.lists(
    st.tuples(
        st.integers(1, 4),  # the metric's number
        st.one_of(st.integers(0, 3 * 86_400_000_000), st.integers(0, 7_200_000_000)),
        st.floats(-50, 70, allow_nan=False),
    ),
    min_size=1,
    max_size=200,
    unique_by=lambda r: (r[0], r[1]),  # a batch holds a metric's time once
)


def plain(points: list[tuple[int, int, float]], seconds: int) -> dict[tuple[int, int], Aggregate]:
    """(min, max, sum, count) per (metric, bucket of ``seconds`` since 1970)."""
    groups: dict[tuple[int, int], list[float]] = defaultdict(list)
    for number, micros, value in points:
        at = START + timedelta(microseconds=micros)
        groups[number, int(at.timestamp()) // seconds].append(value)
    return {k: (min(v), max(v), math.fsum(v), len(v)) for k, v in groups.items()}


def slots_of(rows: SlotRows, slots: int, per: int) -> dict[tuple[int, int], Aggregate]:
    """The filled slots of ``rows`` as (metric, bucket) aggregates, checking that every row
    says truly whether it is whole and that empty slots hold zeros."""
    found: dict[tuple[int, int], Aggregate] = {}
    for r, (number, period) in enumerate(zip(rows.numbers, rows.periods, strict=True)):
        cut = slice(r * slots, (r + 1) * slots)
        count = rows.count[cut]
        assert bool(rows.whole[r]) == bool((count > 0).all())
        for slot in range(slots):
            if count[slot] == 0:
                assert rows.lo[cut][slot] == rows.hi[cut][slot] == rows.total[cut][slot] == 0
                continue
            found[int(number), int(period) * per + slot] = (
                rows.lo[cut][slot],
                rows.hi[cut][slot],
                rows.total[cut][slot],
                int(count[slot]),
            )
    return found


def cells_of(cells: Cells) -> dict[tuple[int, int], Aggregate]:
    return {
        (int(n), int(b)): (lo, hi, total, int(c))
        for n, b, lo, hi, total, c in zip(
            cells.numbers, cells.buckets, cells.lo, cells.hi, cells.total, cells.count, strict=True
        )
    }


def assert_same(
    got: dict[tuple[int, int], Aggregate], want: dict[tuple[int, int], Aggregate]
) -> None:
    assert got.keys() == want.keys()
    for key, (lo, hi, total, count) in want.items():
        assert (got[key][0], got[key][1], got[key][3]) == (lo, hi, count)
        assert math.isclose(got[key][2], total, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=200, deadline=None)
@given(readings)
def test_minutes_hours_and_days_equal_a_plain_aggregate(
    points: list[tuple[int, int, float]],
) -> None:
    numbers = np.array([p[0] for p in points], np.int16)
    times = [START + timedelta(microseconds=p[1]) for p in points]
    values = np.array([p[2] for p in points])
    minute_rows, hours = minute_cells(numbers, microseconds_since_2000(times), values).coarser(60)
    hour_rows, days = hours.coarser(24)
    assert_same(slots_of(minute_rows, 60, 60), plain(points, 60))
    assert_same(cells_of(hours), plain(points, 3600))
    assert_same(slots_of(hour_rows, 24, 24), plain(points, 3600))
    assert_same(cells_of(days), plain(points, 86_400))
    # rows come sorted by metric and period, each once: the statement merges them in order
    for rows in (minute_rows, hour_rows):
        keys = list(zip(rows.numbers.tolist(), rows.periods.tolist(), strict=True))
        assert keys == sorted(set(keys))


def test_a_batch_too_sparse_for_its_slot_rows_is_left_to_the_statement() -> None:
    """Readings hours apart would each bring a row of 60 minute slots and one of 24 hour
    slots; past ``max(4 * readings, MAX_SLOTS)`` slots the adapter sends none."""

    def batch(count: int, apart: timedelta) -> dict[str, object] | None:
        times = [START + i * apart for i in range(count)]
        return folded_batch(
            np.ones(count, np.int16), microseconds_since_2000(times), np.zeros(count)
        )

    assert batch(10_000, timedelta(minutes=1)) is not None  # 167 hour rows: dense
    assert batch(1_000, timedelta(hours=1)) is not None  # 84,000 slots: within the bound
    sparse = 2 * MAX_SLOTS // 84
    assert batch(sparse, timedelta(hours=1)) is None  # each reading its own rows
