"""placement: a journal that makes an interrupted erase or import finish or roll back (ADR 0286).

Revision ID: 0161
Revises: 0160
Create Date: 2026-12-06

An erase or import of an organization on a dedicated database commits in two databases. The
control database's ``placement.tenant_operations`` row says one is under way (written and
committed before either database changes, removed in the control database's final
transaction); the dedicated database's own row of the same table records, in the
transaction that erased its rows, how many went. Owner only, like the erasure hatch.
Written out in full (no live imports).
"""

from alembic import op

revision = "0161"
down_revision = "0160"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE placement.tenant_operations (
            organization_id uuid PRIMARY KEY,
            kind text NOT NULL CHECK (kind IN ('import', 'erase')),
            database text NOT NULL CHECK (database ~ '^[a-z][a-z0-9_]{0,62}$'),
            cluster text,
            organization_name text,
            erased_by text,
            archive_sha256 text,
            placed_rows jsonb,
            started_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE FUNCTION placement.operation_key(organization uuid) RETURNS bigint
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
        $$ SELECT hashtextextended('bijmantra.tenant-operation.' || organization::text, 0) $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION placement.operation_key(uuid) FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP FUNCTION placement.operation_key(uuid)")
    op.execute("DROP TABLE placement.tenant_operations")
