"""identity: an invitation is a pending offer delivered by email, never a token for the inviter.

Revision ID: 0020
Revises: 0060
Create Date: 2026-12-06

Issue 17 defect 1 (account pre-claiming): an invitation used to create the account and the
membership at once and hand the token to the inviting admin. Now an invitation row holds the
invited address, the roles on offer and its delivery state; nothing else changes until the
holder of the link sent to that address accepts it. The row itself is the delivery queue:
identity's mailer finds rows not yet sent (across tenants, through a NOLOGIN role that may only
read the queue columns), then, in the tenant's own transaction, generates the token and
stores its hash before sending the mail. No token exists at rest in plain text.

Every invitation issued before this revision was handed to an inviter, so it is expired here.
"""

import os

from alembic import op

revision = "0020"
down_revision = "0060"
branch_labels = None
depends_on = None

IDENTITY = os.environ.get("IDENTITY_DB_ROLE", "bijmantra_identity")
MAILER = "bijmantra_identity_mailer"


def upgrade() -> None:
    for statement in (
        "UPDATE identity.invitations SET expires_at = least(expires_at, now()) "
        "WHERE accepted_at IS NULL",
        "ALTER TABLE identity.invitations DROP CONSTRAINT invitations_pkey",
        "ALTER TABLE identity.invitations ADD COLUMN id uuid",
        "UPDATE identity.invitations SET id = gen_random_uuid()",
        "ALTER TABLE identity.invitations ALTER COLUMN id SET NOT NULL",
        "ALTER TABLE identity.invitations ADD PRIMARY KEY (id)",
        "ALTER TABLE identity.invitations ALTER COLUMN token_hash DROP NOT NULL",
        "CREATE UNIQUE INDEX invitations_token_idx ON identity.invitations (token_hash) "
        "WHERE token_hash IS NOT NULL",
        "ALTER TABLE identity.invitations ALTER COLUMN user_id DROP NOT NULL",
        "ALTER TABLE identity.invitations ADD COLUMN email text",
        "UPDATE identity.invitations i SET email = u.email FROM identity.users u "
        "WHERE u.id = i.user_id",
        "ALTER TABLE identity.invitations ALTER COLUMN email SET NOT NULL",
        "ALTER TABLE identity.invitations ADD COLUMN roles text[] NOT NULL DEFAULT '{}'",
        "ALTER TABLE identity.invitations ADD COLUMN display_name text NOT NULL DEFAULT ''",
        "ALTER TABLE identity.invitations ADD COLUMN sent_at timestamptz",
        "ALTER TABLE identity.invitations ADD COLUMN send_attempts integer NOT NULL DEFAULT 0",
        "ALTER TABLE identity.invitations ADD COLUMN next_attempt_at timestamptz "
        "NOT NULL DEFAULT now()",
        # Old rows were delivered (to the inviter); only new rows enter the queue.
        "UPDATE identity.invitations SET sent_at = created_at",
        "ALTER TABLE identity.invitations ADD COLUMN revoked_at timestamptz",
        # At most one open offer per address and organization: a re-invitation replaces it.
        "CREATE UNIQUE INDEX invitations_open_idx ON identity.invitations "
        "(tenant_id, lower(email)) WHERE accepted_at IS NULL AND revoked_at IS NULL",
        "CREATE INDEX invitations_unsent_idx ON identity.invitations (next_attempt_at) "
        "WHERE sent_at IS NULL AND accepted_at IS NULL AND revoked_at IS NULL",
        f"GRANT DELETE ON identity.invitations TO {IDENTITY}",
        "DO $$ BEGIN "
        "IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bijmantra_identity_mailer') THEN "
        "CREATE ROLE bijmantra_identity_mailer NOLOGIN NOBYPASSRLS; END IF; END $$;",
        f"GRANT {MAILER} TO {IDENTITY} WITH INHERIT FALSE, SET TRUE",
        f"GRANT USAGE ON SCHEMA identity TO {MAILER}",
        # Which invitations wait for a send, in every tenant: ids and times, never an address.
        "GRANT SELECT (id, tenant_id, sent_at, accepted_at, revoked_at, expires_at, "
        f"next_attempt_at, send_attempts) ON identity.invitations TO {MAILER}",
        f"CREATE POLICY mailer_reads_the_queue ON identity.invitations FOR SELECT TO {MAILER} "
        "USING (true)",
    ):
        op.execute(statement)


def downgrade() -> None:
    for statement in (
        "DROP POLICY mailer_reads_the_queue ON identity.invitations",
        f"REVOKE ALL ON identity.invitations FROM {MAILER}",
        f"REVOKE USAGE ON SCHEMA identity FROM {MAILER}",
        f"DROP ROLE IF EXISTS {MAILER}",
        "DELETE FROM identity.invitations WHERE token_hash IS NULL OR user_id IS NULL",
        "DROP INDEX identity.invitations_unsent_idx",
        "DROP INDEX identity.invitations_open_idx",
        "DROP INDEX identity.invitations_token_idx",
        "ALTER TABLE identity.invitations DROP CONSTRAINT invitations_pkey",
        "ALTER TABLE identity.invitations DROP COLUMN id, DROP COLUMN email, DROP COLUMN roles, "
        "DROP COLUMN display_name, DROP COLUMN sent_at, DROP COLUMN send_attempts, "
        "DROP COLUMN next_attempt_at, DROP COLUMN revoked_at",
        "ALTER TABLE identity.invitations ALTER COLUMN user_id SET NOT NULL",
        "ALTER TABLE identity.invitations ADD PRIMARY KEY (token_hash)",
    ):
        op.execute(statement)
