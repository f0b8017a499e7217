"""how the analytics-worker's attempt at each partner mail ended, kept with its claim.

Revision ID: 0259
Revises: 0257
Create Date: 2026-12-07

The mail consumer claims each event in ``analytics.processed_events`` once the SMTP server
took the mail (ADR 0348). ``analytics.partner_mail_outcomes`` keeps, per event, how many
deliveries failed before (``tries``: a delivery whose claim rolled back counts one in a
transaction of its own) and how the attempt ended (``status`` sent or failed, ``failure``,
``at``), written in the claim's transaction; a redelivery reads it back and reports it to
domain-api again, sending nothing (ADR 0363). A tenant table of the worker's schema.
"""

from alembic import op
from ddl_v1 import tenant_table

revision = "0259"
down_revision = "0257"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in (
        """
        CREATE TABLE analytics.partner_mail_outcomes (
            tenant_id uuid NOT NULL,
            event_id uuid NOT NULL,
            tries integer NOT NULL DEFAULT 0,
            status text CHECK (status IN ('sent', 'failed')),
            failure text,
            at timestamptz,
            PRIMARY KEY (tenant_id, event_id)
        )
        """,
        *tenant_table("analytics", "partner_mail_outcomes"),
    ):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE analytics.partner_mail_outcomes")
