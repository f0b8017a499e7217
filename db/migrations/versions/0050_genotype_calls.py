"""genotype calls: a call payload beside each chunk's dosage codes; per-call-set ploidy.

Revision ID: 0050
Revises: 0015
Create Date: 2026-12-06

``genotype_chunks.calls`` holds the chunk's calls (allele indexes of any ploidy, phase,
DS/GQ/DP; ``bijmantra.genomics.calls``) when the 2-bit dosage codes cannot say them; NULL
means the codes are the calls (diploid, unphased, biallelic), as for every chunk written
before. Already deflated, so TOAST stores it out of line as is. Readers of dosages never
select the column, so their reads are unchanged. ``call_sets.ploidy`` is the largest
number of alleles any of the call set's calls has.
"""

from alembic import op

revision = "0050"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE domain.genotype_chunks ADD COLUMN calls bytea")
    op.execute("ALTER TABLE domain.genotype_chunks ALTER COLUMN calls SET STORAGE EXTERNAL")
    op.execute("ALTER TABLE domain.call_sets ADD COLUMN ploidy smallint NOT NULL DEFAULT 2")
