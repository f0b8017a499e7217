"""The console's name search on PostgreSQL (migration 0260, ADR 0385): a part of a name in any
case, a ``%`` or ``_`` meaning itself, another organization's documents never found, and
``domain.resource_ids_naming`` (which reads past row security to reach the index) attacked
as the domain role."""

from __future__ import annotations

import os
import uuid
from typing import Any

import msgspec
import psycopg
import pytest
from bijmantra.adapters.postgres import unit_of_work_factory
from bijmantra.application.brapi.name_search import SEARCHED_NAMES, name_contains
from bijmantra.kernel import PageRequest, TenantId
from bijmantra.testkit.definers import (
    assert_only_the_domain_role_executes,
    migrated_down,
    seed_documents,
)
from bijmantra.testkit.provision import ProvisionedDatabase
from bijmantra.testkit.statements import Recording
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

FINDER = os.environ.get("RESOURCE_FINDER_DB_ROLE", "bijmantra_resource_finder")
NAMING = "SELECT id FROM domain.resource_ids_naming(%s, %s, %s) id ORDER BY id"
GERMPLASM = {
    "ir64": {"germplasmName": "IR64", "accessionNumber": "IRGC 66970"},
    "ir8": {"germplasmName": "IR8", "synonyms": [{"synonym": "Miracle rice"}]},
    "pct": {"germplasmName": "100% pure line"},
    "under": {"germplasmName": "line_7"},
    "slash": {"germplasmName": "A\\B cross"},
    "plain": {"germplasmName": "Line 7 x Nerica"},
    "gone": {"germplasmName": "IR64 deleted"},
}


def _seed(owner_url: str, tenant: uuid.UUID, entity: str, documents: dict[str, Any]) -> None:
    seed_documents(owner_url, tenant, entity, documents)
    with psycopg.connect(owner_url) as conn:
        conn.execute(
            "UPDATE domain.resources SET deleted_at = now() "
            "WHERE tenant_id = %s AND entity = %s AND db_id = 'gone'",
            (tenant, entity),
        )


@pytest.fixture
def organizations(database: ProvisionedDatabase) -> tuple[TenantId, TenantId]:
    """Ours holds ``GERMPLASM``; theirs holds an IR64 of its own and a location named IR64."""
    ours, theirs = uuid.uuid4(), uuid.uuid4()
    _seed(database.owner_url, ours, "germplasm", GERMPLASM)
    _seed(database.owner_url, theirs, "germplasm", {"their-ir64": {"germplasmName": "IR64-B"}})
    _seed(database.owner_url, ours, "location", {"loc": {"locationName": "IR64 plot"}})
    return TenantId(ours), TenantId(theirs)


async def _found(engine: AsyncEngine, tenant: TenantId, entity: str, term: str) -> list[str]:
    factory = unit_of_work_factory(engine, source="test")
    async with factory(tenant) as uow:
        page = await uow.resources.page(entity, (name_contains(entity, term),), PageRequest(0, 100))
    found: list[dict[str, Any]] = msgspec.json.decode(page.documents)
    assert page.total_count == len(found)
    return sorted(str(d.get("germplasmName") or d.get("locationName")) for d in found)


async def test_a_part_of_a_name_in_any_case_finds_only_this_organizations_live_documents(
    engine: AsyncEngine, organizations: tuple[TenantId, TenantId]
) -> None:
    ours, theirs = organizations
    assert await _found(engine, ours, "germplasm", "ir6") == ["IR64"]
    assert await _found(engine, ours, "germplasm", "Ir") == ["IR64", "IR8"]
    assert await _found(engine, ours, "germplasm", "66970") == ["IR64"]  # accession number
    assert await _found(engine, ours, "germplasm", "MIRACLE") == ["IR8"]  # synonym
    assert await _found(engine, ours, "germplasm", "nerica") == ["Line 7 x Nerica"]
    assert await _found(engine, ours, "location", "ir64") == ["IR64 plot"]
    assert await _found(engine, theirs, "germplasm", "ir64") == ["IR64-B"]
    assert await _found(engine, theirs, "germplasm", "IR8") == []
    assert await _found(engine, ours, "germplasm", "ir64-b") == []


async def test_wildcards_in_the_term_mean_themselves(
    engine: AsyncEngine, organizations: tuple[TenantId, TenantId]
) -> None:
    ours, _ = organizations
    assert await _found(engine, ours, "germplasm", "%") == ["100% pure line"]
    assert await _found(engine, ours, "germplasm", "0% p") == ["100% pure line"]
    assert await _found(engine, ours, "germplasm", "e_7") == ["line_7"]
    assert await _found(engine, ours, "germplasm", "_") == ["line_7"]
    assert await _found(engine, ours, "germplasm", "\\") == ["A\\B cross"]
    assert await _found(engine, ours, "germplasm", "a\\b") == ["A\\B cross"]
    assert await _found(engine, ours, "germplasm", "line%7") == []


