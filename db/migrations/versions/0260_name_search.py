"""the console's search box finds a part of a name, in any case, through an index (ADR 0385).

Revision ID: 0260
Revises: 0258
Create Date: 2026-12-08

The bundled PostgreSQL (pgserver) has no pg_trgm, so the trigram index is built from core
parts: ``domain.resource_names`` answers the names the search looks in (the same paths as
``bijmantra.application.brapi.name_search.SEARCHED_NAMES``), ``domain.name_grams`` their
lower-cased three-character pieces, each prefixed with the organization and the entity, and
a GIN index over them finds the documents holding every piece of a term. Under row-level
security PostgreSQL never uses that index for ``@>`` (``arraycontains`` is not leakproof),
so ``domain.resource_ids_naming`` asks it as the finder role of 0253 does for filters: the
current organization's live documents of one entity whose names hold the term (ILIKE with
the caller's escaped pattern), nothing RLS would not show the caller. The rows a page
returns still come through RLS with the adapter's own ILIKE test.

A plain ``CREATE INDEX`` (see 0256): a concurrent build cannot run inside the migration's
transaction. The index is partial: rows of entities without names are not in it.
"""

import os

from alembic import op

revision = "0260"
down_revision = "0258"
branch_labels = None
depends_on = None

DOMAIN = os.environ.get("DOMAIN_DB_ROLE", "bijmantra_domain")
FINDER = os.environ.get("RESOURCE_FINDER_DB_ROLE", "bijmantra_resource_finder")
SIGNATURE = "domain.resource_ids_naming(text, text, text)"

# The same jsonpaths as the adapter's own test of a page's rows (``resource_criteria``).
NAMES = """
CREATE FUNCTION domain.resource_names(p_entity text, p_document jsonb)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
    SELECT ARRAY(
        SELECT found.n #>> '{}'
        FROM unnest(CAST(CASE p_entity
            WHEN 'germplasm' THEN
                ARRAY['$."germplasmName"', '$."accessionNumber"', '$."synonyms"[*]."synonym"']
            WHEN 'program' THEN ARRAY['$."programName"']
            WHEN 'trial' THEN ARRAY['$."trialName"']
            WHEN 'study' THEN ARRAY['$."studyName"']
            WHEN 'location' THEN ARRAY['$."locationName"']
            WHEN 'seedlot' THEN ARRAY['$."seedLotName"']
            WHEN 'observationunit' THEN ARRAY['$."observationUnitName"']
            END AS jsonpath[])) AS p(path),
            jsonb_path_query(p_document, p.path) AS found(n)
        WHERE jsonb_typeof(found.n) = 'string')
$$
"""
GRAMS = """
CREATE FUNCTION domain.name_grams(p_tenant uuid, p_entity text, p_names text[])
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(DISTINCT p_tenant::text || '/' || p_entity || '/'
                              || substr(lower(n), i, 3)), '{}')
    FROM unnest(p_names) AS given(n), generate_series(1, length(n) - 2) AS i
$$
"""
# Only the entities with names: a write of any other (an observation) never computes pieces.
NAMED = "'germplasm', 'program', 'trial', 'study', 'location', 'seedlot', 'observationunit'"
INDEX = (
    "CREATE INDEX resources_name_grams_idx ON domain.resources USING gin "
    "(domain.name_grams(tenant_id, entity, domain.resource_names(entity, document))) "
    f"WHERE deleted_at IS NULL AND entity IN ({NAMED})"
)
# Every piece of the term names the caller's organization and the entity, so the bitmap holds
# only their documents; the explicit tests stay all the same. OFFSET 0 keeps them out of the
# index scan (see 0253); the literal list of entities lets the planner use the partial index;
# a term shorter than a piece is never asked (it would read all rows).
FINDER_FUNCTION = f"""
CREATE FUNCTION domain.resource_ids_naming(p_entity text, p_term text, p_pattern text)
RETURNS SETOF text LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER ROWS 100
SET search_path = pg_catalog, pg_temp AS $$
    SELECT f.db_id FROM (
        SELECT r.tenant_id, r.entity, r.db_id, r.document FROM domain.resources r
        WHERE r.deleted_at IS NULL AND r.entity IN ({NAMED}) AND length(p_term) >= 3
          AND domain.name_grams(r.tenant_id, r.entity, domain.resource_names(r.entity,
              r.document)) OPERATOR(pg_catalog.@>) domain.name_grams(
              nullif(current_setting('app.tenant_id', true), '')::uuid, p_entity,
              ARRAY[p_term])
        OFFSET 0) f
    WHERE f.tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
      AND f.entity = p_entity
      AND EXISTS (SELECT FROM unnest(domain.resource_names(f.entity, f.document)) AS n(name)
                  WHERE n.name OPERATOR(pg_catalog.~~*) p_pattern)
$$
"""
# As in 0253: the owner hands the function to the finder role, then gives the grants back.
HAND_OVER = (f"GRANT {FINDER} TO CURRENT_USER", f"GRANT CREATE ON SCHEMA domain TO {FINDER}")
TAKE_BACK = (f"REVOKE CREATE ON SCHEMA domain FROM {FINDER}", f"REVOKE {FINDER} FROM CURRENT_USER")


def upgrade() -> None:
    for statement in (
        NAMES,
        GRAMS,
        INDEX,
        FINDER_FUNCTION,
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
        "DROP INDEX domain.resources_name_grams_idx",
        "DROP FUNCTION domain.name_grams(uuid, text, text[])",
        "DROP FUNCTION domain.resource_names(text, jsonb)",
    ):
        op.execute(statement)
