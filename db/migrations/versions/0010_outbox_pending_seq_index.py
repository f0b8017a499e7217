"""Outboxes: an index of pending rows in ``seq`` order, so a relay's claim reads only its batch.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22

The claim selects the oldest pending rows of the partitions it holds. With only the
``(partition, seq)`` index, PostgreSQL fetched every pending row of those partitions (1 KB
envelopes included) and sorted them to keep the first batch: 180 ms per claim with 20,000
rows pending. Walking this index in ``seq`` order and filtering on the held partitions stops
after the batch (4 ms). See docs/adr/0050-events-audit-live-feed.md.
"""

from alembic import op
from ddl_v1 import OUTBOX_SCHEMAS

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for schema in OUTBOX_SCHEMAS:
        op.execute(
            f"CREATE INDEX outbox_pending_seq_idx ON {schema}.outbox (seq) "
            "WHERE published_at IS NULL"
        )


def downgrade() -> None:
    for schema in OUTBOX_SCHEMAS:
        op.execute(f"DROP INDEX {schema}.outbox_pending_seq_idx")
