"""The region searches of a new dependency (``bijmantra.domain.operations.graph``) as
recursive CTEs over the *waiting graph*: dependencies ``P -> S`` and ``child -> parent``
links, whose topological order ``topo`` is (ADR 0344).

Every join names the tenant, so each step is an index probe: dependencies by
``(tenant_id, predecessor_id, ...)``, their reverse by ``ops_dependencies_successor_idx``, an
item's parent by ``(tenant_id, id)``, its children by ``ops_work_items_board_idx``
``(tenant_id, parent_id, ...)``. Each search stays inside the order interval between the
new edge's ends, so it never reads more than that region (ADR 0221); ``UNION`` visits each
row once, so it terminates even over deadlocks stored before ADR 0344.
"""

from __future__ import annotations

from sqlalchemy import text

# What :start (the new edge's successor) reaches through items with topo <= :bound, following
# dependencies forward and parent links; ``by_dependencies``: reached by dependencies alone
# (the predecessor there closes a plain cycle, elsewhere a deadlock with the hierarchy).
REACHABLE = text(
    """
    WITH RECURSIVE region(id, topo, parent_id, by_dependencies) AS (
        SELECT id, topo, parent_id, true FROM domain.ops_work_items
        WHERE tenant_id = :t AND id = :start
        UNION
        SELECT n.id, n.topo, n.parent_id, r.by_dependencies AND n.dependency
        FROM region r CROSS JOIN LATERAL (
            SELECT w.id, w.topo, w.parent_id, true AS dependency
            FROM domain.ops_dependencies d
            JOIN domain.ops_work_items w ON w.tenant_id = :t AND w.id = d.successor_id
            WHERE d.tenant_id = :t AND d.predecessor_id = r.id
            UNION ALL
            SELECT p.id, p.topo, p.parent_id, false FROM domain.ops_work_items p
            WHERE p.tenant_id = :t AND p.id = r.parent_id
        ) n
        WHERE n.topo <= :bound
    )
    SELECT id, min(topo) AS topo, bool_or(by_dependencies) AS by_dependencies
    FROM region GROUP BY id
    """
)
# What reaches :start (the new edge's predecessor) through items with topo >= :bound,
# following dependencies backward and parent links down to the children.
REACHING = text(
    """
    WITH RECURSIVE region(id, topo) AS (
        SELECT id, topo FROM domain.ops_work_items WHERE tenant_id = :t AND id = :start
        UNION
        SELECT n.id, n.topo FROM region r CROSS JOIN LATERAL (
            SELECT w.id, w.topo FROM domain.ops_dependencies d
            JOIN domain.ops_work_items w ON w.tenant_id = :t AND w.id = d.predecessor_id
            WHERE d.tenant_id = :t AND d.successor_id = r.id
            UNION ALL
            SELECT c.id, c.topo FROM domain.ops_work_items c
            WHERE c.tenant_id = :t AND c.parent_id = r.id
        ) n
        WHERE n.topo >= :bound
    )
    SELECT id, topo, true AS by_dependencies FROM region
    """
)
