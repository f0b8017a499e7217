"""an organization's usage rows are kept two months: its first charge of a day prunes older ones.

Revision ID: 0245
Revises: 0243
Create Date: 2026-12-07

``domain.charge_usage`` (0244) added a row per organization, resource and day and never
removed one. The first charge of a day (the row was inserted, not updated) now deletes that
organization's rows of the resource older than 62 days: the table holds at most 63 days per
organization and resource, found by its primary key (ADR 0340).
"""

from alembic import op

revision = "0245"
down_revision = "0243"
branch_labels = None
depends_on = None

KEPT_DAYS = 62

CHARGE_USAGE = """
CREATE OR REPLACE FUNCTION domain.charge_usage(p_period date, p_resources text[],
                                               p_amounts bigint[], p_limits bigint[])
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tenant uuid := nullif(current_setting('app.tenant_id', true), '')::uuid;
    bound bigint;
    fresh boolean;
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
        WHERE u.used + excluded.used <= bound
        RETURNING (u.xmax = 0) INTO fresh;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'BQ429', MESSAGE = p_resources[i], HINT = bound::text;
        END IF;
        IF fresh THEN
            DELETE FROM domain.organization_usage
            WHERE tenant_id = tenant AND resource = p_resources[i]
              AND period < p_period - @KEPT@;
        END IF;
    END LOOP;
END $$
""".replace("@KEPT@", str(KEPT_DAYS))


def upgrade() -> None:
    op.execute(CHARGE_USAGE)


def downgrade() -> None:
    """0244's function: nothing is pruned."""
    op.execute(
        CHARGE_USAGE.replace("RETURNING (u.xmax = 0) INTO fresh;", ";").replace(
            "        IF fresh THEN\n            DELETE FROM domain.organization_usage\n"
            "            WHERE tenant_id = tenant AND resource = p_resources[i]\n"
            f"              AND period < p_period - {KEPT_DAYS};\n        END IF;\n",
            "",
        )
    )
