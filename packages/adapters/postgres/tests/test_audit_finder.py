"""``domain.audit_positions_of`` (migration 0257, ADR 0356) reads the audit log past row-level
security to reach its indexes: attacked here as the domain role, and a resource's history
checked to answer as it did before, through it and past its cap."""

from __future__ import annotations

import os
import uuid

import msgspec
import psycopg
import pytest
from bijmantra.adapters.postgres import PostgresAuditStore, audit
from bijmantra.application.compliance import RecordAuditEntry
from bijmantra.application.events import EventEnvelope, bulk_data
from bijmantra.kernel import PageRequest, TenantId
from bijmantra.testkit.definers import (
    assert_caller_cannot_become,
    assert_only_the_domain_role_executes,
    assert_role_confined,
    migrated_down,
)
from bijmantra.testkit.envelopes import germplasm_created as event
from bijmantra.testkit.provision import ProvisionedDatabase
from bijmantra.testkit.statements import Recording

pytestmark = pytest.mark.integration

FINDER = os.environ.get("AUDIT_FINDER_DB_ROLE", "bijmantra_audit_finder")
SIGNATURE = "domain.audit_positions_of(text)"
FIND = "SELECT p FROM domain.audit_positions_of(%s) p ORDER BY p"


def _bulk(tenant: uuid.UUID, first: str, *items: str) -> EventEnvelope:
    return msgspec.structs.replace(
        event(tenant, subject=first),
        type="observation.created.bulk",
        data=bulk_data([(i, {"observationDbId": i}) for i in (first, *items)]),
    )


@pytest.fixture
async def two_organizations(recorded: Recording) -> tuple[uuid.UUID, uuid.UUID]:
    """Two organizations whose trails name the same resource ids: ``o-2`` is the subject of
    positions 2 and 4 and an item of the bulk at 1; the second has one more entry about it."""
    ours, theirs = uuid.uuid4(), uuid.uuid4()
    record = RecordAuditEntry(PostgresAuditStore(recorded.engine))
    for tenant in (ours, theirs):
        for e in (
            _bulk(tenant, "o-1", "o-2"),
            event(tenant, subject="o-2"),
            event(tenant, subject="o-3"),
            event(tenant, subject="o-2"),
        ):
            await record(e)
    await record(event(theirs, subject="o-2"))
    return ours, theirs


def _find(url: str, tenant: str | None, resource: str = "o-2") -> list[int]:
    with psycopg.connect(url) as conn:
        if tenant is not None:
            conn.execute("SELECT set_config('app.tenant_id', %s, false)", (tenant,))
        return [row[0] for row in conn.execute(FIND, (resource,))]


def test_the_finder_answers_only_the_current_organizations_positions(
    database: ProvisionedDatabase, two_organizations: tuple[uuid.UUID, uuid.UUID]
) -> None:
    ours, theirs = two_organizations
    assert _find(database.domain_url, str(ours)) == [1, 2, 4]
    assert _find(database.domain_url, str(theirs)) == [1, 2, 4, 5]
    assert _find(database.domain_url, str(ours), "o-1") == [1]
    assert _find(database.domain_url, None) == []
    assert _find(database.domain_url, "") == []
    assert _find(database.domain_url, str(uuid.uuid4())) == []


def test_a_caller_cannot_become_the_finder(database: ProvisionedDatabase) -> None:
    assert_caller_cannot_become(database.domain_url, FINDER)
    assert_role_confined(database.owner_url, FINDER)
    with psycopg.connect(database.owner_url) as conn:
        # Four columns, never the envelope nor the hashes; it writes nothing.
        assert conn.execute(
            "SELECT has_column_privilege(%s, 'domain.audit_log', 'envelope', 'SELECT'), "
            "has_table_privilege(%s, 'domain.audit_log', 'INSERT, UPDATE, DELETE'), "
            "has_table_privilege(%s, 'domain.resources', 'SELECT')",
            (FINDER, FINDER, FINDER),
        ).fetchone() == (False, False, False)


def test_only_the_domain_role_may_execute_the_finder(database: ProvisionedDatabase) -> None:
    assert_only_the_domain_role_executes(database, SIGNATURE, FINDER, FIND, ("o-2",))


def test_the_callers_search_path_and_temporary_objects_change_nothing(
    database: ProvisionedDatabase, two_organizations: tuple[uuid.UUID, uuid.UUID]
) -> None:
    ours, theirs = two_organizations
    with psycopg.connect(database.domain_url) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(ours),))
        conn.execute(
            "CREATE FUNCTION pg_temp.current_setting(text, boolean) RETURNS text "
            f"LANGUAGE sql AS $$ SELECT '{theirs}' $$"
        )
        conn.execute("CREATE TEMP TABLE audit_log (LIKE domain.audit_log)")
        conn.execute("INSERT INTO pg_temp.audit_log SELECT * FROM domain.audit_log")
        conn.execute(
            "INSERT INTO pg_temp.audit_log (tenant_id, position, event_id, event_type, subject, "
            "occurred_at, recorded_at, envelope, prev_hash, hash) VALUES (%s, 99, "
            "gen_random_uuid(), 'x', 'o-2', now(), now(), '', '', '')",
            (ours,),
        )
        conn.execute("SET search_path = pg_temp, domain, public")
        found = [row[0] for row in conn.execute(FIND, ("o-2",))]
    assert found == [1, 2, 4]


async def test_a_history_answers_the_same_through_the_finder_and_past_its_cap(
    recorded: Recording,
    two_organizations: tuple[uuid.UUID, uuid.UUID],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours, theirs = two_organizations
    store = PostgresAuditStore(recorded.engine)

    async def positions(tenant: uuid.UUID, page: PageRequest) -> tuple[list[int], int]:
        found = await store.page(TenantId(tenant), page, resource="o-2")
        return [e.position for e in found.items], found.total_count

    assert await positions(ours, PageRequest(0, 2)) == ([1, 2], 3)
    assert await positions(ours, PageRequest(1, 2)) == ([4], 3)
    keyed = [p for s, p, _ in recorded.sent if "position = ANY(CAST(" in s]
    assert len(keyed) == 4
    assert sorted(keyed[0]["positions"]) == [1, 2, 4]
    # Past the cap (4 entries, a cap of 3): the statements before ADR 0356, the same answer.
    monkeypatch.setattr(audit, "CANDIDATES", 3)
    recorded.sent.clear()
    assert await positions(theirs, PageRequest(0, 10)) == ([1, 2, 4, 5], 4)
    assert await positions(theirs, PageRequest(1, 3)) == ([5], 4)
    assert await positions(ours, PageRequest(0, 10)) == ([1, 2, 4], 3)
    assert len([s for s, _, _ in recorded.sent if "position = ANY(CAST(" in s]) == 2


def test_the_migration_goes_down_and_up_again_on_a_cluster_that_has_the_role(
    database: ProvisionedDatabase,
) -> None:
    with migrated_down(database, "0257", "0253") as url, psycopg.connect(url) as conn:
        assert conn.execute(
            "SELECT to_regprocedure(%s), "
            "(SELECT count(*) FROM pg_policy WHERE polname = 'audit_finder')",
            (SIGNATURE,),
        ).fetchone() == (None, 0)
