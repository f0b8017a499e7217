"""The one statement that stores a batch of readings and folds it into the rollups.

The batch comes as array parameters (``batch``: each reading's metric as its 1-based number
in ``metrics``, its time and its value), read once into a materialized CTE (ADR 0334).

Readings newer than everything the device has stored of the batch's metrics (a device's
usual batch: the device row is locked, so nothing else writes its readings meanwhile) are
a plain ``INSERT``; only the others need ``ON CONFLICT DO NOTHING``'s per-row conflict
probe. The split point is one scalar for the batch, so it costs a comparison per row, not
a join on the metric's text (ADR 0320). Exactly the rows inserted (``RETURNING``) are
folded, so a resent batch changes nothing and the rollups stay an aggregate of the raw
rows (ADR 0207).

The folds run from fine to coarse: the fresh rows are grouped once per minute (``cells``,
the only pass over every row), the hours are grouped from those minutes and the days from
those hours, so each coarser fold reads tens of rows instead of the batch (ADR 0293).
Buckets come from integer arithmetic on the epoch (UTC by construction: no time-zone
lookups per row); readings older than retention are refused, so every epoch is positive.

The organization is read once per statement (``TENANT_ONCE``, an uncorrelated scalar
subquery the planner runs once), not per inserted row; the batch's count is summed from
the minute cells, so the fresh rows pass through one CTE instead of two (ADR 0310).

The minute cells are sorted by their minute (an integer key; a batch with at most one
reading per metric and minute takes its fresh rows as its cells, in the order they come:
ADR 0334) and the slot rows grouped by hashing in that order, so each row's arrays come out
in slot order without the sort on the metric's text that an ``ORDER BY`` inside the
aggregates made PostgreSQL do (a third of the statement). A row is taken as it comes only
when its slots are exactly ``0..n-1``; any other row, however its cells arrived, is
scattered by slot number (ADR 0320).
"""

from __future__ import annotations

from string import Template

import numpy as np

TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"
# The same value as an InitPlan: evaluated once per statement instead of once per row.
TENANT_ONCE = f"(SELECT {TENANT})"

# CTEs folding ``$source`` (metric, $key, slot, lo, hi, total, n: one row per filled slot,
# in slot order) into a table of slot arrays: a row per (metric, $key) holding its
# sub-buckets as four arrays (a row whose slots came as exactly 0..n-1, the usual case, is
# taken as aggregated; any other is scattered onto its slots by number, whatever the order
# of its cells); a stored row and the batch's merge slot by slot (ADR 0208, 0280, 0320).
# Constant SQL.
_SLOT_FOLD = Template("""${name}_rows AS (
    SELECT metric, period, array_agg(slot) AS slots, array_agg(lo) AS lo, array_agg(hi) AS hi,
           array_agg(total) AS total, array_agg(n) AS n
    FROM ${source} GROUP BY metric, period
), ${name} AS (
    INSERT INTO domain.${table} AS r
        (tenant_id, device_id, metric, ${key}, minimum, maximum, total, count)
    SELECT ${tenant}, %(device)s, metric, to_timestamp(period * ${seconds}),
           CASE WHEN slots = ${dense} THEN lo
                ELSE ARRAY(SELECT lo[array_position(slots, i)] FROM ${ordered}) END,
           CASE WHEN slots = ${dense} THEN hi
                ELSE ARRAY(SELECT hi[array_position(slots, i)] FROM ${ordered}) END,
           CASE WHEN slots = ${dense} THEN total
                ELSE ARRAY(SELECT coalesce(total[array_position(slots, i)], 0) FROM ${ordered})
           END,
           CASE WHEN slots = ${dense} THEN n
                ELSE ARRAY(SELECT coalesce(n[array_position(slots, i)], 0) FROM ${ordered}) END
    FROM ${name}_rows ORDER BY metric, period
    ON CONFLICT (tenant_id, device_id, metric, ${key}) DO UPDATE SET
        minimum = ARRAY(SELECT least(a, b) FROM unnest(r.minimum, excluded.minimum) ${pairs}),
        maximum = ARRAY(SELECT greatest(a, b) FROM unnest(r.maximum, excluded.maximum) ${pairs}),
        total = ARRAY(SELECT a + b FROM unnest(r.total, excluded.total) ${pairs}),
        count = ARRAY(SELECT a + b FROM unnest(r.count, excluded.count) ${pairs})
)""")


def _slot_fold(name: str, source: str, table: str, key: str, seconds: int, slots: int) -> str:
    return _SLOT_FOLD.substitute(
        name=name,
        seconds=str(seconds),
        source=source,
        table=table,
        key=key,
        tenant=TENANT_ONCE,
        dense="'{" + ",".join(map(str, range(slots))) + "}'::int[]",
        ordered=f"generate_series(0, {slots - 1}) WITH ORDINALITY AS g(i, o) ORDER BY o",
        pairs="WITH ORDINALITY AS x(a, b, o) ORDER BY o",
    )


