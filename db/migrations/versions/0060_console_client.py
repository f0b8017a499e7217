"""identity: the web console's OAuth client (authorization code + PKCE, refresh tokens).

Revision ID: 0060
Revises: 0050
Create Date: 2026-12-06

The console at ``/app`` is a backend-for-frontend in the gateway (ADR 0060): it runs the
authorization-code flow as the public, organization-less client ``bijmantra-console``. Its
redirect URI is the gateway's own external origin, which only the deployment knows, so
identity may set that one client's redirect URIs when it names it in ``app.client_id``
(``bijmantra-identity register-console URI``); no other organization-less row is writable.
"""

import os

from alembic import op

revision = "0060"
down_revision = "0050"
branch_labels = None
depends_on = None

IDENTITY = os.environ.get("IDENTITY_DB_ROLE", "bijmantra_identity")
CURRENT_TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"
NAMED_CLIENT = "client_id = nullif(current_setting('app.client_id', true), '')"
CONSOLE = "bijmantra-console"


def upgrade() -> None:
    for statement in (
        "INSERT INTO identity.oauth_clients (client_id, name, grant_types, scope) VALUES "
        "('bijmantra-console', 'Bijmantra web console', "
        "ARRAY['authorization_code', 'refresh_token'], 'openid profile brapi')",
        "DROP POLICY named_or_tenant ON identity.oauth_clients",
        f"CREATE POLICY named_or_tenant ON identity.oauth_clients TO {IDENTITY} "
        f"USING ({NAMED_CLIENT} OR tenant_id = {CURRENT_TENANT}) "
        f"WITH CHECK (tenant_id = {CURRENT_TENANT} OR (acts_for_tenants AND {NAMED_CLIENT}) "
        f"OR (client_id = '{CONSOLE}' AND tenant_id IS NULL AND secret_hash IS NULL "
        f"AND NOT acts_for_tenants AND {NAMED_CLIENT}))",
    ):
        op.execute(statement)


def downgrade() -> None:
    for statement in (
        "DROP POLICY named_or_tenant ON identity.oauth_clients",
        f"CREATE POLICY named_or_tenant ON identity.oauth_clients TO {IDENTITY} "
        f"USING ({NAMED_CLIENT} OR tenant_id = {CURRENT_TENANT}) "
        f"WITH CHECK (tenant_id = {CURRENT_TENANT} OR (acts_for_tenants AND {NAMED_CLIENT}))",
        "DELETE FROM identity.oauth_clients WHERE client_id = 'bijmantra-console'",
    ):
        op.execute(statement)
