"""a resource's audit history finds its entries through the indexes despite row security
(ADR 0356).

Revision ID: 0257
Revises: 0253
Create Date: 2026-12-07

``subject = r OR resources @> ARRAY[r]`` is one clause to the planner, and its second arm's
``arraycontains`` is not leakproof: under row-level security the whole OR is tested after
the policy, row by row over the organization's entire trail (the largest tenant table).
``domain.audit_positions_of`` answers the positions of the *current* organization's entries
about one resource, through ``audit_log_subject_idx`` OR the GIN index of 0015. It runs as
a NOLOGIN, NOBYPASSRLS role that may read four columns of ``domain.audit_log`` (never the
envelope) through a SELECT policy of its own; the tenant is the caller's ``app.tenant_id``
as the table's own policy takes it. Only domain-api's role may execute it, and that role is
never granted the finder role. The entries a page returns still come through RLS by key,
with the adapter's own test.
"""

import os

from alembic import op

revision = "0257"
down_revision = "0253"
branch_labels = None
depends_on = None

DOMAIN = os.environ.get("DOMAIN_DB_ROLE", "bijmantra_domain")
FINDER = os.environ.get("AUDIT_FINDER_DB_ROLE", "bijmantra_audit_finder")
SIGNATURE = "domain.audit_positions_of(text)"
COLUMNS = "tenant_id, position, subject, resources"

# Not inlined (SECURITY DEFINER): planned on its own, a BitmapOr of the organization's
# subject index entries and the GIN entries of the resource. ROWS: a history is short.
FUNCTION = """
CREATE FUNCTION domain.audit_positions_of(p_resource text)
RETURNS SETOF bigint LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER ROWS 20
SET search_path = pg_catalog, pg_temp AS $$
    SELECT a.position FROM domain.audit_log a
    WHERE a.tenant_id OPERATOR(pg_catalog.=)
          nullif(pg_catalog.current_setting('app.tenant_id', true), '')::pg_catalog.uuid
      AND (a.subject OPERATOR(pg_catalog.=) p_resource
           OR a.resources OPERATOR(pg_catalog.@>) ARRAY[p_resource])
$$
"""


# As 0253: an owner that is not a superuser hands the function over only while it may SET ROLE
# to the finder and the finder may create in the schema; EXECUTE is settled before.
HAND_OVER = (f"GRANT {FINDER} TO CURRENT_USER", f"GRANT CREATE ON SCHEMA domain TO {FINDER}")
TAKE_BACK = (f"REVOKE CREATE ON SCHEMA domain FROM {FINDER}", f"REVOKE {FINDER} FROM CURRENT_USER")


def upgrade() -> None:
    for statement in (
        "DO $$ BEGIN "
        f"IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{FINDER}') THEN "
        f"CREATE ROLE {FINDER} NOLOGIN NOBYPASSRLS; END IF; END $$;",
        f"GRANT USAGE ON SCHEMA domain TO {FINDER}",
        f"GRANT SELECT ({COLUMNS}) ON domain.audit_log TO {FINDER}",
        f"CREATE POLICY audit_finder ON domain.audit_log FOR SELECT TO {FINDER} USING (true)",
        FUNCTION,
        f"REVOKE EXECUTE ON FUNCTION {SIGNATURE} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {SIGNATURE} TO {DOMAIN}",
        *HAND_OVER,
        f"ALTER FUNCTION {SIGNATURE} OWNER TO {FINDER}",
        *TAKE_BACK,
    ):
        op.execute(statement)


def downgrade() -> None:
    for statement in (
        f"GRANT {FINDER} TO CURRENT_USER",
        f"DROP FUNCTION {SIGNATURE}",
        f"REVOKE {FINDER} FROM CURRENT_USER",
        "DROP POLICY audit_finder ON domain.audit_log",
        f"REVOKE SELECT ({COLUMNS}) ON domain.audit_log FROM {FINDER}",
        f"REVOKE USAGE ON SCHEMA domain FROM {FINDER}",
    ):
        op.execute(statement)
