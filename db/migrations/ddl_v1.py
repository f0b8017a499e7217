"""DDL building blocks of migrations 0001-0015, frozen: never edit this file.

A migration must mean the same thing forever, so migrations import only modules of
``db/migrations`` (this one is on the path through Alembic's ``prepend_sys_path``), never
the services' code. A migration that needs a different block writes it out or adds a new
``ddl_v2``. Row-level security: rows are visible and writable only when ``tenant_id``
equals the transaction's ``app.tenant_id`` setting; an unset setting matches nothing.
"""

from __future__ import annotations

import os

CURRENT_TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"

# One login role per service; each sees only its own schema.
SERVICE_ROLES = {
    "domain": os.environ.get("DOMAIN_DB_ROLE", "bijmantra_domain"),
    "identity": os.environ.get("IDENTITY_DB_ROLE", "bijmantra_identity"),
    "analytics": os.environ.get("ANALYTICS_DB_ROLE", "bijmantra_analytics"),
}
# domain-api's outbox relay switches to this role (SET LOCAL ROLE) to read every tenant's
# unpublished events; it may touch nothing but the outbox.
OUTBOX_RELAY_ROLE = os.environ.get("OUTBOX_RELAY_DB_ROLE", "bijmantra_outbox_relay")
OUTBOX_SCHEMAS = ("domain", "identity")  # the schemas that hold an ``outbox`` table
# Account-level events (e.g. a failed login of an address that matches no user) belong to no
# organization; they carry the nil UUID as tenant and are never delivered to a tenant.
NO_TENANT = "00000000-0000-0000-0000-000000000000"


def ensure_role(role: str, *, member_of_service: str | None = None) -> str:
    """Create a NOLOGIN role when absent (operators may pre-create login roles)."""
    sql = (
        "DO $$ BEGIN "
        f"IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN "
        f"CREATE ROLE {role} NOLOGIN NOBYPASSRLS; END IF; END $$;"
    )
    if member_of_service:
        # INHERIT FALSE: the service may SET ROLE to it, but never holds its rights implicitly.
        sql += f" GRANT {role} TO {member_of_service} WITH INHERIT FALSE, SET TRUE;"
    return sql


def service_schema(schema: str) -> list[str]:
    """The schema of a service, with usage granted to that service's role only."""
    role = SERVICE_ROLES[schema]
    return [
        ensure_role(role),
        f"CREATE SCHEMA IF NOT EXISTS {schema}",
        f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
    ]


def tenant_table(
    schema: str, table: str, *, privileges: str = "SELECT, INSERT, UPDATE, DELETE"
) -> list[str]:
    """Enable and force RLS on a tenant table and grant the service role DML on it."""
    qualified = f"{schema}.{table}"
    role = SERVICE_ROLES[schema]
    return [
        f"ALTER TABLE {qualified} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {qualified} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {qualified} TO {role} "
        f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})",
        f"GRANT {privileges} ON {qualified} TO {role}",
    ]


def outbox_relay_role(schema: str) -> str:
    """The role a relay ``SET LOCAL ROLE``s to for reading every tenant's outbox rows."""
    return OUTBOX_RELAY_ROLE if schema == "domain" else f"bijmantra_{schema}_outbox_relay"


def outbox_channel(schema: str) -> str:
    """The NOTIFY channel that wakes the relay of ``schema``'s outbox."""
    return "bijmantra_outbox" if schema == "domain" else f"bijmantra_outbox_{schema}"


# Outboxes are split into this many partitions by a hash of the aggregate id. A relay owns
# a partition while it publishes from it, so several relays never interleave one aggregate.
OUTBOX_PARTITIONS = 64


def outbox_partition(aggregate_id: str) -> str:
    """SQL: the outbox partition of an aggregate id expression (the generated column's)."""
    return f"(hashtext({aggregate_id}) & {OUTBOX_PARTITIONS - 1})::smallint"


def outbox_relay_columns(schema: str) -> list[str]:
    """Trace context, partition column, partition lock table and the relay's claim index.

    ``hashtext(...) & mask`` is immutable (usable in a generated column) and never negative.
    """
    relay = outbox_relay_role(schema)
    return [
        f"ALTER TABLE {schema}.outbox ADD COLUMN traceparent text",
        f"ALTER TABLE {schema}.outbox ADD COLUMN partition smallint NOT NULL "
        f"GENERATED ALWAYS AS ({outbox_partition('aggregate_id')}) STORED",
        f"DROP INDEX IF EXISTS {schema}.outbox_unpublished_idx, "
        f"{schema}.{schema}_outbox_unpublished_idx",
        f"CREATE INDEX outbox_unpublished_idx ON {schema}.outbox (partition, seq) "
        "WHERE published_at IS NULL",
        f"CREATE INDEX outbox_published_idx ON {schema}.outbox (published_at) "
        "WHERE published_at IS NOT NULL",
        f"CREATE TABLE {schema}.outbox_partitions (partition smallint PRIMARY KEY)",
        f"INSERT INTO {schema}.outbox_partitions "
        f"SELECT generate_series(0, {OUTBOX_PARTITIONS - 1})",
        f"GRANT SELECT, UPDATE ON {schema}.outbox_partitions TO {relay}",
    ]
