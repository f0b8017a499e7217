"""sensors: 1-hour rollups as one row per (device, metric, UTC day) with 24 slots.

A year read at 1-hour resolution scanned 8,760 rollup rows and left PostgreSQL to join and
format each one. Now a day's hours are four 24-element arrays (min, max, sum, count; an
empty hour has null min/max and zero sum/count) in ``domain.sensor_hour_rollups``, like the
minutes of migration 0140: the same read is 366 rows, and a batch of 5,000 one-minute
readings folds into ~4 rows instead of ~84. Each row also keeps its 24 hours as the history
API's JSON text (a generated column), so a year's read joins 366 strings.
``domain.sensor_rollups`` keeps the 1d buckets (ADR 0280). Existing 1-hour buckets are
moved over. Written out in full (no live imports).
"""

import os

from alembic import op

revision = "0150"
down_revision = "0140"
branch_labels = None
depends_on = None

DOMAIN = os.environ.get("DOMAIN_DB_ROLE", "bijmantra_domain")
TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"

# A row's slots as the comma-separated JSON points of the history API (ADR 0280). Declared
# IMMUTABLE so a generated column can use it: its output depends on its arguments only (UTC
# and a fixed pattern; float8 text is the shortest exact form).
POINTS = """
CREATE FUNCTION domain.sensor_points(
    start timestamptz, step interval,
    lo double precision[], hi double precision[], total double precision[], n bigint[]
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT string_agg(
        '{"time":"' || to_char((start + (i - 1) * step) AT TIME ZONE 'UTC',
                               'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')
        || '","min":' || coalesce(lo[i]::text, 'null')
        || ',"max":' || coalesce(hi[i]::text, 'null')
        || ',"mean":' || coalesce((total[i] / nullif(n[i], 0))::text, 'null')
        || ',"count":' || coalesce(n[i], 0) || '}', ',' ORDER BY i)
    FROM generate_subscripts(n, 1) AS i
$$
"""

MOVE_HOURS = """
INSERT INTO domain.sensor_hour_rollups
    (tenant_id, device_id, metric, day, minimum, maximum, total, count)
SELECT d.tenant_id, d.device_id, d.metric, d.day,
       array_agg(r.minimum ORDER BY s.i), array_agg(r.maximum ORDER BY s.i),
       array_agg(coalesce(r.total, 0) ORDER BY s.i), array_agg(coalesce(r.count, 0) ORDER BY s.i)
FROM (
    SELECT DISTINCT tenant_id, device_id, metric, date_trunc('day', bucket, 'UTC') AS day
    FROM domain.sensor_rollups WHERE resolution = '1h'
) d
CROSS JOIN generate_series(0, 23) AS s(i)
LEFT JOIN domain.sensor_rollups r
    ON r.resolution = '1h' AND r.tenant_id = d.tenant_id AND r.device_id = d.device_id
   AND r.metric = d.metric AND r.bucket = d.day + s.i * interval '1 hour'
GROUP BY d.tenant_id, d.device_id, d.metric, d.day
"""

MOVE_BACK = """
INSERT INTO domain.sensor_rollups
    (tenant_id, device_id, metric, resolution, bucket, minimum, maximum, total, count)
SELECT h.tenant_id, h.device_id, h.metric, '1h', h.day + (s.i - 1) * interval '1 hour',
       s.lo, s.hi, s.total, s.n
FROM domain.sensor_hour_rollups h,
     unnest(h.minimum, h.maximum, h.total, h.count) WITH ORDINALITY AS s(lo, hi, total, n, i)
WHERE s.n > 0
"""


def upgrade() -> None:
    statements = [
        POINTS,
        """
        CREATE TABLE domain.sensor_hour_rollups (
            tenant_id uuid NOT NULL,
            device_id text NOT NULL,
            metric text NOT NULL,
            day timestamptz NOT NULL,
            minimum double precision[] NOT NULL CHECK (cardinality(minimum) = 24),
            maximum double precision[] NOT NULL CHECK (cardinality(maximum) = 24),
            total double precision[] NOT NULL CHECK (cardinality(total) = 24),
            count bigint[] NOT NULL CHECK (cardinality(count) = 24),
            points text GENERATED ALWAYS AS (
                domain.sensor_points(day, interval '1 hour', minimum, maximum, total, count)
            ) STORED,
            PRIMARY KEY (tenant_id, device_id, metric, day)
        )
        """,
        "ALTER TABLE domain.sensor_hour_rollups ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE domain.sensor_hour_rollups FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON domain.sensor_hour_rollups TO {DOMAIN} "
        f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})",
        f"GRANT SELECT, INSERT, UPDATE ON domain.sensor_hour_rollups TO {DOMAIN}",
        MOVE_HOURS,
        "DELETE FROM domain.sensor_rollups WHERE resolution = '1h'",
        "ALTER TABLE domain.sensor_rollups DROP CONSTRAINT sensor_rollups_resolution_check",
        "ALTER TABLE domain.sensor_rollups ADD CONSTRAINT sensor_rollups_resolution_check "
        "CHECK (resolution = '1d')",
    ]
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    op.execute("ALTER TABLE domain.sensor_rollups DROP CONSTRAINT sensor_rollups_resolution_check")
    op.execute(
        "ALTER TABLE domain.sensor_rollups ADD CONSTRAINT sensor_rollups_resolution_check "
        "CHECK (resolution IN ('1h', '1d'))"
    )
    op.execute(MOVE_BACK)
    op.execute("DROP TABLE domain.sensor_hour_rollups")
    op.execute("DROP FUNCTION domain.sensor_points")
