"""why a declared figure will never be attached, kept on its result row.

Revision ID: 0258
Revises: 0259
Create Date: 2026-12-07

A figure the job declared is stored with ``data`` NULL until the worker attaches it. When
the worker cannot (the figure raised while drawing, or the organization's storage cap or
daily quota refused the attach), it says so and ``withheld`` keeps its reason
(``not_drawn``, ``storage_full``, ``quota``): the figure is listed as withheld, not pending
(ADR 0369). A nullable column: no rewrite. Its check is added NOT VALID and left so: every
existing row holds NULL, which passes, and PostgreSQL checks every row written from now;
validating would only scan the whole table under this migration's exclusive lock.
"""

from alembic import op

revision = "0258"
down_revision = "0259"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in (
        "ALTER TABLE domain.analysis_results ADD COLUMN withheld text",
        "ALTER TABLE domain.analysis_results ADD CONSTRAINT analysis_results_withheld_check "
        "CHECK (withheld IN ('not_drawn', 'storage_full', 'quota')) NOT VALID",
    ):
        op.execute(statement)


def downgrade() -> None:
    op.execute("ALTER TABLE domain.analysis_results DROP COLUMN withheld")
