"""An imported organization's work items get this database's waiting order (ADR 0344).

Archives carry ``topo`` as it was: one written before migration 0251 breaks ``child <
parent``, and one from a database whose sequence ran further carries values below anything
this database's sequence gives a new item. The import renumbers the organization, so the
invariant holds, every value is fresh here, and a new item lands below the imported ones.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest
from bijmantra.adapters.postgres import unit_of_work_factory
from bijmantra.adapters.postgres.placement_admin import database_owner_url, provision_database
from bijmantra.adapters.postgres.placement_move import move_organization
from bijmantra.adapters.postgres.tenant_archive import export_tenant
from bijmantra.adapters.postgres.tenant_operations import import_tenant
from bijmantra.application.operations import Collaboration, WorkItemCommands
from bijmantra.domain.tenancy.placement import PlacementDatabase
from bijmantra.kernel import Principal, TenantId, Unprocessable
from bijmantra.testkit.operations_rows import DEPENDENCY_ROW, WORK_ITEM_ROW
from bijmantra.testkit.organizations import insert_organization
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

DEDICATED = PlacementDatabase("bijmantra_test_import_order")
OLD_ORDER = {"p": 1, "o1": 2, "o2": 3, "t1": 4, "t2": 5, "x": 6}  # the pre-0251 default
# id -> (parent, kind)
HIERARCHY = {
    "p": (None, "plan"),
    "o1": ("p", "operation"),
    "o2": ("p", "operation"),
    "t1": ("o1", "task"),
    "t2": ("o2", "task"),
    "x": (None, "plan"),
}
EDGES = [("t1", "t2"), ("o1", "t2"), ("t2", "x")]


def _organization(
    owner_url: str, topo: dict[str, int], edges: list[tuple[str, str]] = EDGES
) -> uuid.UUID:
    """An organization whose work items have ``topo`` stored as given."""
    tenant = uuid.uuid4()
    with psycopg.connect(owner_url) as conn:
        insert_organization(conn, tenant, f"order-{tenant}", ["breeder"])
        for item, (parent, kind) in HIERARCHY.items():
            root = None if parent is None else "p"
            kind_type = "other" if kind == "operation" else None
            conn.execute(
                WORK_ITEM_ROW, (tenant, item, kind, item, kind_type, parent, root, topo[item])
            )
        for tail, head in edges:
            conn.execute(DEPENDENCY_ROW, (tenant, tail, head))
    return tenant


def _archive(owner_url: str, topo: dict[str, int], path: Path) -> Path:
    """An organization with ``topo`` stored as given, exported to ``path``."""
    export_tenant(owner_url, _organization(owner_url, topo), path)
    return path


def _import(owner_url: str, archive: Path) -> uuid.UUID:
    fresh = uuid.uuid4()
    import_tenant(owner_url, archive, new_tenant=fresh, name=f"imported-{fresh}")
    return fresh


def _orders(owner_url: str, tenant: uuid.UUID) -> dict[str, int]:
    with psycopg.connect(owner_url) as conn:
        conn.execute("SET row_security = off")
        rows = conn.execute(
            "SELECT id, topo FROM domain.ops_work_items WHERE tenant_id = %s", (tenant,)
        ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def _assert_waiting_order(
    owner_url: str, tenant: uuid.UUID, created: dict[str, str] | None = None
) -> dict[str, int]:
    """The invariant of ADR 0344 over the imported items and ``created`` (id -> parent)."""
    topo = _orders(owner_url, tenant)
    parents = {item: parent for item, (parent, _) in HIERARCHY.items()} | (created or {})
    assert set(topo) == set(parents)
    for item, parent in parents.items():
        if parent is not None:
            assert topo[item] < topo[parent], (item, parent, topo)
    for tail, head in EDGES:
        assert topo[tail] < topo[head], (tail, head, topo)
    assert len(set(topo.values())) == len(topo)
    with psycopg.connect(owner_url) as conn:
        row = conn.execute("SELECT last_value FROM domain.ops_topo_seq").fetchone()
    assert row is not None
    # Taken from this database's sequence: -nextval, none beyond what it has given.
    assert all(-row[0] <= value < 0 for value in topo.values()), topo
    return topo


def test_an_archive_ordered_before_0251_imports_in_the_waiting_order(
    database: ProvisionedDatabase, tmp_path: Path
) -> None:
    # The pre-0251 default: each item above every item created before it, parents first.
    archive = _archive(database.owner_url, OLD_ORDER, tmp_path / "old.tar")
    _assert_waiting_order(database.owner_url, _import(database.owner_url, archive))


async def test_after_an_import_from_further_on_a_new_item_lands_below_its_parent(
    database: ProvisionedDatabase, engine: AsyncEngine, tmp_path: Path
) -> None:
    # Values a database whose sequence ran far ahead gave, in a sound waiting order.
    far = -(10**15)
    ahead = {"t1": far - 5, "t2": far - 4, "o1": far - 3, "o2": far - 2, "p": far - 1, "x": far}
    archive = _archive(database.owner_url, ahead, tmp_path / "ahead.tar")
    tenant = _import(database.owner_url, archive)
    imported = _orders(database.owner_url, tenant)

    uow = unit_of_work_factory(engine, source="test")
    who = Principal("ana", TenantId(tenant), frozenset({"breeder"}))
    body = {"kind": "task", "title": "t3", "parent_id": "o1"}
    t3 = await WorkItemCommands(uow).create(who, json.dumps(body).encode())
    collab = Collaboration(uow)
    for tail in ("o1", "p"):  # each waits for t3 to finish, which would wait for it
        edge = json.dumps({"predecessor_id": tail, "successor_id": t3.id}).encode()
        with pytest.raises(Unprocessable, match="deadlock"):
            await collab.depend(who, edge)
    topo = _orders(database.owner_url, tenant)
    assert topo[t3.id] < min(imported.values())
    assert {i: topo[i] for i in imported} == imported  # the refusals wrote nothing
    assert _assert_waiting_order(database.owner_url, tenant, {t3.id: "o1"}) == topo


def test_a_move_gives_the_work_items_the_new_databases_order(
    database: ProvisionedDatabase,
) -> None:
    provision_database(database.owner_url, DEDICATED)
    tenant = _organization(database.owner_url, OLD_ORDER)
    move_organization(database.owner_url, tenant, DEDICATED)
    _assert_waiting_order(database_owner_url(database.owner_url, DEDICATED), tenant)


def test_items_on_a_stored_deadlock_still_get_fresh_numbers_after_the_others(
    database: ProvisionedDatabase, tmp_path: Path
) -> None:
    # Accepted before ADR 0344: o1 before its own task t1; x waits behind t1.
    stuck = [("o1", "t1"), ("t1", "x")]
    archive = tmp_path / "stuck.tar"
    export_tenant(database.owner_url, _organization(database.owner_url, OLD_ORDER, stuck), archive)
    topo = _orders(database.owner_url, _import(database.owner_url, archive))
    assert len(set(topo.values())) == len(topo)
    free, blocked = {"o2", "t2"}, {"o1", "t1", "p", "x"}
    assert max(topo[i] for i in free) < min(topo[i] for i in blocked)
    assert topo["t2"] < topo["o2"]
    assert sorted(blocked, key=topo.__getitem__) == ["p", "o1", "t1", "x"]  # the old order
