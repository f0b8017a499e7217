"""The one statement that stores a batch of readings and folds it into the rollups.

The batch comes as array parameters (``batch``: each reading's metric as its 1-based number
in ``metrics``, its time and its value), read once into a materialized CTE (ADR 0334).

Readings newer than everything the device has stored of the batch's metrics (a device's
usual batch: the device row is locked, so nothing else writes its readings meanwhile) are
a plain ``INSERT``; only the others need ``ON CONFLICT DO NOTHING``'s per-row conflict
probe. The split point is one scalar for the batch, so it costs a comparison per row, not
a join on the metric's text (ADR 0320).

When the whole batch is newer (``appended_only``), every reading is inserted and the
batch's rollups, computed by the adapter (``sensor_folds``) and sent as parameters
(``folded``; not for a very sparse batch), are merged into the tables as they are (ADR
0337). Otherwise exactly the rows inserted (the newer ones as read from the batch, the
others by ``RETURNING``) are folded here, so a resent batch changes nothing; either way the
rollups stay an aggregate of the raw rows (ADR 0207). Each path's CTEs are gated by a
one-time filter on that scalar, so PostgreSQL runs only one of them.

The statement's own folds run from fine to coarse: the fresh rows are grouped once per
minute (``cells``, the only pass over every row), the hours are grouped from those minutes
and the days from those hours, so each coarser fold reads tens of rows instead of the batch
(ADR 0293). Buckets come from integer arithmetic on the epoch (UTC by construction: no
time-zone lookups per row); readings older than retention are refused, so every epoch is
positive.

The organization is read once per statement (``TENANT_ONCE``, an uncorrelated scalar
subquery the planner runs once), not per inserted row; the batch's count is summed from
the minute cells, so the fresh rows pass through one CTE instead of two (ADR 0310).

The minute cells are sorted by their minute (an integer key) and the slot rows grouped by
hashing in that order, so each row's arrays come out in slot order without the sort on the
metric's text that an ``ORDER BY`` inside the aggregates made PostgreSQL do (a third of the
statement). A row is taken as it comes only when its slots are exactly ``0..n-1``; any other
row, however its cells arrived, is scattered by slot number (ADR 0320).
"""

from __future__ import annotations

