"""identity: failed sign-in attempts kept in PostgreSQL, not in Redis.

Revision ID: 0242
Revises: 0244
Create Date: 2026-12-07

The back-off of password sign-in (per account and client address, and per address) was
counted in Redis, which runs without persistence: every Redis restart or flush gave an
attacker a fresh set of guesses at every account (ADR 0339). A row per subject, named by a
SHA-256 only (no e-mail address or client address is stored). Not a tenant table: the
account may not exist and the organization is not known before the password is checked.
"""

from alembic import op
from ddl_v1 import SERVICE_ROLES

revision = "0242"
down_revision = "0244"
branch_labels = None
depends_on = None

IDENTITY = SERVICE_ROLES["identity"]


def upgrade() -> None:
    for statement in (
        "CREATE TABLE identity.login_failures ("
        " subject text PRIMARY KEY CHECK (length(subject) <= 80),"
        " failures integer NOT NULL CHECK (failures > 0),"
        " last_failed_at timestamptz NOT NULL)",
        "CREATE INDEX login_failures_age_idx ON identity.login_failures (last_failed_at)",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON identity.login_failures TO {IDENTITY}",
    ):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE identity.login_failures")
