"""domain outbox: no NOTIFY inside the writing transaction (writers wake the relay after commit).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22

PostgreSQL serialises the commits of transactions that issued NOTIFY, WAL flush included
(a database-wide lock is held from pre-commit to the end of commit). With the trigger,
every domain write that recorded an event queued behind the previous one's fsync: ~300
single-event commits/s on a 2-core host, against ~700-800/s without. domain-api now sends
the NOTIFY after commit, coalesced and asynchronously committed
(``relay_loop.OutboxWakeups``); a missed wake-up costs at most the relay's one-second poll.
identity's outbox keeps its trigger: it sees a few writes a second.
See docs/adr/0050-events-audit-live-feed.md.
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP TRIGGER outbox_notify ON domain.outbox")
    op.execute("DROP FUNCTION domain.notify_outbox()")


def downgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION domain.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('bijmantra_outbox', ''); RETURN NULL; END $$
        """
    )
    op.execute(
        "CREATE TRIGGER outbox_notify AFTER INSERT ON domain.outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION domain.notify_outbox()"
    )
