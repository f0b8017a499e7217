"""Placement: the directory of dedicated databases, and each database's tenant gate.

Revision ID: 0110
Revises: 0055
Create Date: 2026-12-06

Every database (shared or dedicated) gets the same ``placement`` schema; only the shared
(control) database's directory tables are read. ``placement.databases`` holds a name and an
optional ``host:port`` cluster, never credentials. ``placement.departures`` lists the
organizations that moved out of *this* database; ``placement.enter`` is called by every
unit of work with the tenant setting: it refuses writes while a move holds the
organization's fence (an advisory lock held by the mover's session, so a dead mover lifts
it) and reports a departed organization, whose caller re-reads the directory.
See docs/adr/0102-placement-directory-and-routing.md.
"""

from alembic import op
from ddl_v1 import SERVICE_ROLES

revision = "0110"
down_revision = "0055"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA placement")
    op.execute("REVOKE ALL ON SCHEMA placement FROM PUBLIC")
    op.execute(
        """
        CREATE TABLE placement.databases (
            name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
            cluster text CHECK (cluster IS NULL OR cluster ~ '^[A-Za-z0-9.:\\[\\]-]+:[0-9]{1,5}$'),
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE placement.organizations (
            organization_id uuid PRIMARY KEY,
            database text NOT NULL REFERENCES placement.databases (name),
            placed_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE placement.departures (
            organization_id uuid PRIMARY KEY,
            departed_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE FUNCTION placement.fence_key(organization uuid) RETURNS bigint
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
        $$ SELECT hashtextextended('bijmantra.placement.' || organization::text, 0) $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION placement.enter(organization uuid) RETURNS text
        LANGUAGE plpgsql AS $$
        DECLARE
            -- Shared: any number of transactions; the mover's exclusive lock waits for them.
            unfenced boolean := pg_try_advisory_xact_lock_shared(placement.fence_key(organization));
        BEGIN
            IF NOT unfenced THEN
                PERFORM set_config('transaction_read_only', 'on', true);
            END IF;
            IF EXISTS (SELECT 1 FROM placement.departures d
                       WHERE d.organization_id = organization) THEN
                RETURN 'departed';
            END IF;
            RETURN CASE WHEN unfenced THEN 'open' ELSE 'fenced' END;
        END $$
        """
    )
    roles = ", ".join(SERVICE_ROLES.values())
    op.execute(f"GRANT USAGE ON SCHEMA placement TO {roles}")
    op.execute(
        "GRANT SELECT ON placement.databases, placement.organizations, placement.departures "
        f"TO {roles}"
    )
    op.execute(
        "REVOKE ALL ON FUNCTION placement.enter(uuid), placement.fence_key(uuid) FROM PUBLIC"
    )
    op.execute(
        f"GRANT EXECUTE ON FUNCTION placement.enter(uuid), placement.fence_key(uuid) TO {roles}"
    )


def downgrade() -> None:
    op.execute("DROP SCHEMA placement CASCADE")
