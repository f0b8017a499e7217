"""domain: an organization's analysis jobs of one variant set are found by index (ADR 0353).

Revision ID: 0256
Revises: 0252
Create Date: 2026-12-07

Deleting a variant set asks which analyses still use it (ADR 0345), and the delete itself
has PostgreSQL check the foreign key ``analysis_jobs (tenant_id, variant_set_db_id)``:
without an index both read every row of ``domain.analysis_jobs`` (12 ms and 27 ms at
100,000 jobs, growing with every organization's jobs); with it, a few index pages. A plain
``CREATE INDEX``, not ``CONCURRENTLY``: the table has one row per analysis asked for (the
build took 0.25 s at 100,000 rows), writers of jobs wait for it rather than fail, and a
concurrent build cannot run inside the migration's transaction (see the ADR).
"""

from alembic import op

revision = "0256"
down_revision = "0252"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX analysis_jobs_variant_set "
        "ON domain.analysis_jobs (tenant_id, variant_set_db_id)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX domain.analysis_jobs_variant_set")
