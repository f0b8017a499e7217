"""identity: transactional outbox for identity events, and member invitations.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

Identity events (user.registered, member.added, login.failed, refresh_token.reuse_detected,
…) are written to ``identity.outbox`` in the transaction that causes them and relayed to
JetStream exactly like domain events. The identity role may only INSERT rows of the
transaction's tenant (or account-level rows with the nil tenant); identity's relay switches
to its own NOLOGIN role to drain them.

Invitations: an admin invites an e-mail address; the invitee accepts with a one-time token
(``<tenant uuid hex>.<random>``, stored as SHA-256) and chooses a password.
"""

from alembic import op
from ddl_v1 import (
    CURRENT_TENANT,
    NO_TENANT,
    SERVICE_ROLES,
    ensure_role,
    outbox_channel,
    outbox_relay_role,
    tenant_table,
)

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

IDENTITY = SERVICE_ROLES["identity"]
RELAY = outbox_relay_role("identity")


def run(*statements: str) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    run(
        """
        CREATE TABLE identity.outbox (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id uuid NOT NULL UNIQUE,
            tenant_id uuid NOT NULL,
            type text NOT NULL,
            aggregate_id text NOT NULL,
            envelope bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            published_at timestamptz
        )
        """,
        "CREATE INDEX identity_outbox_unpublished_idx ON identity.outbox (seq) "
        "WHERE published_at IS NULL",
        "ALTER TABLE identity.outbox ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE identity.outbox FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_or_account_events ON identity.outbox FOR INSERT TO {IDENTITY} "
        f"WITH CHECK (tenant_id = {CURRENT_TENANT} OR tenant_id = '{NO_TENANT}'::uuid)",
        f"GRANT INSERT ON identity.outbox TO {IDENTITY}",
        f"GRANT USAGE ON SEQUENCE identity.outbox_seq_seq TO {IDENTITY}",
        ensure_role(RELAY, member_of_service=IDENTITY),
        f"GRANT USAGE ON SCHEMA identity TO {RELAY}",
        f"GRANT SELECT, UPDATE, DELETE ON identity.outbox TO {RELAY}",
        f"CREATE POLICY relay_all_tenants ON identity.outbox TO {RELAY} "
        "USING (true) WITH CHECK (true)",
        f"""
        CREATE FUNCTION identity.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('{outbox_channel("identity")}', ''); RETURN NULL; END $$
        """,
        "CREATE TRIGGER outbox_notify AFTER INSERT ON identity.outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION identity.notify_outbox()",
        """
        CREATE TABLE identity.invitations (
            token_hash bytea PRIMARY KEY,
            tenant_id uuid NOT NULL REFERENCES identity.organizations(id),
            user_id uuid NOT NULL REFERENCES identity.users(id),
            invited_by text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            accepted_at timestamptz
        )
        """,
        *tenant_table("identity", "invitations", privileges="SELECT, INSERT, UPDATE"),
    )
