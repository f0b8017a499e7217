"""brapi: a live-row index for page totals, and a data version per organization and entity.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22

Every list answers ``totalCount``; with only the primary key, PostgreSQL counted it by
reading each row (``deleted_at`` is not in the key) and evaluating the RLS predicate per
row: 5 ms for 3,000 germplasm. A partial index over live rows makes the count an
index-only scan (0.4 ms) and lets a page walk live rows in ``db_id`` order unfiltered.

``domain.resource_versions`` holds, per organization and entity, a number that changes in
the same transaction as any write to that entity's documents (the unit of work bumps it
just before COMMIT). A gateway that kept a page answers it again only while the number
is unchanged. Values come from one sequence, so a number is never given twice.
See docs/adr/0040-brapi-engine.md.
"""

from alembic import op
from ddl_v1 import SERVICE_ROLES, tenant_table

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in (
        "CREATE INDEX resources_live_idx ON domain.resources (tenant_id, entity, db_id) "
        "WHERE deleted_at IS NULL",
        "CREATE SEQUENCE domain.resource_version_seq",
        f"GRANT USAGE ON SEQUENCE domain.resource_version_seq TO {SERVICE_ROLES['domain']}",
        """
        CREATE TABLE domain.resource_versions (
            tenant_id uuid NOT NULL,
            entity text NOT NULL,
            version bigint NOT NULL,
            PRIMARY KEY (tenant_id, entity)
        )
        """,
        *tenant_table("domain", "resource_versions", privileges="SELECT, INSERT, UPDATE"),
    ):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE domain.resource_versions")
    op.execute("DROP SEQUENCE domain.resource_version_seq")
    op.execute("DROP INDEX domain.resources_live_idx")
