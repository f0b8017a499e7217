"""sensor readings and rollups: the tenant policy reads the organization once per statement.

Revision ID: 0210
Revises: 0200
Create Date: 2026-12-06

The policy's ``current_setting`` call and its uuid cast, written as a scalar sub-select, is
planned as an InitPlan: evaluated once per statement rather than for each of a batch's 5,000
inserted readings and each rollup row it folds (ADR 0311). Same rows admitted, same check.
"""

from alembic import op

revision = "0210"
down_revision = "0200"
branch_labels = None
depends_on = None

TABLES = ("sensor_readings", "sensor_rollups", "sensor_hour_rollups", "sensor_minute_rollups")
PER_ROW = "nullif(current_setting('app.tenant_id', true), '')::uuid"
ONCE = f"(SELECT {PER_ROW})"


def _policies(tenant: str) -> None:
    for table in TABLES:
        op.execute(
            f"ALTER POLICY tenant_isolation ON domain.{table} "
            f"USING (tenant_id = {tenant}) WITH CHECK (tenant_id = {tenant})"
        )


def upgrade() -> None:
    _policies(ONCE)


def downgrade() -> None:
    _policies(PER_ROW)
