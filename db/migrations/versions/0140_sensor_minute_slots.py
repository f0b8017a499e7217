"""sensors: 1-minute rollups as one row per (device, metric, hour) with 60 slots.

Revision ID: 0140
Revises: 0110
Create Date: 2026-12-06

A device reporting once a minute made one 1-minute rollup row per reading: folding a batch
of 5,000 readings upserted 5,000 rollup rows, as costly as storing the readings themselves.
Now an hour's minutes are four 60-element arrays (min, max, sum, count; an empty minute has
null min/max and zero sum/count) in ``domain.sensor_minute_rollups``, so the same batch
folds into ~84 rows; ``domain.sensor_rollups`` keeps the 1h and 1d buckets (ADR 0208).
Existing 1-minute buckets are moved over. Written out in full (no live imports).
"""

import os

from alembic import op

revision = "0140"
down_revision = "0110"
branch_labels = None
depends_on = None

DOMAIN = os.environ.get("DOMAIN_DB_ROLE", "bijmantra_domain")
TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"

MOVE_MINUTES = """
INSERT INTO domain.sensor_minute_rollups
    (tenant_id, device_id, metric, hour, minimum, maximum, total, count)
SELECT h.tenant_id, h.device_id, h.metric, h.hour,
       array_agg(r.minimum ORDER BY s.i), array_agg(r.maximum ORDER BY s.i),
       array_agg(coalesce(r.total, 0) ORDER BY s.i), array_agg(coalesce(r.count, 0) ORDER BY s.i)
FROM (
    SELECT DISTINCT tenant_id, device_id, metric, date_trunc('hour', bucket, 'UTC') AS hour
    FROM domain.sensor_rollups WHERE resolution = '1m'
) h
CROSS JOIN generate_series(0, 59) AS s(i)
LEFT JOIN domain.sensor_rollups r
    ON r.resolution = '1m' AND r.tenant_id = h.tenant_id AND r.device_id = h.device_id
   AND r.metric = h.metric AND r.bucket = h.hour + s.i * interval '1 minute'
GROUP BY h.tenant_id, h.device_id, h.metric, h.hour
"""

MOVE_BACK = """
INSERT INTO domain.sensor_rollups
    (tenant_id, device_id, metric, resolution, bucket, minimum, maximum, total, count)
SELECT m.tenant_id, m.device_id, m.metric, '1m', m.hour + (s.i - 1) * interval '1 minute',
       s.lo, s.hi, s.total, s.n
FROM domain.sensor_minute_rollups m,
     unnest(m.minimum, m.maximum, m.total, m.count) WITH ORDINALITY AS s(lo, hi, total, n, i)
WHERE s.n > 0
"""


def upgrade() -> None:
    statements = [
        """
        CREATE TABLE domain.sensor_minute_rollups (
            tenant_id uuid NOT NULL,
            device_id text NOT NULL,
            metric text NOT NULL,
            hour timestamptz NOT NULL,
            minimum double precision[] NOT NULL CHECK (cardinality(minimum) = 60),
            maximum double precision[] NOT NULL CHECK (cardinality(maximum) = 60),
            total double precision[] NOT NULL CHECK (cardinality(total) = 60),
            count bigint[] NOT NULL CHECK (cardinality(count) = 60),
            PRIMARY KEY (tenant_id, device_id, metric, hour)
        )
        """,
        "ALTER TABLE domain.sensor_minute_rollups ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE domain.sensor_minute_rollups FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON domain.sensor_minute_rollups TO {DOMAIN} "
        f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})",
        f"GRANT SELECT, INSERT, UPDATE ON domain.sensor_minute_rollups TO {DOMAIN}",
        MOVE_MINUTES,
        "DELETE FROM domain.sensor_rollups WHERE resolution = '1m'",
        "ALTER TABLE domain.sensor_rollups DROP CONSTRAINT sensor_rollups_resolution_check",
        "ALTER TABLE domain.sensor_rollups ADD CONSTRAINT sensor_rollups_resolution_check "
        "CHECK (resolution IN ('1h', '1d'))",
    ]
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    op.execute("ALTER TABLE domain.sensor_rollups DROP CONSTRAINT sensor_rollups_resolution_check")
    op.execute(
        "ALTER TABLE domain.sensor_rollups ADD CONSTRAINT sensor_rollups_resolution_check "
        "CHECK (resolution IN ('1m', '1h', '1d'))"
    )
    op.execute(MOVE_BACK)
    op.execute("DROP TABLE domain.sensor_minute_rollups")
