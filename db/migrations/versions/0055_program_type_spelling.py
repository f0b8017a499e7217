"""brapi: programs store and serve ``programType`` as v2.1 spells it (STANARD).

Revision ID: 0055
Revises: 0100
Create Date: 2026-12-06

Programs were stored with STANDARD; the engine now stores the spec's STANARD (STANDARD is
still accepted on input). Existing documents and their served bytes are rewritten, and the
data version of every touched organization's programs moves so no kept page is answered again.
"""

from alembic import op

revision = "0055"
down_revision = "0100"
branch_labels = None
depends_on = None


def _respell(old: str, new: str) -> None:
    op.execute(
        f"""
        UPDATE domain.resource_versions v
        SET version = nextval('domain.resource_version_seq')
        WHERE v.entity = 'program' AND EXISTS (
            SELECT 1 FROM domain.resources r
            WHERE r.tenant_id = v.tenant_id AND r.entity = 'program'
              AND r.document ->> 'programType' = '{old}')
        """
    )
    op.execute(
        f"""
        UPDATE domain.resources
        SET document = jsonb_set(document, '{{programType}}', '"{new}"'),
            body = convert_to(jsonb_set(document, '{{programType}}', '"{new}"')::text, 'UTF8')
        WHERE entity = 'program' AND document ->> 'programType' = '{old}'
        """
    )


def upgrade() -> None:
    _respell("STANDARD", "STANARD")


def downgrade() -> None:
    _respell("STANARD", "STANDARD")
