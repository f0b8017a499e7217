"""the console's name index costs a bulk import less: 8-byte hashed pieces, PL/pgSQL (ADR 0385).

Revision ID: 0262
Revises: 0260
Create Date: 2026-12-08

0260's index made BrAPI's bulk writes of germplasm and observation units markedly slower
(``bench/search/bench_name_import.py``): per row, two SQL functions ran a jsonpath cast
from text, a set-returning query and a sorted ``DISTINCT``, and GIN stored some 40 keys of
~50 bytes (organization, entity and piece as text). Now ``domain.resource_names`` is
PL/pgSQL of plain ``->`` (``jsonb_path_query_array`` with a constant path for synonyms),
same names, same order; ``domain.name_grams`` hashes each lower-cased piece with a seed of
the organization and entity (``hashtextextended``, 8 bytes) and leaves duplicates to GIN,
which drops them itself. A hash may collide: that only adds a candidate, and the finder
keeps its tests of organization, entity and ILIKE on every candidate. The index is otherwise
0260's; the finder, which calls both functions by name, is unchanged.
"""

from alembic import op

revision = "0262"
down_revision = "0260"
branch_labels = None
depends_on = None

NAMES = """
CREATE FUNCTION domain.resource_names(p_entity text, p_document jsonb)
RETURNS text[] LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found jsonb := coalesce(CASE p_entity
        WHEN 'germplasm' THEN jsonb_build_array(p_document -> 'germplasmName',
            p_document -> 'accessionNumber')
            || jsonb_path_query_array(p_document, '$."synonyms"[*]."synonym"')
        WHEN 'program' THEN jsonb_build_array(p_document -> 'programName')
        WHEN 'trial' THEN jsonb_build_array(p_document -> 'trialName')
        WHEN 'study' THEN jsonb_build_array(p_document -> 'studyName')
        WHEN 'location' THEN jsonb_build_array(p_document -> 'locationName')
        WHEN 'seedlot' THEN jsonb_build_array(p_document -> 'seedLotName')
        WHEN 'observationunit' THEN jsonb_build_array(p_document -> 'observationUnitName')
        END, '[]');
    names text[] := '{}';
BEGIN
    FOR i IN 0 .. jsonb_array_length(found) - 1 LOOP
        IF jsonb_typeof(found -> i) = 'string' THEN
            names := names || (found ->> i);
        END IF;
    END LOOP;
    RETURN names;
END
$$
"""
GRAMS = """
CREATE FUNCTION domain.name_grams(p_tenant uuid, p_entity text, p_names text[])
RETURNS bigint[] LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    seed bigint := hashtextextended(p_tenant::text || '/' || p_entity, 0);
    keys bigint[] := '{}';
    name text;
BEGIN
    FOREACH name IN ARRAY coalesce(p_names, '{}') LOOP
        name := lower(name);
        FOR i IN 1 .. coalesce(length(name), 0) - 2 LOOP
            keys := keys || hashtextextended(substr(name, i, 3), seed);
        END LOOP;
    END LOOP;
    RETURN keys;
END
$$
"""
NAMED = "'germplasm', 'program', 'trial', 'study', 'location', 'seedlot', 'observationunit'"
INDEX = (
    "CREATE INDEX resources_name_grams_idx ON domain.resources USING gin "
    "(domain.name_grams(tenant_id, entity, domain.resource_names(entity, document))) "
    f"WHERE deleted_at IS NULL AND entity IN ({NAMED})"
)
DROP = (
    "DROP INDEX domain.resources_name_grams_idx",
    "DROP FUNCTION domain.name_grams(uuid, text, text[])",
    "DROP FUNCTION domain.resource_names(text, jsonb)",
)
# 0260's own, for the way down.
OLD_NAMES = """
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
OLD_GRAMS = """
CREATE FUNCTION domain.name_grams(p_tenant uuid, p_entity text, p_names text[])
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(DISTINCT p_tenant::text || '/' || p_entity || '/'
                              || substr(lower(n), i, 3)), '{}')
    FROM unnest(p_names) AS given(n), generate_series(1, length(n) - 2) AS i
$$
"""


def upgrade() -> None:
    for statement in (*DROP, NAMES, GRAMS, INDEX):
        op.execute(statement)


def downgrade() -> None:
    for statement in (*DROP, OLD_NAMES, OLD_GRAMS, INDEX):
        op.execute(statement)
