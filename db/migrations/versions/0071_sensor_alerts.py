"""sensor alerts: rules, per (rule, device) watches, alerts; the silence scheduler's role.

Revision ID: 0071
Revises: 0080
Create Date: 2026-12-06

Rules, watches and alerts are tenant tables like every other (RLS enabled and forced). The
one cross-tenant read, "which watches are due for a no-data check", is made by a NOLOGIN
role that domain-api may ``SET LOCAL ROLE`` to (as the outbox relay does, ADR 0050): it may
read only the routing columns of ``sensor_watches``, through a policy of its own.
"""

import os

from alembic import op

revision = "0071"
down_revision = "0080"
branch_labels = None
depends_on = None

DOMAIN = os.environ.get("DOMAIN_DB_ROLE", "bijmantra_domain")
SCHEDULER = os.environ.get("SENSOR_SCHEDULER_DB_ROLE", "bijmantra_sensor_scheduler")
TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"


def tenant_table(table: str, privileges: str) -> list[str]:
    return [
        f"ALTER TABLE domain.{table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE domain.{table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON domain.{table} TO {DOMAIN} "
        f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})",
        f"GRANT {privileges} ON domain.{table} TO {DOMAIN}",
    ]


def upgrade() -> None:
    statements = [
        """
        CREATE TABLE domain.sensor_alert_rules (
            tenant_id uuid NOT NULL,
            rule_id text NOT NULL,
            name text NOT NULL,
            metric text NOT NULL,
            kind text NOT NULL CHECK (kind IN ('threshold', 'rate_of_change', 'no_data')),
            device_id text,
            profile_id text,
            cooldown_seconds double precision NOT NULL,
            comparison text CHECK (comparison IN ('above', 'below')),
            threshold double precision,
            hold_seconds double precision NOT NULL,
            max_change double precision,
            per_seconds double precision NOT NULL,
            interval_seconds double precision NOT NULL,
            intervals integer NOT NULL,
            PRIMARY KEY (tenant_id, rule_id),
            CHECK ((device_id IS NULL) <> (profile_id IS NULL))
        )
        """,
        "CREATE INDEX sensor_alert_rules_device_idx ON domain.sensor_alert_rules "
        "(tenant_id, device_id)",
        "CREATE INDEX sensor_alert_rules_profile_idx ON domain.sensor_alert_rules "
        "(tenant_id, profile_id)",
        *tenant_table("sensor_alert_rules", "SELECT, INSERT"),
        """
        CREATE TABLE domain.sensor_watches (
            tenant_id uuid NOT NULL,
            rule_id text NOT NULL,
            device_id text NOT NULL,
            breach_since timestamptz,
            last_at timestamptz,
            last_value double precision,
            last_fired timestamptz,
            silence_reported_for timestamptz,
            due_at timestamptz,
            PRIMARY KEY (tenant_id, rule_id, device_id),
            FOREIGN KEY (tenant_id, rule_id) REFERENCES domain.sensor_alert_rules
        )
        """,
        "CREATE INDEX sensor_watches_due_idx ON domain.sensor_watches (due_at) "
        "WHERE due_at IS NOT NULL",
        *tenant_table("sensor_watches", "SELECT, INSERT, UPDATE"),
        """
        CREATE TABLE domain.sensor_alerts (
            tenant_id uuid NOT NULL,
            alert_id text NOT NULL,
            rule_id text NOT NULL,
            device_id text NOT NULL,
            metric text NOT NULL,
            kind text NOT NULL,
            opened_at timestamptz NOT NULL,
            value double precision,
            message text NOT NULL,
            status text NOT NULL CHECK (status IN ('open', 'acknowledged', 'cleared')),
            acknowledged_by text,
            acknowledged_at timestamptz,
            cleared_by text,
            cleared_at timestamptz,
            PRIMARY KEY (tenant_id, alert_id),
            FOREIGN KEY (tenant_id, rule_id) REFERENCES domain.sensor_alert_rules
        )
        """,
        "CREATE INDEX sensor_alerts_status_idx ON domain.sensor_alerts "
        "(tenant_id, status, opened_at DESC)",
        *tenant_table("sensor_alerts", "SELECT, INSERT, UPDATE"),
        "DO $$ BEGIN "
        f"IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{SCHEDULER}') THEN "
        f"CREATE ROLE {SCHEDULER} NOLOGIN NOBYPASSRLS; END IF; END $$;",
        f"GRANT {SCHEDULER} TO {DOMAIN} WITH INHERIT FALSE, SET TRUE",
        f"GRANT USAGE ON SCHEMA domain TO {SCHEDULER}",
        f"GRANT SELECT (tenant_id, rule_id, device_id, due_at) ON domain.sensor_watches "
        f"TO {SCHEDULER}",
        f"CREATE POLICY scheduler_all_tenants ON domain.sensor_watches FOR SELECT "
        f"TO {SCHEDULER} USING (true)",
    ]
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    for table in ("sensor_alerts", "sensor_watches", "sensor_alert_rules"):
        op.execute(f"DROP TABLE domain.{table}")
    op.execute(f"REVOKE USAGE ON SCHEMA domain FROM {SCHEDULER}")
