"""identity: OAuth clients, refresh-token families and tokens (stored hashed), authorization codes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Refresh tokens and authorization codes are opaque strings ``<tenant uuid hex>.<random>``;
only their SHA-256 is stored. The tenant prefix lets the service set ``app.tenant_id``
before looking the hash up, so these tables use the ordinary tenant RLS policy.
OAuth clients are looked up before any tenant is known: a client row is visible to the
transaction that names it in ``app.client_id`` (or to its own tenant).
"""

from alembic import op
from ddl_v1 import CURRENT_TENANT, SERVICE_ROLES, tenant_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

IDENTITY = SERVICE_ROLES["identity"]
FIRST_PARTY_CLIENT = "bijmantra-first-party"


def run(*statements: str) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    run(
        """
        CREATE TABLE identity.oauth_clients (
            client_id text PRIMARY KEY,
            name text NOT NULL,
            secret_hash bytea,
            grant_types text[] NOT NULL,
            redirect_uris text[] NOT NULL DEFAULT '{}',
            scope text NOT NULL DEFAULT '',
            tenant_id uuid REFERENCES identity.organizations(id),
            roles text[] NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now(),
            disabled_at timestamptz,
            CHECK (secret_hash IS NOT NULL OR NOT ('client_credentials' = ANY (grant_types))),
            CHECK (tenant_id IS NOT NULL OR NOT ('client_credentials' = ANY (grant_types)))
        )
        """,
        # First-party public client (CLI, browser): refresh tokens from /api/v1/auth/login.
        f"INSERT INTO identity.oauth_clients (client_id, name, grant_types, scope) VALUES "
        f"('{FIRST_PARTY_CLIENT}', 'Bijmantra first-party apps', "
        "ARRAY['authorization_code', 'refresh_token'], 'openid profile brapi')",
        "ALTER TABLE identity.oauth_clients ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE identity.oauth_clients FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY named_or_tenant ON identity.oauth_clients TO {IDENTITY} "
        "USING (client_id = nullif(current_setting('app.client_id', true), '') "
        f"OR tenant_id = {CURRENT_TENANT}) "
        f"WITH CHECK (tenant_id = {CURRENT_TENANT})",
        f"GRANT SELECT, INSERT, UPDATE ON identity.oauth_clients TO {IDENTITY}",
        """
        CREATE TABLE identity.refresh_token_families (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL REFERENCES identity.organizations(id),
            user_id uuid NOT NULL REFERENCES identity.users(id),
            client_id text NOT NULL REFERENCES identity.oauth_clients(client_id),
            scope text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            revoked_at timestamptz,
            revoked_reason text
        )
        """,
        "CREATE INDEX refresh_token_families_user_idx ON identity.refresh_token_families "
        "(tenant_id, user_id)",
        *tenant_table("identity", "refresh_token_families", privileges="SELECT, INSERT, UPDATE"),
        """
        CREATE TABLE identity.refresh_tokens (
            token_hash bytea PRIMARY KEY,
            tenant_id uuid NOT NULL,
            family_id uuid NOT NULL REFERENCES identity.refresh_token_families(id),
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            used_at timestamptz
        )
        """,
        "CREATE INDEX refresh_tokens_family_idx ON identity.refresh_tokens (family_id)",
        *tenant_table("identity", "refresh_tokens", privileges="SELECT, INSERT, UPDATE"),
        """
        CREATE TABLE identity.authorization_codes (
            code_hash bytea PRIMARY KEY,
            tenant_id uuid NOT NULL REFERENCES identity.organizations(id),
            client_id text NOT NULL REFERENCES identity.oauth_clients(client_id),
            user_id uuid NOT NULL REFERENCES identity.users(id),
            redirect_uri text NOT NULL,
            scope text NOT NULL,
            code_challenge text NOT NULL,
            code_challenge_method text NOT NULL CHECK (code_challenge_method = 'S256'),
            nonce text,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            used_at timestamptz
        )
        """,
        *tenant_table("identity", "authorization_codes", privileges="SELECT, INSERT, UPDATE"),
    )
