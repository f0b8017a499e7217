"""distribution: partners, seed requests, agreements, dispatches and invoices; the gapless
invoice counter; rendered documents.

Revision ID: 0090
Revises: 0020
Create Date: 2026-12-06

Each aggregate is one row holding its JSON document (read and written whole, filtered by
``document @>`` with a GIN index). Invoice numbers are unique per organization (a partial
unique index over issued invoices), and come from ``invoice_counters``: one row per
organization and year, incremented and locked by the issuing transaction, so numbers have
no gaps. Rendered PDFs keep their SHA-256. Every table is a tenant table: RLS enabled and
forced, one policy on ``app.tenant_id``, DML granted to domain-api's role. The SQL is written
out here (no project imports), so this revision means the same thing forever. ADR 0095.
"""

import os

from alembic import op

revision = "0090"
down_revision = "0020"
branch_labels = None
depends_on = None

ROLE = os.environ.get("DOMAIN_DB_ROLE", "bijmantra_domain")
TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"


def _tenant_table(table: str, privileges: str) -> list[str]:
    return [
        f"ALTER TABLE domain.{table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE domain.{table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON domain.{table} TO {ROLE} "
        f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})",
        f"GRANT {privileges} ON domain.{table} TO {ROLE}",
    ]


def upgrade() -> None:
    for statement in (
        """
        CREATE TABLE domain.distribution_records (
            tenant_id uuid NOT NULL,
            kind text NOT NULL CHECK (kind IN
                ('partner', 'seed_request', 'agreement', 'dispatch', 'invoice')),
            id uuid NOT NULL,
            document jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, kind, id)
        )
        """,
        "CREATE INDEX distribution_records_document_idx ON domain.distribution_records "
        "USING gin (document jsonb_path_ops)",
        "CREATE INDEX distribution_records_listing_idx ON domain.distribution_records "
        "(tenant_id, kind, created_at DESC, id DESC)",
        "CREATE UNIQUE INDEX distribution_invoice_number_idx ON domain.distribution_records "
        "(tenant_id, (document->>'number')) "
        "WHERE kind = 'invoice' AND document->>'number' IS NOT NULL",
        *_tenant_table("distribution_records", "SELECT, INSERT, UPDATE"),
        """
        CREATE TABLE domain.invoice_counters (
            tenant_id uuid NOT NULL,
            year integer NOT NULL CHECK (year BETWEEN 1 AND 9999),
            last_number integer NOT NULL CHECK (last_number > 0),
            PRIMARY KEY (tenant_id, year)
        )
        """,
        *_tenant_table("invoice_counters", "SELECT, INSERT, UPDATE"),
        """
        CREATE TABLE domain.distribution_documents (
            tenant_id uuid NOT NULL,
            kind text NOT NULL CHECK (kind IN ('agreement', 'packing_list', 'invoice')),
            owner_id uuid NOT NULL,
            content bytea NOT NULL,
            sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
            source_sha256 text NOT NULL,
            rendered_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, kind, owner_id)
        )
        """,
        *_tenant_table("distribution_documents", "SELECT, INSERT, UPDATE"),
    ):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE domain.distribution_documents")
    op.execute("DROP TABLE domain.invoice_counters")
    op.execute("DROP TABLE domain.distribution_records")
