"""Events end to end: partitioned outbox claiming (domain and identity outboxes),
domain-api's processed events, audit log.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

The audit log is append-only in PostgreSQL itself: the service role holds only SELECT and
INSERT, and triggers refuse UPDATE, DELETE and TRUNCATE for everyone (an operator must
disable the triggers to tamper, and the hash chain still shows it). An INSERT must link to
its predecessor, and ``audit_chain_heads`` anchors the newest entry so a deleted tail is
detectable too. See docs/adr/0050-events-audit-live-feed.md.
"""

from alembic import op
from ddl_v1 import SERVICE_ROLES, outbox_relay_columns, tenant_table

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

DOMAIN = SERVICE_ROLES["domain"]


def run(*statements: str) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    run(*outbox_relay_columns("domain"), *outbox_relay_columns("identity"))

    # domain-api's own consumers (the audit trail) remember processed events here.
    run(
        """
        CREATE TABLE domain.processed_events (
            tenant_id uuid NOT NULL,
            consumer text NOT NULL,
            event_id uuid NOT NULL,
            event_type text NOT NULL,
            subject text NOT NULL,
            processed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, event_id)
        )
        """,
        *tenant_table("domain", "processed_events", privileges="SELECT, INSERT"),
    )

    run(
        """
        CREATE TABLE domain.audit_log (
            tenant_id uuid NOT NULL,
            position bigint NOT NULL CHECK (position > 0),
            event_id uuid NOT NULL,
            event_type text NOT NULL,
            subject text NOT NULL,
            actor text,
            occurred_at timestamptz NOT NULL,
            recorded_at timestamptz NOT NULL,
            envelope bytea NOT NULL,
            prev_hash bytea NOT NULL,
            hash bytea NOT NULL,
            PRIMARY KEY (tenant_id, position),
            UNIQUE (tenant_id, event_id)
        )
        """,
        "CREATE INDEX audit_log_subject_idx ON domain.audit_log (tenant_id, subject, position)",
        *tenant_table("domain", "audit_log", privileges="SELECT, INSERT"),
        """
        CREATE TABLE domain.audit_chain_heads (
            tenant_id uuid PRIMARY KEY,
            position bigint NOT NULL,
            hash bytea NOT NULL
        )
        """,
        *tenant_table("domain", "audit_chain_heads", privileges="SELECT, INSERT, UPDATE"),
        """
        CREATE FUNCTION domain.refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit log is append-only (% refused on %)', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """,
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON domain.audit_log "
        "FOR EACH ROW EXECUTE FUNCTION domain.refuse_audit_change()",
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON domain.audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION domain.refuse_audit_change()",
        "CREATE TRIGGER audit_heads_no_delete BEFORE DELETE ON domain.audit_chain_heads "
        "FOR EACH ROW EXECUTE FUNCTION domain.refuse_audit_change()",
        "CREATE TRIGGER audit_heads_no_truncate BEFORE TRUNCATE ON domain.audit_chain_heads "
        "FOR EACH STATEMENT EXECUTE FUNCTION domain.refuse_audit_change()",
        """
        CREATE FUNCTION domain.check_audit_link() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE previous bytea;
        BEGIN
            IF NEW.position = 1 THEN
                previous := decode(repeat('00', 32), 'hex');
            ELSE
                SELECT hash INTO previous FROM domain.audit_log
                WHERE tenant_id = NEW.tenant_id AND position = NEW.position - 1;
            END IF;
            IF previous IS DISTINCT FROM NEW.prev_hash THEN
                RAISE EXCEPTION 'audit entry % does not link to its predecessor', NEW.position
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NEW;
        END $$
        """,
        "CREATE TRIGGER audit_log_links BEFORE INSERT ON domain.audit_log "
        "FOR EACH ROW EXECUTE FUNCTION domain.check_audit_link()",
        """
        CREATE FUNCTION domain.check_audit_head_moves_forward() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.tenant_id <> OLD.tenant_id OR NEW.position <= OLD.position THEN
                RAISE EXCEPTION 'an audit chain head only moves forward'
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END $$
        """,
        "CREATE TRIGGER audit_heads_forward BEFORE UPDATE ON domain.audit_chain_heads "
        "FOR EACH ROW EXECUTE FUNCTION domain.check_audit_head_moves_forward()",
    )
