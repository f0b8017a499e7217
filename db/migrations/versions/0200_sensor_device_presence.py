"""a device's reported presence on its row; alerts found by rule and device.

Revision ID: 0200
Revises: 0180
Create Date: 2026-12-06

The device document's status is the last presence change the analytics-worker reported
(ADR 0306), kept in ``presence`` (online or offline; NULL before any report). Devices the
worker holds offline now start so.
``OpenAlerts`` looks for an alert of the same rule and device inside the cooldown before it
opens one; the index makes that a probe.
"""

from alembic import op

revision = "0200"
down_revision = "0180"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in (
        "ALTER TABLE domain.sensor_devices "
        "ADD COLUMN presence text CHECK (presence IN ('online', 'offline'))",
        "UPDATE domain.sensor_devices d SET presence = 'offline' FROM analytics.sensor_presence p "
        "WHERE p.tenant_id = d.tenant_id AND p.device_id = d.device_id AND p.offline",
        "CREATE INDEX sensor_alerts_pair_idx ON domain.sensor_alerts "
        "(tenant_id, rule_id, device_id, opened_at)",
    ):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP INDEX domain.sensor_alerts_pair_idx")
    op.execute("ALTER TABLE domain.sensor_devices DROP COLUMN presence")
