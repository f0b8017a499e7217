"""Tenant isolation, proven against real PostgreSQL.

Property tests (hypothesis): random rows in several organizations; every list, get and
search made as organization A returns A's rows exactly — never B's — including queries
that carry no tenant filter at all (the repositories here have none: row-level security is
the only thing standing between tenants). Plus the catalog check that keeps it so: every
``tenant_id`` table in every schema forces RLS, and the service roles are powerless.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from typing import Any

import msgspec
import psycopg
import pytest
from bijmantra.adapters.postgres import create_engine, set_tenant
from bijmantra.adapters.postgres.ddl import (
    ANALYSIS_SCHEDULER_ROLE,
    OUTBOX_RELAY_ROLE,
    SERVICE_ROLES,
    outbox_relay_role,
)
from bijmantra.adapters.postgres.identity import register_member
from bijmantra.adapters.postgres.resources import PostgresResourceStore
from bijmantra.adapters.postgres.tenancy import PostgresMembers
from bijmantra.kernel import PageRequest, TenantId
from bijmantra.testkit.provision import ProvisionedDatabase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

pytestmark = pytest.mark.integration

ENTITIES = ("germplasm", "studies", "observations")
CROPS = ("Maize", "Rice", "Cassava")
PROPERTY = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

row = st.tuples(st.integers(0, 3), st.sampled_from(ENTITIES), st.sampled_from(CROPS))
scenario = st.tuples(st.integers(2, 4), st.lists(row, min_size=1, max_size=24))

Model = dict[uuid.UUID, dict[str, dict[str, str]]]  # tenant -> entity -> db id -> crop


async def _as(connection: AsyncConnection, tenant: uuid.UUID) -> None:
    await set_tenant(connection, TenantId(tenant))


async def _seed_resources(
    url: str, tenants: list[uuid.UUID], rows: list[tuple[int, str, str]]
) -> Model:
    model: Model = {t: defaultdict(dict) for t in tenants}
    engine = create_engine(url, pool_size=1)
    try:
        for index, tenant in enumerate(tenants):
            mine = [(entity, crop) for owner, entity, crop in rows if owner % len(tenants) == index]
            async with engine.begin() as conn:
                await _as(conn, tenant)
                store = PostgresResourceStore(conn)
                for entity, crop in mine:
                    db_id = uuid.uuid4().hex
                    await store.insert(entity, [(db_id, {"dbId": db_id, "commonCropName": crop})])
                    model[tenant][entity][db_id] = crop
    finally:
        await engine.dispose()
    return model


def _ids(page_bytes: bytes) -> set[str]:
    return {d["dbId"] for d in msgspec.json.decode(page_bytes)}


async def _check_resources(url: str, model: Model) -> None:
    every_id = {
        db_id for by_entity in model.values() for ids in by_entity.values() for db_id in ids
    }
    engine = create_engine(url, pool_size=1)
    try:
        for tenant, by_entity in model.items():
            async with engine.begin() as conn:
                await _as(conn, tenant)
                store = PostgresResourceStore(conn)
                mine = {db_id for ids in by_entity.values() for db_id in ids}
                for entity in ENTITIES:
                    expected = by_entity.get(entity, {})
                    page = await store.page(entity, [], PageRequest(0, 1000))
                    assert _ids(page.documents) == set(expected), "list"
                    assert page.total_count == len(expected)
                    for crop in CROPS:
                        wanted = {i for i, c in expected.items() if c == crop}
                        criteria = [[{"commonCropName": crop}]]
                        assert set(await store.matching_ids(entity, criteria, 1000)) == wanted, (
                            "search"
                        )
                        found = await store.matching(entity, criteria, 1000)
                        assert {d["dbId"] for d in found} == wanted
                    fetched = await store.documents(entity, sorted(every_id))
                    assert set(fetched) == set(expected), "get by ids"
                for other in every_id - mine:
                    for entity in ENTITIES:
                        assert await store.document_bytes(entity, other) is None, "get"
                # No tenant filter, no entity filter: RLS alone decides what is visible.
                seen = (
                    (await conn.execute(text("SELECT DISTINCT tenant_id FROM domain.resources")))
                    .scalars()
                    .all()
                )
                assert set(seen) <= {tenant}
                count = (
                    await conn.execute(text("SELECT count(*) FROM domain.resources"))
                ).scalar_one()
                assert count == len(mine)
        async with engine.begin() as conn:  # no tenant at all: nothing
            assert (
                await conn.execute(text("SELECT count(*) FROM domain.resources"))
            ).scalar_one() == 0
    finally:
        await engine.dispose()


@PROPERTY
@given(scenario)
def test_resources_of_one_organization_never_reach_another(
    database: ProvisionedDatabase, case: tuple[int, list[tuple[int, str, str]]]
) -> None:
    organizations, rows = case
    tenants = [uuid.uuid4() for _ in range(organizations)]

    async def run() -> None:
        model = await _seed_resources(database.domain_url, tenants, rows)
        await _check_resources(database.domain_url, model)

    asyncio.run(run())


async def _check_members(url: str, memberships: dict[uuid.UUID, set[uuid.UUID]]) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        for tenant, users in memberships.items():
            async with engine.begin() as conn:
                await _as(conn, tenant)
                listed = {m.user_id for m in await PostgresMembers(conn, TenantId(tenant)).list()}
                assert listed == users, "members"
                for table in (
                    "memberships",
                    "refresh_token_families",
                    "invitations",
                    "authorization_codes",
                ):
                    seen = (
                        (
                            await conn.execute(
                                text(f"SELECT DISTINCT tenant_id FROM identity.{table}")
                            )
                        )
                        .scalars()
                        .all()
                    )
                    assert set(seen) <= {tenant}, table
                strangers = {
                    u for other, us in memberships.items() if other != tenant for u in us
                } - users
                for user in strangers:
                    assert await PostgresMembers(conn, TenantId(tenant)).get(user) is None, (
                        "get member"
                    )
    finally:
        await engine.dispose()


@PROPERTY
@given(
    st.integers(2, 4),
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5)), min_size=1, max_size=16),
)
def test_members_of_one_organization_never_reach_another(
    database: ProvisionedDatabase, organizations: int, pairs: list[tuple[int, int]]
) -> None:
    tenants = [uuid.uuid4() for _ in range(organizations)]
    people = [uuid.uuid4() for _ in range(6)]  # a person may belong to several organizations
    memberships: dict[uuid.UUID, set[uuid.UUID]] = {t: set() for t in tenants}
    for org, person in pairs:
        memberships[tenants[org % organizations]].add(people[person])

    async def run() -> None:
        engine = create_engine(database.identity_url, pool_size=1)
        try:
            for tenant, users in memberships.items():
                for user in users:
                    await register_member(
                        engine,
                        organization_id=tenant,
                        organization_name=f"Org {tenant}",
                        user_id=user,
                        email=f"{user.hex}@example.org",
                        display_name="P",
                        password_hash="x",
                        roles=["viewer"],
                    )
        finally:
            await engine.dispose()
        await _check_members(database.identity_url, memberships)

    asyncio.run(run())


# ------------------------------------------------------------------ the catalog


def _rows(conn: psycopg.Connection[Any], sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return conn.execute(sql, args).fetchall()


# Tables in a service schema without tenant_id are global on purpose; a new one must be added
# here knowingly (and is then listed in review), never by accident.
GLOBAL_TABLES = {
    "identity.organizations",  # the tenants themselves
    "identity.users",  # a person exists once, whatever their memberships
    "identity.signing_keys",
    "identity.login_failures",  # failed sign-ins, before any tenant is known (ADR 0339)
    "domain.outbox_partitions",  # relay bookkeeping, no tenant data
    "identity.outbox_partitions",
    "identity.organization_erasures",  # must outlive the erased tenant; owner-only (ADR 0101)
}


def test_catalog_every_tenant_table_in_every_schema_is_forced_rls(
    database: ProvisionedDatabase,
) -> None:
    schemas = sorted(SERVICE_ROLES)
    with psycopg.connect(database.owner_url) as conn:
        tables = _rows(
            conn,
            """
            SELECT n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                           AND a.attname = 'tenant_id' AND NOT a.attisdropped),
                   (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%s)
            """,
            schemas,
        )
        public_policies = _rows(
            conn,
            "SELECT polname FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(%s) AND 0 = ANY(p.polroles)",
            schemas,
        )
    tenant_tables = {
        f"{s}.{t}": (rls, forced, policies)
        for s, t, rls, forced, has_tenant, policies in tables
        if has_tenant
    }
    others = {f"{s}.{t}" for s, t, *_, has_tenant, _ in tables if not has_tenant}
    for schema in schemas:  # the check cannot pass by finding nothing
        assert any(name.startswith(schema + ".") for name in tenant_tables), schema
    unprotected = {
        name
        for name, (rls, forced, policies) in tenant_tables.items()
        if not (rls and forced and policies)
    }
    assert unprotected == set()
    assert others <= GLOBAL_TABLES, others - GLOBAL_TABLES
    assert public_policies == []  # every policy names the service role it is for


# Policies that let a role past the tenant filter: each a reviewed, narrow reader or writer
# that serves no request (a relay, the mailer, the worker's due-check role), never a service's
# own role. A new one must be added here knowingly.
CROSS_TENANT_POLICIES = {
    ("analytics.sensor_presence", "checks_all_tenants"),
    ("analytics.sensor_watches", "checks_all_tenants"),
    ("domain.analysis_jobs", "scheduler_all_tenants"),
    # Read only inside domain.audit_positions_of, which answers the caller's own
    # organization's audit positions (ADR 0356; attacked in test_audit_finder.py).
    ("domain.audit_log", "audit_finder"),
    ("domain.outbox", "relay_all_tenants"),
    # Read only inside domain.resource_ids_containing, which answers the caller's own
    # organization's DbIds (ADR 0351; attacked in test_resource_finder.py).
    ("domain.resources", "resource_finder"),
    ("identity.invitations", "mailer_reads_the_queue"),
    ("identity.outbox", "relay_all_tenants"),
}


def test_catalog_every_policy_filters_by_the_tenant_or_is_a_reviewed_cross_tenant_one(
    database: ProvisionedDatabase,
) -> None:
    """The forced-RLS check above passes a ``USING (true)`` policy for a service's own role;
    this one does not."""
    with psycopg.connect(database.owner_url) as conn:
        policies = _rows(
            conn,
            """
            SELECT n.nspname || '.' || c.relname, p.polname,
                   concat_ws(' ', pg_get_expr(p.polqual, p.polrelid),
                             pg_get_expr(p.polwithcheck, p.polrelid)),
                   array(SELECT rolname FROM pg_roles WHERE oid = ANY(p.polroles))
            FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = ANY(%s) AND NOT c.relispartition
            """,
            sorted(SERVICE_ROLES),
        )
    assert len(policies) > len(CROSS_TENANT_POLICIES)  # the check cannot pass by finding nothing
    crossing = {
        (table, name): roles for table, name, rule, roles in policies if "app.tenant_id" not in rule
    }
    assert set(crossing) == CROSS_TENANT_POLICIES
    for where, roles in crossing.items():
        assert not set(roles) & set(SERVICE_ROLES.values()), where


def test_catalog_service_roles_own_nothing_and_bypass_nothing(
    database: ProvisionedDatabase,
) -> None:
    roles = sorted(
        {
            *SERVICE_ROLES.values(),
            OUTBOX_RELAY_ROLE,
            ANALYSIS_SCHEDULER_ROLE,
            *(outbox_relay_role(s) for s in ("identity",)),
        }
    )
    with psycopg.connect(database.owner_url) as conn:
        found = _rows(
            conn,
            """
            SELECT r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb,
                   (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid)
                 + (SELECT count(*) FROM pg_namespace n WHERE n.nspowner = r.oid)
                 + (SELECT count(*) FROM pg_proc p WHERE p.proowner = r.oid)
                 + (SELECT count(*) FROM pg_type t WHERE t.typowner = r.oid)
            FROM pg_roles r WHERE r.rolname = ANY(%s)
            """,
            roles,
        )
        inherited = _rows(
            conn,
            "SELECT m.rolname, g.rolname FROM pg_auth_members am "
            "JOIN pg_roles m ON m.oid = am.member "
            "JOIN pg_roles g ON g.oid = am.roleid WHERE m.rolname = ANY(%s) AND am.inherit_option",
            roles,
        )
    assert sorted(r[0] for r in found) == roles
    for name, superuser, bypass, create_role, create_db, owned in found:
        assert not superuser, name
        assert not bypass, name
        assert not create_role, name
        assert not create_db, name
        assert owned == 0, name
    assert inherited == []  # relay roles are reachable only by an explicit SET ROLE
