"""sensor alert watches and device presence move to the analytics-worker's schema.

Revision ID: 0180
Revises: 0170
Create Date: 2026-12-06

The analytics-worker evaluates alert rules and device presence (ADR 0290), so what the
evaluation remembers lives in its schema: ``analytics.sensor_watches`` (per rule and device,
copied from ``domain.sensor_watches``, which is dropped) and ``analytics.sensor_presence``
(per device, seeded from each device's last reading). Both are tenant tables. The one
cross-tenant read, "which watches and devices are due for a check", is made by a NOLOGIN role
the worker may ``SET LOCAL ROLE`` to, reading only the routing columns (as 0071 did for
domain-api).
"""

import os

from alembic import op
from ddl_v1 import SERVICE_ROLES, ensure_role, tenant_table

revision = "0180"
down_revision = "0170"
branch_labels = None
depends_on = None

ANALYTICS = SERVICE_ROLES["analytics"]
SCHEDULER = os.environ.get("SENSOR_SCHEDULER_DB_ROLE", "bijmantra_sensor_scheduler")  # 0071's
CHECKS = os.environ.get("SENSOR_CHECKS_DB_ROLE", "bijmantra_sensor_checks")
OFFLINE_AFTER = "interval '15 minutes'"  # the platform's default (ONLINE_WITHIN)
WATCH_COLUMNS = (
    "tenant_id, rule_id, device_id, breach_since, last_at, last_value, last_fired, "
    "silence_reported_for, due_at"
)
WATCH_TABLE = """
    CREATE TABLE {schema}.sensor_watches (
        tenant_id uuid NOT NULL,
        rule_id text NOT NULL,
        device_id text NOT NULL,
        breach_since timestamptz,
        last_at timestamptz,
        last_value double precision,
        last_fired timestamptz,
        silence_reported_for timestamptz,
        due_at timestamptz,
        PRIMARY KEY (tenant_id, rule_id, device_id)
    )
"""


def run(*statements: str) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    run(
        WATCH_TABLE.format(schema="analytics"),
        "CREATE INDEX sensor_watches_due_idx ON analytics.sensor_watches (due_at) "
        "WHERE due_at IS NOT NULL",
        *tenant_table("analytics", "sensor_watches"),
        """
        CREATE TABLE analytics.sensor_presence (
            tenant_id uuid NOT NULL,
            device_id text NOT NULL,
            last_seen_at timestamptz,
            offline boolean NOT NULL DEFAULT false,
            due_at timestamptz,
            PRIMARY KEY (tenant_id, device_id)
        )
        """,
        "CREATE INDEX sensor_presence_due_idx ON analytics.sensor_presence (due_at) "
        "WHERE due_at IS NOT NULL",
        *tenant_table("analytics", "sensor_presence"),
        f"INSERT INTO analytics.sensor_watches ({WATCH_COLUMNS}) "
        f"SELECT {WATCH_COLUMNS} FROM domain.sensor_watches",
        "INSERT INTO analytics.sensor_presence (tenant_id, device_id, last_seen_at, due_at) "
        f"SELECT tenant_id, device_id, last_seen_at, last_seen_at + {OFFLINE_AFTER} "
        "FROM domain.sensor_devices WHERE last_seen_at IS NOT NULL",
        ensure_role(CHECKS, member_of_service=ANALYTICS),
        f"GRANT USAGE ON SCHEMA analytics TO {CHECKS}",
        f"GRANT SELECT (tenant_id, rule_id, device_id, due_at) ON analytics.sensor_watches "
        f"TO {CHECKS}",
        f"GRANT SELECT (tenant_id, device_id, due_at) ON analytics.sensor_presence TO {CHECKS}",
        f"CREATE POLICY checks_all_tenants ON analytics.sensor_watches FOR SELECT "
        f"TO {CHECKS} USING (true)",
        f"CREATE POLICY checks_all_tenants ON analytics.sensor_presence FOR SELECT "
        f"TO {CHECKS} USING (true)",
        "DROP TABLE domain.sensor_watches",
    )


def downgrade() -> None:
    run(
        WATCH_TABLE.format(schema="domain"),
        "ALTER TABLE domain.sensor_watches ADD FOREIGN KEY (tenant_id, rule_id) "
        "REFERENCES domain.sensor_alert_rules",
        "CREATE INDEX sensor_watches_due_idx ON domain.sensor_watches (due_at) "
        "WHERE due_at IS NOT NULL",
        *tenant_table("domain", "sensor_watches", privileges="SELECT, INSERT, UPDATE"),
        f"GRANT SELECT (tenant_id, rule_id, device_id, due_at) ON domain.sensor_watches "
        f"TO {SCHEDULER}",
        f"CREATE POLICY scheduler_all_tenants ON domain.sensor_watches FOR SELECT "
        f"TO {SCHEDULER} USING (true)",
        f"INSERT INTO domain.sensor_watches ({WATCH_COLUMNS}) "
        f"SELECT {WATCH_COLUMNS} FROM analytics.sensor_watches",
        "DROP TABLE analytics.sensor_watches",
        "DROP TABLE analytics.sensor_presence",
        f"REVOKE USAGE ON SCHEMA analytics FROM {CHECKS}",
    )
