"""the contents of soft-deleted documents are removed: no read reaches them, and they count
against the organization's standing cap of uploads.

Revision ID: 0250
Revises: 0246
Create Date: 2026-12-07

A soft-deleted document keeps its row as history (ADR 0090), and until now its binary content
(an image's file) stayed in ``domain.resource_contents`` too, where no read could reach it
(every read joins the live document). Since ADR 0343 an organization's stored upload bytes
are summed from that table, so such contents would hold room nobody can free. The resource
store now deletes a content with its document; this removes the ones left by earlier deletes.
Forward-only: the removed bytes were unreachable, and a downgrade cannot bring them back.
"""

from alembic import op

revision = "0250"
down_revision = "0246"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM domain.resource_contents c USING domain.resources r "
        "WHERE r.tenant_id = c.tenant_id AND r.entity = c.entity AND r.db_id = c.db_id "
        "AND r.deleted_at IS NOT NULL"
    )


def downgrade() -> None:
    """Nothing to put back: the contents were unreachable."""
