"""BrAPI Phenotyping: soft deletes kept as history, binary contents (image files).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22

``domain.resources.deleted_at`` marks a document deleted (``POST /delete/observations``)
while its row stays as history; every read skips it. ``domain.resource_contents`` keeps a
resource's binary content (``PUT /images/{id}/imagecontent``) beside its document, under
the same forced row-level security. See docs/adr/0090-brapi-phenotyping.md.
"""

from alembic import op
from ddl_v1 import tenant_table

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in (
        "ALTER TABLE domain.resources ADD COLUMN deleted_at timestamptz",
        """
        CREATE TABLE domain.resource_contents (
            tenant_id uuid NOT NULL,
            entity text NOT NULL,
            db_id text NOT NULL,
            media_type text NOT NULL,
            content bytea NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, entity, db_id),
            FOREIGN KEY (tenant_id, entity, db_id)
                REFERENCES domain.resources (tenant_id, entity, db_id)
        )
        """,
        *tenant_table("domain", "resource_contents"),
    ):
        op.execute(statement)
