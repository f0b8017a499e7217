"""Tenant erasure: a record that outlives the organization, and a narrow audit-trail hatch.

Revision ID: 0100
Revises: 0021
Create Date: 2026-12-06

``identity.organization_erasures`` has no ``tenant_id`` column on purpose: it is not a tenant
table, so erasing an organization never removes the record that it was erased (who, when, the
archive's checksum). Only the owner role writes it.

The audit log stays append-only for the service roles (they hold no DELETE privilege) and for
everyone by default. A DELETE of audit rows is let through only inside a transaction that set
``bijmantra.erasing_tenant`` to the row's own organization, which only the owner role can use
(it alone holds DELETE there); TRUNCATE stays refused.
See docs/adr/0101-tenant-export-and-erasure.md.
"""

from alembic import op

revision = "0100"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE identity.organization_erasures (
            organization_id uuid PRIMARY KEY,
            organization_name text NOT NULL,
            erased_at timestamptz NOT NULL DEFAULT now(),
            erased_by text NOT NULL,
            archive_sha256 text NOT NULL CHECK (archive_sha256 ~ '^[0-9a-f]{64}$'),
            rows_erased jsonb NOT NULL
        )
        """
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION domain.refuse_audit_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE'
               AND current_setting('bijmantra.erasing_tenant', true) = OLD.tenant_id::text THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION 'the audit log is append-only (% refused on %)', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )


def downgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION domain.refuse_audit_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit log is append-only (% refused on %)', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute("DROP TABLE identity.organization_erasures")