# The batch's rows split at the newest reading the device has stored of any of the batch's
# metrics (``%(metrics)s``, every metric the batch holds; one backward index probe per metric
# and partition): a scalar, so the split is a comparison per row, not a join on the metric.
_INSERT = Template("""$name AS (
    INSERT INTO domain.sensor_readings (tenant_id, device_id, metric, at, value)
    SELECT ${tenant}, %(device)s, b.metric, b.at, b.value
    FROM batch b
    WHERE $where$conflict
    RETURNING metric, at, value
)""")

_STORE = Template("""
WITH batch AS MATERIALIZED (
    SELECT (%(metrics)s::text[])[u.number] AS metric, u.at, u.value
    FROM unnest(%(metric_numbers)s, %(times)s, %(values)s) AS u(number, at, value)
), latest AS MATERIALIZED (
    SELECT max((
        SELECT max(r.at) FROM domain.sensor_readings r
        WHERE r.tenant_id = ${tenant} AND r.device_id = %(device)s AND r.metric = m.metric
    )) AS newest
    FROM unnest(%(metrics)s::text[]) AS m(metric)
), ${appended}, ${resent}, fresh AS (
    SELECT metric, at, value FROM appended UNION ALL SELECT metric, at, value FROM resent
), cells AS (
    ${cells}
), minute_cells AS (
    SELECT metric, minute / 60 AS period, (minute %% 60)::int AS slot, lo, hi, total, n
    FROM cells
), hour_cells AS (
    SELECT metric, minute / 1440 AS period, ((minute / 60) %% 24)::int AS slot,
           min(lo) AS lo, max(hi) AS hi, sum(total) AS total, sum(n)::bigint AS n
    FROM cells GROUP BY metric, minute / 60, minute / 1440 ORDER BY minute / 60
), days AS (
    INSERT INTO domain.sensor_rollups AS r
        (tenant_id, device_id, metric, resolution, bucket, minimum, maximum, total, count)
    SELECT ${tenant}, %(device)s, metric, '1d', to_timestamp(period * 86400),
           min(lo), max(hi), sum(total), sum(n)
    FROM hour_cells GROUP BY metric, period ORDER BY metric, period
    ON CONFLICT (tenant_id, device_id, metric, resolution, bucket) DO UPDATE SET
        minimum = least(r.minimum, excluded.minimum),
        maximum = greatest(r.maximum, excluded.maximum),
        total = r.total + excluded.total,
        count = r.count + excluded.count
), ${hours},
${minutes}
SELECT coalesce(sum(n), 0)::bigint FROM cells
""")
_PARTS = dict(
    tenant=TENANT_ONCE,
    appended=_INSERT.substitute(
        name="appended",
        tenant=TENANT_ONCE,
        where="b.at > coalesce((SELECT newest FROM latest), '-infinity')",
        conflict="",
    ),
    resent=_INSERT.substitute(
        name="resent",
        tenant=TENANT_ONCE,
        where="b.at <= (SELECT newest FROM latest)",
        conflict=" ON CONFLICT DO NOTHING",
    ),
    hours=_slot_fold("hours", "hour_cells", "sensor_hour_rollups", "day", 86400, 24),
    minutes=_slot_fold("minutes", "minute_cells", "sensor_minute_rollups", "hour", 3600, 60),
)

# A minute cell per (metric, minute) of the fresh rows, in minute order (the folds' arrays
# then come out in slot order).
_GROUPED_CELLS = """
    SELECT metric COLLATE "C" AS metric, floor(date_part('epoch', at))::bigint / 60 AS minute,
           min(value) AS lo, max(value) AS hi, sum(value) AS total, count(*) AS n
    FROM fresh GROUP BY 1, 2 ORDER BY minute"""
# A batch with at most one reading per metric and minute (a device reporting each minute or
# less often): each fresh row is its own cell, as it comes. Grouping and sorting 5,000 cells
# of one row each was a fifth of the statement; rows still come in the batch's order, and a
# row whose slots do not come as 0..n-1 is scattered by slot number as before (ADR 0334).
_SINGLE_CELLS = """
    SELECT metric COLLATE "C" AS metric, floor(date_part('epoch', at))::bigint / 60 AS minute,
           value AS lo, value AS hi, value AS total, 1::bigint AS n
    FROM fresh"""

STORE = _STORE.substitute(cells=_GROUPED_CELLS, **_PARTS)
STORE_ONE_PER_MINUTE = _STORE.substitute(cells=_SINGLE_CELLS, **_PARTS)


_MINUTE = 60_000_000  # microseconds


def one_per_minute(numbers: np.ndarray, microseconds: np.ndarray) -> bool:
    """Whether no two readings share a metric (its number) and a minute: then the batch can
    be stored by ``STORE_ONE_PER_MINUTE``. A single metric's increasing minutes are checked
    by one comparison of neighbours; anything else is sorted first."""
    minutes = microseconds // _MINUTE
    if len(minutes) < 2:
        return True
    if numbers.min() == numbers.max() and bool(np.all(minutes[1:] > minutes[:-1])):
        return True
    order = np.lexsort((minutes, numbers))
    minutes, numbers = minutes[order], numbers[order]
    repeated = (minutes[1:] == minutes[:-1]) & (numbers[1:] == numbers[:-1])
    return not bool(repeated.any())
