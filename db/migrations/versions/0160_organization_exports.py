"""Organization exports requested through the API (ADR 0285): a job row and its archive.

Revision ID: 0160
Revises: 0150
Create Date: 2026-12-06

``domain.organization_exports`` is one export job per row (queued, running, ready, failed,
expired; progress in tables written); ``domain.organization_export_chunks`` holds a ready
archive in 1 MiB pieces until it expires. Both are tenant tables under forced row-level
security, placed with the organization's other rows: domain-api's role inserts and reads
jobs and reads chunks; the export runner writes them as the owner. Written out in full.
"""

import os

from alembic import op

revision = "0160"
down_revision = "0150"
branch_labels = None
depends_on = None

DOMAIN = os.environ.get("DOMAIN_DB_ROLE", "bijmantra_domain")
TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"


def forced(table: str, grants: str) -> list[str]:
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} TO {DOMAIN} "
        f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})",
        f"GRANT {grants} ON {table} TO {DOMAIN}",
    ]


def upgrade() -> None:
    statements = [
        """
        CREATE TABLE domain.organization_exports (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL,
            requested_by text NOT NULL,
            status text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'ready', 'failed', 'expired')),
            tables_done integer NOT NULL DEFAULT 0,
            tables_total integer NOT NULL DEFAULT 0,
            attempts integer NOT NULL DEFAULT 0,
            error text,
            archive_sha256 text,
            archive_bytes bigint,
            requested_at timestamptz NOT NULL DEFAULT now(),
            heartbeat_at timestamptz,
            finished_at timestamptz,
            expires_at timestamptz
        )
        """,
        "CREATE INDEX organization_exports_pending ON domain.organization_exports "
        "(requested_at) WHERE status IN ('queued', 'running')",
        "CREATE INDEX organization_exports_tenant ON domain.organization_exports "
        "(tenant_id, requested_at)",
        """
        CREATE TABLE domain.organization_export_chunks (
            export_id uuid NOT NULL
                REFERENCES domain.organization_exports (id) ON DELETE CASCADE,
            tenant_id uuid NOT NULL,
            seq integer NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (export_id, seq)
        )
        """,
        *forced("domain.organization_exports", "SELECT, INSERT"),
        *forced("domain.organization_export_chunks", "SELECT"),
    ]
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE domain.organization_export_chunks")
    op.execute("DROP TABLE domain.organization_exports")
