"""organizations' daily usage of shared resources, charged in the write's own transaction.

Revision ID: 0244
Revises: 0241
Create Date: 2026-12-07

One organization could fill what every organization shares: the event stream (a flood
evicts the oldest events of all) and the telemetry tables. ``domain.charge_usage`` adds a
write's amounts to the organization's row of the day and raises SQLSTATE ``BQ429`` when one
would pass its limit: the deployment's, or the organization's own in
``domain.organization_quotas`` (set by an operator as the owner role). The row lock makes
two racing writes see each other's charge (ADR 0340).
"""

from alembic import op
from ddl_v1 import tenant_table

revision = "0244"
down_revision = "0241"
branch_labels = None
depends_on = None

CHARGE_USAGE = """
CREATE FUNCTION domain.charge_usage(p_period date, p_resources text[], p_amounts bigint[],
                                    p_limits bigint[])
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := nullif(current_setting('app.tenant_id', true), '')::uuid;
    bound bigint;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_resources, 1), 0) LOOP
        CONTINUE WHEN p_amounts[i] <= 0;
        bound := NULL;
        SELECT q.daily_limit INTO bound FROM domain.organization_quotas q
        WHERE q.tenant_id = tenant AND q.resource = p_resources[i];
        bound := coalesce(bound, p_limits[i]);
        IF p_amounts[i] > bound THEN
            RAISE EXCEPTION USING ERRCODE = 'BQ429', MESSAGE = p_resources[i], HINT = bound::text;
        END IF;
        INSERT INTO domain.organization_usage AS u (tenant_id, resource, period, used)
        VALUES (tenant, p_resources[i], p_period, p_amounts[i])
        ON CONFLICT (tenant_id, resource, period) DO UPDATE SET used = u.used + excluded.used
        WHERE u.used + excluded.used <= bound;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'BQ429', MESSAGE = p_resources[i], HINT = bound::text;
        END IF;
    END LOOP;
END $$
"""


def upgrade() -> None:
    for statement in (
        "CREATE TABLE domain.organization_usage ("
        " tenant_id uuid NOT NULL,"
        " resource text NOT NULL CHECK (length(resource) <= 64),"
        " period date NOT NULL,"
        " used bigint NOT NULL CHECK (used >= 0),"
        " PRIMARY KEY (tenant_id, resource, period))",
        *tenant_table("domain", "organization_usage"),
        "CREATE TABLE domain.organization_quotas ("
        " tenant_id uuid NOT NULL,"
        " resource text NOT NULL CHECK (length(resource) <= 64),"
        " daily_limit bigint NOT NULL CHECK (daily_limit >= 0),"
        " PRIMARY KEY (tenant_id, resource))",
        *tenant_table("domain", "organization_quotas", privileges="SELECT"),
        CHARGE_USAGE,
    ):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION domain.charge_usage(date, text[], bigint[], bigint[])")
    op.execute("DROP TABLE domain.organization_quotas")
    op.execute("DROP TABLE domain.organization_usage")
