"""bulk events: the resources a bulk event is about (audit log); outbox envelopes stored raw.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-22

A bulk event (``<entity>.<verb>.bulk``, ADR 0090) is one audit entry about many resources;
its subject is only the first of them. ``resources`` holds all their ids (NULL for an
ordinary event, whose subject says it), so ``GET /api/v1/activity?resource=`` finds the
entry through any of them (GIN index). Derived from the envelope, like the other query
columns; the hash chain covers the envelope.

Outbox envelopes are no longer compressed (``STORAGE EXTERNAL``): a bulk event's part is
tens to hundreds of kB, and pglz compressing it cost the writing transaction about as much
CPU as parsing it; an outbox row lives only until the relay marks it and the purge runs.
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE domain.outbox ALTER COLUMN envelope SET STORAGE EXTERNAL")
    op.execute("ALTER TABLE domain.audit_log ADD COLUMN resources text[]")
    op.execute(
        "CREATE INDEX audit_log_resources_idx ON domain.audit_log USING gin (resources) "
        "WHERE resources IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX domain.audit_log_resources_idx")
    op.execute("ALTER TABLE domain.audit_log DROP COLUMN resources")
    op.execute("ALTER TABLE domain.outbox ALTER COLUMN envelope SET STORAGE EXTENDED")
