"""analysis results: figures may be pending (data NULL); results are stored uncompressed.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22

A worker stores an analysis's numbers and completes the job first, then renders its figures
(matplotlib: ~0.5 s of CPU for a GRM heatmap in PNG and SVG) and attaches them. Until then
the figure's row exists with ``data`` NULL, so the job's document lists it as pending and
the artifact endpoint waits for it. Only artifacts can be pending.

``data`` is stored ``EXTERNAL`` (out of line, never compressed), like genotype chunks: the
results are a float matrix (.npy), PNGs and JSON, and pglz's attempt to compress a 16 MB
GRM cost 0.5-0.8 s per job for nothing (0.2 s uncompressed). See ADR 0070.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE domain.analysis_results ALTER COLUMN data DROP NOT NULL")
    op.execute("ALTER TABLE domain.analysis_results ALTER COLUMN data SET STORAGE EXTERNAL")
    op.execute(
        "ALTER TABLE domain.analysis_results ADD CONSTRAINT analysis_results_only_figures_pending "
        "CHECK (data IS NOT NULL OR kind = 'artifact')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM domain.analysis_results WHERE data IS NULL")
    op.execute(
        "ALTER TABLE domain.analysis_results DROP CONSTRAINT analysis_results_only_figures_pending"
    )
    op.execute("ALTER TABLE domain.analysis_results ALTER COLUMN data SET NOT NULL")
    op.execute("ALTER TABLE domain.analysis_results ALTER COLUMN data SET STORAGE EXTENDED")