async def test_a_term_of_three_characters_is_read_through_the_finder(
    recorded: Recording, organizations: tuple[TenantId, TenantId]
) -> None:
    ours, _ = organizations
    assert await _found(recorded.engine, ours, "germplasm", "rac") == ["IR8"]
    asked = [s for s, _, _ in recorded.sent if "resource_ids_naming" in s]
    keyed = [p for s, p, _ in recorded.sent if "db_id = ANY(CAST(%(ids)s" in s]
    assert asked
    assert keyed[0]["ids"] == ["ir8"]
    recorded.sent.clear()
    assert await _found(recorded.engine, ours, "germplasm", "ir") == ["IR64", "IR8"]
    assert not [s for s, _, _ in recorded.sent if "resource_ids_naming" in s]


def _naming(url: str, tenant: str | None, term: str, pattern: str) -> list[str]:
    with psycopg.connect(url) as conn:
        if tenant is not None:
            conn.execute("SELECT set_config('app.tenant_id', %s, false)", (tenant,))
        return [row[0] for row in conn.execute(NAMING, ("germplasm", term, pattern))]


def test_the_finder_never_answers_past_the_callers_organization(
    database: ProvisionedDatabase, organizations: tuple[TenantId, TenantId]
) -> None:
    ours, theirs = organizations
    url = database.domain_url
    assert _naming(url, str(ours), "ir6", "%ir6%") == ["ir64"]
    assert _naming(url, str(theirs), "ir6", "%ir6%") == ["their-ir64"]
    # A pattern that matches anything still answers only the term's pieces, in one's own rows.
    assert _naming(url, str(theirs), "nerica", "%") == []
    assert _naming(url, str(ours), "ir", "%") == []  # too short: nothing, never a pass
    assert _naming(url, None, "ir6", "%") == []
    assert _naming(url, "", "ir6", "%") == []
    assert _naming(url, str(uuid.uuid4()), "ir6", "%") == []


def test_only_the_domain_role_may_execute_the_name_finder(database: ProvisionedDatabase) -> None:
    assert_only_the_domain_role_executes(
        database,
        "domain.resource_ids_naming(text, text, text)",
        FINDER,
        NAMING,
        ("germplasm", "ir6", "%ir6%"),
    )


def test_the_index_holds_every_name_the_application_searches(
    database: ProvisionedDatabase,
) -> None:
    """``domain.resource_names`` (the index) and ``SEARCHED_NAMES`` (each page's own test)
    name the same paths: a document with a marker at each path answers each marker."""
    with psycopg.connect(database.owner_url) as conn:
        for entity, paths in SEARCHED_NAMES.items():
            for n, path in enumerate(paths):
                node: Any = f"marker-{n}"
                for step in reversed(path[1:]):
                    node = [node] if step == "*" else {step: node}
                document = msgspec.json.encode({path[0]: node}).decode()
                row = conn.execute(
                    "SELECT domain.resource_names(%s, CAST(%s AS jsonb))", (entity, document)
                ).fetchone()
                assert row == ([f"marker-{n}"],), (entity, path)
        assert conn.execute(
            "SELECT domain.resource_names('observation', '{\"germplasmName\": \"x\"}')"
        ).fetchone() == ([],)


def test_the_migration_goes_down_and_up_again(database: ProvisionedDatabase) -> None:
    with migrated_down(database, "0260", "0258") as url, psycopg.connect(url) as conn:
        assert conn.execute(
            "SELECT to_regprocedure('domain.resource_ids_naming(text, text, text)'), "
            "to_regclass('domain.resources_name_grams_idx')"
        ).fetchone() == (None, None)


def test_the_hashed_pieces_go_down_to_0260s_text_and_up_again(
    database: ProvisionedDatabase,
) -> None:
    """0262 makes the pieces 8-byte hashes under the same index name and finder."""
    returned = (
        "SELECT pg_get_function_result('domain.name_grams(uuid, text, text[])'::regprocedure), "
        "to_regclass('domain.resources_name_grams_idx') IS NOT NULL"
    )
    with migrated_down(database, "0262", "0260") as url, psycopg.connect(url) as conn:
        assert conn.execute(returned).fetchone() == ("text[]", True)
    with psycopg.connect(database.owner_url) as conn:
        assert conn.execute(returned).fetchone() == ("bigint[]", True)
