"""variant sets name the reference set their import created from the file's contigs.

Revision ID: 0170
Revises: 0161
Create Date: 2026-12-06

A genotype import creates a BrAPI reference set (a document) and a reference per contig
(``##contig`` lines or the CHROM values); ``variant_sets.reference_set_db_id`` links the
set to it, so ``/variantsets`` serves ``referenceSetDbId`` (ADR 0273). NULL for sets
imported before.
"""

from alembic import op

revision = "0170"
down_revision = "0161"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE domain.variant_sets ADD COLUMN reference_set_db_id text")


def downgrade() -> None:
    op.execute("ALTER TABLE domain.variant_sets DROP COLUMN reference_set_db_id")
