"""writes sent with an Idempotency-Key, recorded in their own transaction.

Revision ID: 0241
Revises: 0190
Create Date: 2026-12-07

domain-api records the gateway's scoped key of a keyed write with the write's commit, so a
retry after an answer lost to a crash is refused rather than run twice (ADR 0336). Rows are
removed two days on by the organization's next keyed write.
"""

import os

from alembic import op

revision = "0241"
down_revision = "0190"
branch_labels = None
depends_on = None

DOMAIN = os.environ.get("DOMAIN_DB_ROLE", "bijmantra_domain")
TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"


def upgrade() -> None:
    for statement in (
        "CREATE TABLE domain.applied_requests ("
        " tenant_id uuid NOT NULL,"
        " request_key text NOT NULL CHECK (length(request_key) <= 200),"
        " applied_at timestamptz NOT NULL DEFAULT now(),"
        " PRIMARY KEY (tenant_id, request_key))",
        "CREATE INDEX applied_requests_age_idx ON domain.applied_requests (tenant_id, applied_at)",
        "ALTER TABLE domain.applied_requests ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE domain.applied_requests FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON domain.applied_requests TO {DOMAIN} "
        f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON domain.applied_requests TO {DOMAIN}",
    ):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE domain.applied_requests")