from string import Template

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
    ${merge}
)""")
# A stored slot row and the batch's merge slot by slot (NULL extremes are empty slots).
_MERGE_SLOTS = Template("""ON CONFLICT (tenant_id, device_id, metric, ${key}) DO UPDATE SET
        minimum = ARRAY(SELECT least(a, b) FROM unnest(r.minimum, excluded.minimum) ${pairs}),
        maximum = ARRAY(SELECT greatest(a, b) FROM unnest(r.maximum, excluded.maximum) ${pairs}),
        total = ARRAY(SELECT a + b FROM unnest(r.total, excluded.total) ${pairs}),
        count = ARRAY(SELECT a + b FROM unnest(r.count, excluded.count) ${pairs})""")
_PAIRS = "WITH ORDINALITY AS x(a, b, o) ORDER BY o"

# The adapter's slot rows of an appended batch (``sensor_folds.SlotRows``: ``${prefix}_*``
# parameters, ``${slots}`` values a row, flattened): each row's arrays are slices; a row not
# filled in every slot has its empty extremes made NULL, as the tables keep them.
_GIVEN_SLOTS = Template("""${name} AS (
    INSERT INTO domain.${table} AS r
        (tenant_id, device_id, metric, ${key}, minimum, maximum, total, count)
    SELECT ${tenant}, %(device)s, (%(metrics)s::text[])[g.number],
           to_timestamp(g.period * ${seconds}),
           CASE WHEN g.whole THEN ${lo} ELSE ARRAY(
               SELECT CASE WHEN n > 0 THEN v END
               FROM unnest(${lo}, ${count}) WITH ORDINALITY AS s(v, n, i) ORDER BY i) END,
           CASE WHEN g.whole THEN ${hi} ELSE ARRAY(
               SELECT CASE WHEN n > 0 THEN v END
               FROM unnest(${hi}, ${count}) WITH ORDINALITY AS s(v, n, i) ORDER BY i) END,
           ${total}, ${count}
    FROM unnest(%(${prefix}_numbers)s, %(${prefix}_periods)s, %(${prefix}_whole)s)
         WITH ORDINALITY AS g(number, period, whole, o)
    WHERE (SELECT yes FROM appended_only)
    ${merge}
)""")


def _given_slots(name: str, prefix: str, table: str, key: str, seconds: int, slots: int) -> str:
    def row_of(column: str) -> str:
        return f"%({prefix}_{column})s[g.o * {slots} - {slots - 1} : g.o * {slots}]"

    return _GIVEN_SLOTS.substitute(
        name=name,
        prefix=prefix,
        table=table,
        key=key,
        seconds=str(seconds),
        tenant=TENANT_ONCE,
        lo=row_of("lo"),
        hi=row_of("hi"),
        total=row_of("total"),
        count=row_of("count"),
        merge=_MERGE_SLOTS.substitute(key=key, pairs=_PAIRS),
    )


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
        merge=_MERGE_SLOTS.substitute(key=key, pairs=_PAIRS),
    )


# The batch's rows split at the newest reading the device has stored of any of the batch's
# metrics (``%(metrics)s``, every metric the batch holds; one backward index probe per metric
# and partition): a scalar, so the split is a comparison per row, not a join on the metric.
# Rows newer than all the device stored of the batch's metrics: inserted without a conflict
# probe, and folded as read from the batch (every one is inserted, or the statement fails).
_NEWER = "at > coalesce((SELECT newest FROM latest), '-infinity')"
_INSERT = Template("""$name AS (
    INSERT INTO domain.sensor_readings (tenant_id, device_id, metric, at, value)
    SELECT ${tenant}, %(device)s, b.metric, b.at, b.value
    FROM batch b
    WHERE $where$conflict$returning
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
), appended_only AS MATERIALIZED (
    SELECT %(folded)s AND coalesce((SELECT newest FROM latest) < %(first)s, true) AS yes
), ${appended}, ${resent}, fresh AS (
    SELECT metric, at, value FROM batch WHERE ${newer}
    UNION ALL SELECT metric, at, value FROM resent
), cells AS (
    SELECT metric COLLATE "C" AS metric, floor(date_part('epoch', at))::bigint / 60 AS minute,
           min(value) AS lo, max(value) AS hi, sum(value) AS total, count(*) AS n
    FROM fresh WHERE NOT (SELECT yes FROM appended_only) GROUP BY 1, 2 ORDER BY minute
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
${minutes},
${given_minutes},
${given_hours},
given_days AS (
    INSERT INTO domain.sensor_rollups AS r
        (tenant_id, device_id, metric, resolution, bucket, minimum, maximum, total, count)
    SELECT ${tenant}, %(device)s, (%(metrics)s::text[])[d.number], '1d',
           to_timestamp(d.period * 86400), d.lo, d.hi, d.total, d.n
    FROM unnest(%(day_numbers)s, %(day_periods)s, %(day_lo)s, %(day_hi)s, %(day_total)s,
                %(day_count)s) AS d(number, period, lo, hi, total, n)
    WHERE (SELECT yes FROM appended_only)
    ON CONFLICT (tenant_id, device_id, metric, resolution, bucket) DO UPDATE SET
        minimum = least(r.minimum, excluded.minimum),
        maximum = greatest(r.maximum, excluded.maximum),
        total = r.total + excluded.total,
        count = r.count + excluded.count
)
SELECT CASE WHEN (SELECT yes FROM appended_only) THEN %(count)s::bigint
            ELSE (SELECT coalesce(sum(n), 0)::bigint FROM cells) END
""")
_PARTS = dict(
    tenant=TENANT_ONCE,
    appended=_INSERT.substitute(
        name="appended",
        tenant=TENANT_ONCE,
        where=f"b.{_NEWER}",
        conflict="",
        returning="",
    ),
    resent=_INSERT.substitute(
        name="resent",
        tenant=TENANT_ONCE,
        where="b.at <= (SELECT newest FROM latest)",
        conflict=" ON CONFLICT DO NOTHING",
        returning="\n    RETURNING metric, at, value",
    ),
    newer=_NEWER,
    hours=_slot_fold("hours", "hour_cells", "sensor_hour_rollups", "day", 86400, 24),
    minutes=_slot_fold("minutes", "minute_cells", "sensor_minute_rollups", "hour", 3600, 60),
    given_minutes=_given_slots(
        "given_minutes", "minute", "sensor_minute_rollups", "hour", 3600, 60
    ),
    given_hours=_given_slots("given_hours", "hour", "sensor_hour_rollups", "day", 86400, 24),
)

STORE = _STORE.substitute(**_PARTS)
