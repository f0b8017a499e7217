"""sensors: device profiles, devices, time-partitioned readings and their rollups.

Revision ID: 0070
Revises: 0090
Create Date: 2026-12-06

Readings are partitioned by month on their time; domain-api creates partitions ahead and
drops whole partitions past retention through two SECURITY DEFINER functions (the service
role owns no table and may not run DDL itself). The service role reaches readings only
through the parent table, where row-level security is enabled and forced. Rollups (1m, 1h,
1d: min, max, sum, count) are kept current by the same statement that inserts readings.
Written out in full (no live imports): it must mean the same thing forever.
"""

import os

from alembic import op

revision = "0070"
down_revision = "0090"
branch_labels = None
depends_on = None

DOMAIN = os.environ.get("DOMAIN_DB_ROLE", "bijmantra_domain")
TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"


def tenant_table(table: str, privileges: str) -> list[str]:
    return [
        f"ALTER TABLE domain.{table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE domain.{table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON domain.{table} TO {DOMAIN} "
        f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})",
        f"GRANT {privileges} ON domain.{table} TO {DOMAIN}",
    ]


ENSURE_PARTITIONS = """
CREATE FUNCTION domain.sensor_reading_partitions(p_from timestamptz, p_to timestamptz)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    month date := date_trunc('month', p_from AT TIME ZONE 'UTC')::date;
    made integer := 0;
    part text;
BEGIN
    IF p_to < p_from OR p_to - p_from > interval '800 days' THEN
        RAISE EXCEPTION 'partition range % .. % refused', p_from, p_to;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('domain.sensor_readings partitions'));
    WHILE (month::timestamp AT TIME ZONE 'UTC') <= p_to LOOP
        part := 'sensor_readings_' || to_char(month, 'YYYY_MM');
        IF to_regclass('domain.' || part) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE domain.%I PARTITION OF domain.sensor_readings '
                'FOR VALUES FROM (%L) TO (%L)',
                part,
                month::timestamp AT TIME ZONE 'UTC',
                (month + interval '1 month')::timestamp AT TIME ZONE 'UTC'
            );
            -- Reached only through the parent, but kept as strict as every tenant table.
            EXECUTE format('ALTER TABLE domain.%I ENABLE ROW LEVEL SECURITY', part);
            EXECUTE format('ALTER TABLE domain.%I FORCE ROW LEVEL SECURITY', part);
            EXECUTE format(
                'CREATE POLICY tenant_isolation ON domain.%I TO @ROLE@ USING (tenant_id = '
                'nullif(current_setting(''app.tenant_id'', true), '''')::uuid)',
                part
            );
            made := made + 1;
        END IF;
        month := (month + interval '1 month')::date;
    END LOOP;
    RETURN made;
END $$
"""

DROP_PARTITIONS = """
CREATE FUNCTION domain.sensor_drop_reading_partitions(p_before timestamptz)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    part record;
    dropped integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('domain.sensor_readings partitions'));
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'domain.sensor_readings'::regclass
          AND c.relname ~ '^sensor_readings_[0-9]{4}_[0-9]{2}$'
    LOOP
        IF (to_date(right(part.relname, 7), 'YYYY_MM') + interval '1 month')::timestamp
           AT TIME ZONE 'UTC' <= p_before THEN
            EXECUTE format('DROP TABLE domain.%I', part.relname);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END $$
"""


def upgrade() -> None:
    statements = [
        """
        CREATE TABLE domain.sensor_profiles (
            tenant_id uuid NOT NULL,
            profile_id text NOT NULL,
            name text NOT NULL,
            metrics jsonb NOT NULL,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, profile_id),
            UNIQUE (tenant_id, name)
        )
        """,
        *tenant_table("sensor_profiles", "SELECT, INSERT"),
        """
        CREATE TABLE domain.sensor_devices (
            tenant_id uuid NOT NULL,
            device_id text NOT NULL,
            name text NOT NULL,
            profile_id text NOT NULL,
            location_db_id text NOT NULL,
            study_db_id text,
            seed_store text,
            state text NOT NULL CHECK (state IN
                ('registered', 'claim_issued', 'claimed', 'commissioned', 'revoked')),
            created_at timestamptz NOT NULL,
            claim_hash text,
            claim_expires_at timestamptz,
            claimed_at timestamptz,
            credential_hash text,
            commissioned_at timestamptz,
            revoked_at timestamptz,
            last_seen_at timestamptz,
            PRIMARY KEY (tenant_id, device_id),
            FOREIGN KEY (tenant_id, profile_id) REFERENCES domain.sensor_profiles
        )
        """,
        "CREATE INDEX sensor_devices_study_idx ON domain.sensor_devices (tenant_id, study_db_id)",
        "CREATE INDEX sensor_devices_location_idx ON domain.sensor_devices "
        "(tenant_id, location_db_id)",
        *tenant_table("sensor_devices", "SELECT, INSERT, UPDATE"),
        """
        CREATE TABLE domain.sensor_readings (
            tenant_id uuid NOT NULL,
            device_id text NOT NULL,
            metric text NOT NULL,
            at timestamptz NOT NULL,
            value double precision NOT NULL,
            PRIMARY KEY (tenant_id, device_id, metric, at)
        ) PARTITION BY RANGE (at)
        """,
        *tenant_table("sensor_readings", "SELECT, INSERT"),
        """
        CREATE TABLE domain.sensor_rollups (
            tenant_id uuid NOT NULL,
            device_id text NOT NULL,
            metric text NOT NULL,
            resolution text NOT NULL CHECK (resolution IN ('1m', '1h', '1d')),
            bucket timestamptz NOT NULL,
            minimum double precision NOT NULL,
            maximum double precision NOT NULL,
            total double precision NOT NULL,
            count bigint NOT NULL,
            PRIMARY KEY (tenant_id, device_id, metric, resolution, bucket)
        )
        """,
        *tenant_table("sensor_rollups", "SELECT, INSERT, UPDATE"),
        ENSURE_PARTITIONS.replace("@ROLE@", DOMAIN),
        DROP_PARTITIONS,
        "REVOKE ALL ON FUNCTION domain.sensor_reading_partitions(timestamptz, timestamptz), "
        "domain.sensor_drop_reading_partitions(timestamptz) FROM PUBLIC",
        "GRANT EXECUTE ON FUNCTION domain.sensor_reading_partitions(timestamptz, timestamptz), "
        f"domain.sensor_drop_reading_partitions(timestamptz) TO {DOMAIN}",
    ]
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION domain.sensor_drop_reading_partitions(timestamptz)")
    op.execute("DROP FUNCTION domain.sensor_reading_partitions(timestamptz, timestamptz)")
    for table in ("sensor_rollups", "sensor_readings", "sensor_devices", "sensor_profiles"):
        op.execute(f"DROP TABLE domain.{table}")
