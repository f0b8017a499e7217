"""analysis results: a symmetric matrix may be stored as its upper triangle.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22

``layout`` says how ``data`` is stored: ``whole`` (as served) or ``upper-triangle`` (an
``.npy`` header followed by the rows ``m[i, i:]``; see ``adapters/postgres/matrices.py``),
which halves the bytes a GRM job writes to WAL and TOAST as it completes. ``served_size`` is
the size of the file the API returns for a packed row. See ADR 0070.
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE domain.analysis_results "
        "ADD COLUMN layout text NOT NULL DEFAULT 'whole' "
        "CHECK (layout IN ('whole', 'upper-triangle')), "
        "ADD COLUMN served_size bigint, "
        "ADD CONSTRAINT analysis_results_packed_size "
        "CHECK ((layout = 'whole') = (served_size IS NULL))"
    )


def downgrade() -> None:
    # Packed rows cannot be expanded in SQL; refuse rather than serve truncated matrices.
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM domain.analysis_results "
        "WHERE layout <> 'whole') THEN RAISE EXCEPTION "
        "'analysis results stored as triangles: expand them before downgrading'; END IF; END $$"
    )
    op.execute(
        "ALTER TABLE domain.analysis_results DROP CONSTRAINT analysis_results_packed_size, "
        "DROP COLUMN served_size, DROP COLUMN layout"
    )
