"""``domain.resource_ids_containing`` (migration 0253, ADR 0351) reads past row-level security
to reach the GIN index: attacked here as the domain role, and the store's filters checked to
answer as they did before, through it and past its cap."""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
from bijmantra.adapters.postgres import unit_of_work_factory
from bijmantra.adapters.postgres.resource_criteria import CANDIDATES
from bijmantra.application.ports.documents import Range
from bijmantra.kernel import PageRequest, TenantId
from bijmantra.testkit.definers import (
    assert_caller_cannot_become,
    assert_only_the_domain_role_executes,
    assert_role_confined,
    migrated_down,
    seed_documents,
)
from bijmantra.testkit.provision import ProvisionedDatabase
from bijmantra.testkit.statements import Recording

pytestmark = pytest.mark.integration

FINDER = os.environ.get("RESOURCE_FINDER_DB_ROLE", "bijmantra_resource_finder")
FIND = "SELECT id FROM domain.resource_ids_containing(%s, CAST(%s AS jsonb[])) id ORDER BY id"
SAME = ['{"studyDbId": "s1"}']


@pytest.fixture
def two_organizations(database: ProvisionedDatabase) -> tuple[uuid.UUID, uuid.UUID, str]:
    """Two organizations holding the same DbIds with the same documents of a fresh entity;
    one of each organization's is soft-deleted (``gone``)."""
    ours, theirs, entity = uuid.uuid4(), uuid.uuid4(), f"finder-{uuid.uuid4().hex[:8]}"
    documents = {f"d{i}": {"studyDbId": "s1", "n": i} for i in range(5)}
    documents["gone"] = {"studyDbId": "s1"}
    for tenant in (ours, theirs):
        seed_documents(database.owner_url, tenant, entity, documents)
    seed_documents(database.owner_url, theirs, entity, {"theirs": {"studyDbId": "s1"}})
    with psycopg.connect(database.owner_url) as conn:
        conn.execute(
            "UPDATE domain.resources SET deleted_at = now() WHERE entity = %s AND db_id = 'gone'",
            (entity,),
        )
    return ours, theirs, entity


def _find(url: str, tenant: str | None, entity: str) -> list[str]:
    with psycopg.connect(url) as conn:
        if tenant is not None:
            conn.execute("SELECT set_config('app.tenant_id', %s, false)", (tenant,))
        return [row[0] for row in conn.execute(FIND, (entity, SAME))]


def test_the_finder_answers_only_the_current_organizations_live_ids(
    database: ProvisionedDatabase, two_organizations: tuple[uuid.UUID, uuid.UUID, str]
) -> None:
    ours, theirs, entity = two_organizations
    assert _find(database.domain_url, str(ours), entity) == [f"d{i}" for i in range(5)]
    assert _find(database.domain_url, str(theirs), entity) == [
        *(f"d{i}" for i in range(5)),
        "theirs",
    ]
    assert _find(database.domain_url, None, entity) == []
    assert _find(database.domain_url, "", entity) == []
    assert _find(database.domain_url, str(uuid.uuid4()), entity) == []


def test_a_caller_cannot_become_the_finder_nor_read_past_row_security(
    database: ProvisionedDatabase, two_organizations: tuple[uuid.UUID, uuid.UUID, str]
) -> None:
    ours, _, entity = two_organizations
    assert_caller_cannot_become(database.domain_url, FINDER)
    assert_role_confined(database.owner_url, FINDER)
    with psycopg.connect(database.domain_url, autocommit=True) as conn:
        # Without an organization the table shows nothing; with one, that one's rows only.
        query = "SELECT count(*) FROM domain.resources WHERE entity = %s"
        assert conn.execute(query, (entity,)).fetchone() == (0,)
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(ours),))
        assert conn.execute(query, (entity,)).fetchone() == (6,)
    with psycopg.connect(database.owner_url) as conn:
        # The finder reads five columns, never the bodies; it writes nothing.
        assert conn.execute(
            "SELECT has_column_privilege(%s, 'domain.resources', 'body', 'SELECT'), "
            "has_table_privilege(%s, 'domain.resources', 'INSERT, UPDATE, DELETE')",
            (FINDER, FINDER),
        ).fetchone() == (False, False)


def test_only_the_domain_role_may_execute_the_finder(database: ProvisionedDatabase) -> None:
    assert_only_the_domain_role_executes(
        database,
        "domain.resource_ids_containing(text, jsonb[])",
        FINDER,
        FIND,
        ("germplasm", SAME),
    )


