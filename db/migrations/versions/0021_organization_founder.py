"""identity: who founded an organization, so the number one user may found can be bounded.

Revision ID: 0021
Revises: 0071
Create Date: 2026-12-06

Issue 17: any user could create organizations without limit. ``created_by`` is the founding
user (NULL for organizations made before this revision or by the operator's seed).
"""

from alembic import op

revision = "0021"
down_revision = "0071"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE identity.organizations ADD COLUMN created_by uuid")
    op.execute(
        "CREATE INDEX organizations_created_by_idx ON identity.organizations (created_by) "
        "WHERE created_by IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX identity.organizations_created_by_idx")
    op.execute("ALTER TABLE identity.organizations DROP COLUMN created_by")
