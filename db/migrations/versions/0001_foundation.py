"""Foundation: service schemas, germplasm, the outbox, worker idempotency, identity basics.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from alembic import op
from ddl_v1 import (
    OUTBOX_RELAY_ROLE,
    SERVICE_ROLES,
    ensure_role,
    service_schema,
    tenant_table,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DOMAIN = SERVICE_ROLES["domain"]


def run(*statements: str) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    run(*service_schema("domain"), *service_schema("identity"), *service_schema("analytics"))

    run(
        """
        CREATE TABLE domain.germplasm (
            tenant_id uuid NOT NULL,
            germplasm_db_id text NOT NULL,
            germplasm_name text NOT NULL,
            germplasm_pui text NOT NULL,
            common_crop_name text NOT NULL,
            accession_number text,
            acquisition_date date,
            additional_info jsonb NOT NULL DEFAULT '{}',
            biological_status_of_accession_code text,
            biological_status_of_accession_description text,
            breeding_method_db_id text,
            breeding_method_name text,
            collection text,
            country_of_origin_code text,
            default_display_name text,
            documentation_url text,
            donors jsonb NOT NULL DEFAULT '[]',
            external_references jsonb NOT NULL DEFAULT '[]',
            genus text,
            germplasm_origin jsonb NOT NULL DEFAULT '[]',
            germplasm_preprocessing text,
            institute_code text,
            institute_name text,
            pedigree text,
            seed_source text,
            seed_source_description text,
            species text,
            species_authority text,
            storage_types jsonb NOT NULL DEFAULT '[]',
            subtaxa text,
            subtaxa_authority text,
            synonyms jsonb NOT NULL DEFAULT '[]',
            taxon_ids jsonb NOT NULL DEFAULT '[]',
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, germplasm_db_id)
        )
        """,
        "CREATE INDEX germplasm_name_idx ON domain.germplasm (tenant_id, germplasm_name)",
        "CREATE INDEX germplasm_crop_idx ON domain.germplasm (tenant_id, common_crop_name)",
        *tenant_table("domain", "germplasm"),
    )

    # Transactional outbox: envelopes are stored encoded, ready to publish as they are.
    run(
        """
        CREATE TABLE domain.outbox (
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
        "CREATE INDEX outbox_unpublished_idx ON domain.outbox (seq) WHERE published_at IS NULL",
        *tenant_table("domain", "outbox", privileges="INSERT"),
        "GRANT USAGE ON SEQUENCE domain.outbox_seq_seq TO " + DOMAIN,
        ensure_role(OUTBOX_RELAY_ROLE, member_of_service=DOMAIN),
        f"GRANT USAGE ON SCHEMA domain TO {OUTBOX_RELAY_ROLE}",
        f"GRANT SELECT, UPDATE, DELETE ON domain.outbox TO {OUTBOX_RELAY_ROLE}",
        f"CREATE POLICY relay_all_tenants ON domain.outbox TO {OUTBOX_RELAY_ROLE} "
        "USING (true) WITH CHECK (true)",
        """
        CREATE FUNCTION domain.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('bijmantra_outbox', ''); RETURN NULL; END $$
        """,
        "CREATE TRIGGER outbox_notify AFTER INSERT ON domain.outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION domain.notify_outbox()",
    )

    # analytics-worker: idempotent consumers and the germplasm projection it maintains.
    run(
        """
        CREATE TABLE analytics.processed_events (
            tenant_id uuid NOT NULL,
            consumer text NOT NULL,
            event_id uuid NOT NULL,
            event_type text NOT NULL,
            subject text NOT NULL,
            processed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, event_id)
        )
        """,
        *tenant_table("analytics", "processed_events", privileges="SELECT, INSERT"),
        """
        CREATE TABLE analytics.crop_germplasm_counts (
            tenant_id uuid NOT NULL,
            common_crop_name text NOT NULL,
            germplasm_count bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (tenant_id, common_crop_name)
        )
        """,
        *tenant_table("analytics", "crop_germplasm_counts"),
    )

    # identity: organizations are the tenants; memberships carry per-organization roles.
    run(
        """
        CREATE TABLE identity.organizations (
            id uuid PRIMARY KEY,
            name text NOT NULL UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        """
        CREATE TABLE identity.users (
            id uuid PRIMARY KEY,
            email text NOT NULL,
            display_name text NOT NULL,
            password_hash text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        "CREATE UNIQUE INDEX users_email_idx ON identity.users (lower(email))",
        """
        CREATE TABLE identity.memberships (
            tenant_id uuid NOT NULL REFERENCES identity.organizations(id),
            user_id uuid NOT NULL REFERENCES identity.users(id),
            roles text[] NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, user_id)
        )
        """,
        "ALTER TABLE identity.memberships ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE identity.memberships FORCE ROW LEVEL SECURITY",
        # A member row is visible to its organization, and to the user it belongs to
        # (login lists a user's organizations before one is chosen).
        f"CREATE POLICY tenant_or_self ON identity.memberships TO {SERVICE_ROLES['identity']} "
        "USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
        "OR user_id = nullif(current_setting('app.user_id', true), '')::uuid) "
        "WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON identity.memberships TO "
        f"{SERVICE_ROLES['identity']}",
        f"GRANT SELECT, INSERT, UPDATE ON identity.organizations, identity.users "
        f"TO {SERVICE_ROLES['identity']}",
        """
        CREATE TABLE identity.signing_keys (
            kid text PRIMARY KEY,
            algorithm text NOT NULL,
            private_key_pem text NOT NULL,
            public_jwk jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            retired_at timestamptz
        )
        """,
        f"GRANT SELECT, INSERT, UPDATE ON identity.signing_keys TO {SERVICE_ROLES['identity']}",
    )
