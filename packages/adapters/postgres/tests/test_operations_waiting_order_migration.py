"""Migration 0251 on data stored before it (ADR 0344): the order of work items becomes one of
the waiting graph (dependencies, child -> parent) in every organization, items on a stored
deadlock still get a number, and new items are created below every existing one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from bijmantra.adapters.postgres import libpq_url
from bijmantra.adapters.postgres.migrate import upgrade
from bijmantra.testkit.operations_rows import DEPENDENCY_ROW, WORK_ITEM_ROW
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.integration

# id -> parent, in creation order (the old default gave each a higher order than all before).
HIERARCHY = {"p": None, "o1": "p", "o2": "p", "t1": "o1", "t2": "o2", "t3": "o2", "x": None}
SOUND = [("t1", "t2"), ("o1", "t3"), ("t2", "x")]  # no deadlock: o1 before t3 starts
DEADLOCKED = [("o1", "t1"), ("t1", "x")]  # an operation before its own task, then x behind


@pytest.fixture(scope="module")
def at_0250(postgres_owner_url: str) -> Iterator[str]:
    """A database of its own on the session's server, migrated up to 0250."""
    name = f"waitorder_{uuid.uuid4().hex[:8]}"
    server = libpq_url(postgres_owner_url)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    upgrade(url, "0250")
    yield url
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP DATABASE {} WITH (FORCE)").format(psycopg.sql.Identifier(name))
        )


def _store(conn: psycopg.Connection, tenant: uuid.UUID, edges: list[tuple[str, str]]) -> None:
    for topo, (item, parent) in enumerate(HIERARCHY.items(), start=1):
        kind = "plan" if parent is None else ("operation" if parent == "p" else "task")
        conn.execute(
            WORK_ITEM_ROW,
            (tenant, item, kind, item, None if parent is None else "other", parent,
             None if parent is None else "p", topo),
        )  # fmt: skip
    for tail, head in edges:
        conn.execute(DEPENDENCY_ROW, (tenant, tail, head))


def _orders(conn: psycopg.Connection, tenant: uuid.UUID) -> dict[str, int]:
    rows = conn.execute(
        "SELECT id, topo FROM domain.ops_work_items WHERE tenant_id = %s", (tenant,)
    ).fetchall()
    return dict(rows)


def test_the_renumbering_orders_every_organization_along_its_waiting_graph(at_0250: str) -> None:
    sound, other, stuck = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(at_0250) as conn:
        for table in ("ops_work_items", "ops_dependencies"):  # the owner has no policy
            conn.execute(f"ALTER TABLE domain.{table} NO FORCE ROW LEVEL SECURITY")
        _store(conn, sound, SOUND)
        _store(conn, other, [("t3", "t1")])  # the same ids in another organization
        _store(conn, stuck, DEADLOCKED)
        for table in ("ops_work_items", "ops_dependencies"):
            conn.execute(f"ALTER TABLE domain.{table} FORCE ROW LEVEL SECURITY")
        conn.commit()
    old = {"p": 1, "o1": 2, "t1": 4}
    assert old["t1"] > old["o1"] > old["p"]  # the old order had every child after its parent

    upgrade(at_0250, "0251")

    with psycopg.connect(at_0250) as conn:
        # The owner has no policy: lift forcing to read (rolled back at the end).
        conn.execute("ALTER TABLE domain.ops_work_items NO FORCE ROW LEVEL SECURITY")
        for tenant, edges in ((sound, SOUND), (other, [("t3", "t1")])):
            order = _orders(conn, tenant)
            assert all(order[t] < order[h] for t, h in edges), order
            assert all(order[c] < order[p] for c, p in HIERARCHY.items() if p), order
        order = _orders(conn, stuck)
        # o2's branch is numbered first; the deadlock (o1 <-> t1) and all that waits on it
        # (p, x) come last, by the old order (the invariant cannot hold around a cycle).
        assert order["t2"] < order["o2"] < order["p"]
        assert max(order["t2"], order["t3"], order["o2"]) < min(order["o1"], order["t1"])
        assert order["x"] > order["t1"]
        every = [v for (v,) in conn.execute("SELECT topo FROM domain.ops_work_items")]
        assert len(set(every)) == len(every) == 3 * len(HIERARCHY)
        # A new item is created below every existing one.
        conn.execute(
            "INSERT INTO domain.ops_work_items (tenant_id, id, kind, title, parent_id, root_id, "
            "operation_type, description, status, priority, assignees, rank, estimate_hours, "
            "unit_ids, variable_ids, version, created_at, updated_at) VALUES (%s, 'new', 'task', "
            "'new', 'o1', 'p', 'other', '', 'todo', 'normal', '{}', 0, 1, '{}', '{}', 1, now(), "
            "now()) RETURNING topo",
            (sound,),
        )
        assert _orders(conn, sound)["new"] < min(every)
        conn.rollback()
