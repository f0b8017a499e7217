"""identity: a sign-in attempt is counted before its password is checked.

Revision ID: 0243
Revises: 0242
Create Date: 2026-12-07

The back-off was read before the password check and counted after it, so guesses sent at
once were all checked (ADR 0339). An attempt now locks its rows, reads the wait and counts
itself in one transaction; a first attempt inserts its rows at 0 failures to lock them, and a
right password takes the attempt back from the address's count, down to 0.
"""

from alembic import op

revision = "0243"
down_revision = "0242"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE identity.login_failures DROP CONSTRAINT login_failures_failures_check, "
        "ADD CONSTRAINT login_failures_failures_check CHECK (failures >= 0)"
    )


def downgrade() -> None:
    op.execute("DELETE FROM identity.login_failures WHERE failures = 0")
    op.execute(
        "ALTER TABLE identity.login_failures DROP CONSTRAINT login_failures_failures_check, "
        "ADD CONSTRAINT login_failures_failures_check CHECK (failures > 0)"
    )
