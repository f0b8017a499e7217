"""identity: organization names are labels, not keys; two organizations may share one.

Revision ID: 0230
Revises: 0210
Create Date: 2026-12-06

The unique constraint made ``POST /api/v1/organizations`` and a rename answer 409 for a
name another organization holds, so any signed-in user could test which names exist
(ADR 0325). An organization is known by its id everywhere; the name is only shown.
"""

from alembic import op

revision = "0230"
down_revision = "0210"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE identity.organizations DROP CONSTRAINT organizations_name_key")


def downgrade() -> None:
    # Fails while two organizations share a name: rename one of them first.
    op.execute(
        "ALTER TABLE identity.organizations ADD CONSTRAINT organizations_name_key UNIQUE (name)"
    )
