"""identity: platform service clients (client_credentials for any organization, one role).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22

A platform service client (analytics-worker) has no organization of its own: on the
client_credentials grant it names the organization it acts for and receives only the
``analysis-worker`` role there. The row says so (``acts_for_tenants``), and the checks keep
such a client confidential, organization-less and limited to that one role. Identity may
write only its own organization's rows, or a platform row it names in ``app.client_id``
(the ``register-service-client`` command). See docs/adr/0039-platform-service-clients.md.
"""

from alembic import op
from ddl_v1 import CURRENT_TENANT, SERVICE_ROLES

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

IDENTITY = SERVICE_ROLES["identity"]
NAMED_CLIENT = "client_id = nullif(current_setting('app.client_id', true), '')"


def upgrade() -> None:
    for statement in (
        "ALTER TABLE identity.oauth_clients ADD COLUMN acts_for_tenants boolean NOT NULL "
        "DEFAULT false",
        "ALTER TABLE identity.oauth_clients DROP CONSTRAINT oauth_clients_check1",
        "ALTER TABLE identity.oauth_clients ADD CONSTRAINT oauth_clients_credentials_tenant CHECK "
        "(tenant_id IS NOT NULL OR acts_for_tenants OR NOT ('client_credentials' = ANY "
        "(grant_types)))",
        "ALTER TABLE identity.oauth_clients ADD CONSTRAINT oauth_clients_platform_shape CHECK "
        "(NOT acts_for_tenants OR (tenant_id IS NULL AND secret_hash IS NOT NULL "
        "AND grant_types = ARRAY['client_credentials'] AND roles = ARRAY['analysis-worker']))",
        "DROP POLICY named_or_tenant ON identity.oauth_clients",
        f"CREATE POLICY named_or_tenant ON identity.oauth_clients TO {IDENTITY} "
        f"USING ({NAMED_CLIENT} OR tenant_id = {CURRENT_TENANT}) "
        f"WITH CHECK (tenant_id = {CURRENT_TENANT} OR (acts_for_tenants AND {NAMED_CLIENT}))",
    ):
        op.execute(statement)


def downgrade() -> None:
    for statement in (
        "DELETE FROM identity.oauth_clients WHERE acts_for_tenants",
        "DROP POLICY named_or_tenant ON identity.oauth_clients",
        f"CREATE POLICY named_or_tenant ON identity.oauth_clients TO {IDENTITY} "
        f"USING ({NAMED_CLIENT} OR tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = "
        f"{CURRENT_TENANT})",
        "ALTER TABLE identity.oauth_clients DROP CONSTRAINT oauth_clients_platform_shape",
        "ALTER TABLE identity.oauth_clients DROP CONSTRAINT oauth_clients_credentials_tenant",
        "ALTER TABLE identity.oauth_clients ADD CHECK "
        "(tenant_id IS NOT NULL OR NOT ('client_credentials' = ANY (grant_types)))",
        "ALTER TABLE identity.oauth_clients DROP COLUMN acts_for_tenants",
    ):
        op.execute(statement)