def test_the_callers_search_path_and_temporary_objects_change_nothing(
    database: ProvisionedDatabase, two_organizations: tuple[uuid.UUID, uuid.UUID, str]
) -> None:
    ours, theirs, entity = two_organizations
    with psycopg.connect(database.domain_url) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(ours),))
        conn.execute(
            "CREATE FUNCTION pg_temp.current_setting(text, boolean) RETURNS text "
            f"LANGUAGE sql AS $$ SELECT '{theirs}' $$"
        )
        conn.execute("CREATE TEMP TABLE resources (LIKE domain.resources INCLUDING DEFAULTS)")
        conn.execute(
            "INSERT INTO pg_temp.resources (tenant_id, entity, db_id, document, body) "
            "VALUES (%s, %s, 'planted', CAST(%s AS jsonb), '')",
            (ours, entity, SAME[0]),
        )
        conn.execute("SET search_path = pg_temp, domain, public")
        found = [row[0] for row in conn.execute(FIND, (entity, SAME))]
    assert found == [f"d{i}" for i in range(5)]


@pytest.fixture
def organization(database: ProvisionedDatabase) -> tuple[TenantId, TenantId, str]:
    """``CANDIDATES + 3`` documents of one study (past the finder's cap), a few of another,
    and the same in a second organization, of a fresh entity."""
    ours, theirs, entity = uuid.uuid4(), uuid.uuid4(), f"finder-{uuid.uuid4().hex[:8]}"
    narrow = {f"n{i}": {"studyDbId": "narrow", "value": i, "tag": i % 2} for i in range(6)}
    for tenant in (ours, theirs):
        seed_documents(database.owner_url, tenant, entity, narrow)
        with psycopg.connect(database.owner_url) as conn:
            conn.execute(
                "INSERT INTO domain.resources (tenant_id, entity, db_id, document, body) "
                "SELECT %s, %s, 'b' || lpad(i::text, 5, '0'), d, convert_to(d::text, 'UTF8') "
                "FROM generate_series(0, %s) i, "
                "LATERAL jsonb_build_object('studyDbId', 'broad', 'value', i) d",
                (tenant, entity, CANDIDATES + 2),
            )
    return TenantId(ours), TenantId(theirs), entity


async def test_filters_answer_the_same_through_the_finder_and_past_its_cap(
    recorded: Recording, organization: tuple[TenantId, TenantId, str]
) -> None:
    ours, _, entity = organization
    factory = unit_of_work_factory(recorded.engine, source="test")
    narrow, broad = ({"studyDbId": "narrow"},), ({"studyDbId": "broad"},)
    everything = PageRequest(0, 2000)
    async with factory(ours) as uow:
        store = uow.resources
        page = await store.page(entity, (narrow,), everything)
        assert page.total_count == 6
        assert page.count == 6
        assert (await store.page(entity, (broad,), PageRequest(0, 10))).total_count == (
            CANDIDATES + 3
        )
        both = await store.matching_ids(entity, (narrow, broad), 10)
        assert both == []
        tagged = await store.matching_ids(entity, (narrow, ({"tag": 1},)), 10)
        assert tagged == ["n1", "n3", "n5"]
        ranged = await store.matching_ids(entity, (broad, Range(("value",), 10, 12)), 10)
        assert ranged == ["b00010", "b00011", "b00012"]
        assert sorted(await store.distinct_values(entity, (narrow,), "tag")) == [0, 1]
        each = await store.matching_each(entity, [(narrow,), (broad,), ()], 2)
        assert [[d["value"] for d in found] for found in each] == [[0, 1], [0, 1], [0, 1]]
        streamed = [
            d["value"]
            async for chunk in store.stream(entity, (narrow, ({"tag": 0},)), ["db_id"], 2)
            for d in chunk
        ]
        assert streamed == [0, 2, 4]
    # The narrow filter read its rows by key, among the finder's candidates.
    asked = [s for s, _, _ in recorded.sent if "resource_ids_containing" in s]
    keyed = [p for s, p, _ in recorded.sent if "db_id = ANY(CAST(%(ids)s" in s]
    assert asked
    assert sorted(keyed[0]["ids"]) == [f"n{i}" for i in range(6)]


def test_the_migration_goes_down_and_up_again_on_a_cluster_that_has_the_role(
    database: ProvisionedDatabase,
) -> None:
    with migrated_down(database, "0253", "0256") as url, psycopg.connect(url) as conn:
        assert conn.execute(
            "SELECT to_regprocedure('domain.resource_ids_containing(text, jsonb[])'), "
            "(SELECT count(*) FROM pg_policy WHERE polname = 'resource_finder')"
        ).fetchone() == (None, 0)
