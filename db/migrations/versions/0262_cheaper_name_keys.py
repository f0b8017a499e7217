"""the console's name index costs a bulk import less: 8-byte hashed pieces, PL/pgSQL (ADR 0385).

Revision ID: 0262
Revises: 0260
Create Date: 2026-12-08

0260's index made BrAPI's bulk writes of germplasm and observation units markedly slower
(``bench/search/bench_name_import.py``): per row, two SQL functions ran a jsonpath cast
from text, a set-returning query and a sorted ``DISTINCT``, and GIN stored some 40 keys of
~50 bytes (organization, entity and piece as text). Now ``domain.resource_names`` is
PL/pgSQL of plain ``->`` (``jsonb_path_query_array`` with a constant path for synonyms),
same names, same order; ``domain.name_keys`` hashes each lower-cased piece with a seed of
the organization and entity (``hashtextextended``, 8 bytes) and leaves duplicates to GIN,
which drops them itself. A hash may collide: that only adds a candidate, and the finder
keeps its tests of organization, entity and ILIKE on every candidate. The index and finder
are otherwise 0260's.
"""

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0262"
down_revision = "0260"
branch_labels = None
depends_on = None


def _name_search() -> ModuleType:
    """Migration 0260, whose index, finder and grants this one keeps."""
    spec = importlib.util.spec_from_file_location(
        "name_search_0260", Path(__file__).with_name("0260_name_search.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
KEYS = """
CREATE FUNCTION domain.name_keys(p_tenant uuid, p_entity text, p_names text[])
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
_GRAMS, _KEYS = "domain.name_grams(", "domain.name_keys("


def _install(before: ModuleType, *functions: str) -> None:
    """``functions``, then 0260's index and finder over ``domain.name_keys`` and its grants."""
    for statement in (
        *functions,
        before.INDEX.replace(_GRAMS, _KEYS),
        before.FINDER_FUNCTION.replace(_GRAMS, _KEYS),
        f"REVOKE EXECUTE ON FUNCTION {before.SIGNATURE} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {before.SIGNATURE} TO {before.DOMAIN}",
        *before.HAND_OVER,
        f"ALTER FUNCTION {before.SIGNATURE} OWNER TO {before.FINDER}",
        *before.TAKE_BACK,
    ):
        op.execute(statement)


def upgrade() -> None:
    before = _name_search()
    assert _GRAMS in before.INDEX
    assert _GRAMS in before.FINDER_FUNCTION
    before.downgrade()
    _install(before, NAMES, KEYS)


def downgrade() -> None:
    before = _name_search()
    for statement in (
        f"GRANT {before.FINDER} TO CURRENT_USER",
        f"DROP FUNCTION {before.SIGNATURE}",
        f"REVOKE {before.FINDER} FROM CURRENT_USER",
        "DROP INDEX domain.resources_name_grams_idx",
        "DROP FUNCTION domain.name_keys(uuid, text, text[])",
        "DROP FUNCTION domain.resource_names(text, jsonb)",
    ):
        op.execute(statement)
    before.upgrade()
