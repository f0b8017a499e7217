"""a BrAPI filter finds its candidates through the GIN index despite row security (ADR 0351).

Revision ID: 0253
Revises: 0256
Create Date: 2026-12-07

Under row-level security PostgreSQL never evaluates ``document @> ...`` before the policy
(``jsonb_contains`` is not leakproof), so the GIN index of 0005 served no filtered page: each
was a pass over the organization's rows of the entity. ``domain.resource_ids_containing``
answers the DbIds of the *current* organization's live documents of one entity that contain
any of the alternatives, through the index. It runs as a NOLOGIN, NOBYPASSRLS role that may
read five columns of ``domain.resources`` through a SELECT policy of its own; the tenant is
the caller's ``app.tenant_id``, as the table's own policy takes it, so it answers nothing RLS
would not show the caller. Only domain-api's role may execute it, and that role is never
granted the finder role (it cannot SET ROLE to it). The rows a page returns still come
through RLS: the adapter keeps its own ``@>`` test on the candidates.
"""

import os

from alembic import op

revision = "0253"
down_revision = "0256"
branch_labels = None
depends_on = None

DOMAIN = os.environ.get("DOMAIN_DB_ROLE", "bijmantra_domain")
FINDER = os.environ.get("RESOURCE_FINDER_DB_ROLE", "bijmantra_resource_finder")
SIGNATURE = "domain.resource_ids_containing(text, jsonb[])"

# Not inlined (SECURITY DEFINER), so its body is planned on its own with generic parameters:
# the bitmap scan of resources_document_idx takes the array whatever its values. OFFSET 0
# keeps the organization and entity tests out of that scan: ANDed with resources_live_idx
# (every row of the organization's entity) the bitmap cost a pass over that index, the
# linear cost this function exists to remove. ROWS: a filter names a few documents; a
# small estimate makes the caller probe them by key.
FUNCTION = """
CREATE FUNCTION domain.resource_ids_containing(p_entity text, p_alternatives jsonb[])
RETURNS SETOF text LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER ROWS 100
SET search_path = pg_catalog, pg_temp AS $$
    SELECT r.db_id FROM domain.resources r
    WHERE r.tenant_id = nullif(pg_catalog.current_setting('app.tenant_id', true), '')::uuid
      AND r.entity = p_entity AND r.deleted_at IS NULL
      AND r.document OPERATOR(pg_catalog.@>) ANY (p_alternatives)
$$
"""


# A migration owner that is not a superuser (managed PostgreSQL) may hand a function to a role
# only while it can SET ROLE to it and that role may create in the schema: both are granted
# for the hand-over and taken back at once. EXECUTE is settled while the owner still owns it.
HAND_OVER = (f"GRANT {FINDER} TO CURRENT_USER", f"GRANT CREATE ON SCHEMA domain TO {FINDER}")
TAKE_BACK = (f"REVOKE CREATE ON SCHEMA domain FROM {FINDER}", f"REVOKE {FINDER} FROM CURRENT_USER")


def upgrade() -> None:
    for statement in (
        "DO $$ BEGIN "
        f"IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{FINDER}') THEN "
        f"CREATE ROLE {FINDER} NOLOGIN NOBYPASSRLS; END IF; END $$;",
        f"GRANT USAGE ON SCHEMA domain TO {FINDER}",
        f"GRANT SELECT (tenant_id, entity, db_id, document, deleted_at) ON domain.resources "
        f"TO {FINDER}",
        f"CREATE POLICY resource_finder ON domain.resources FOR SELECT TO {FINDER} USING (true)",
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
        "DROP POLICY resource_finder ON domain.resources",
        f"REVOKE SELECT (tenant_id, entity, db_id, document, deleted_at) ON domain.resources "
        f"FROM {FINDER}",
        f"REVOKE USAGE ON SCHEMA domain FROM {FINDER}",
    ):
        op.execute(statement)
