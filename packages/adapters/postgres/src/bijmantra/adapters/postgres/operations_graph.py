"""The dependency graph's searches (``bijmantra.domain.operations.graph``) as recursive CTEs.

Every join names the tenant, so each step is a primary-key probe: dependencies by
``(tenant_id, predecessor_id, ...)``, their reverse by ``ops_dependencies_successor_idx``, an
item's parent by ``(tenant_id, id)``.
"""

from __future__ import annotations

from psycopg import sql
from sqlalchemy import text

# The items reached from :start by following dependencies one way (from ``along`` to
# ``onto``), through items whose order stays ``within`` :bound. Adding a dependency walks
# forward from its successor and backward from its predecessor (ADR 0221).
_REGION = sql.SQL(
    """
    WITH RECURSIVE region(id, topo) AS (
        SELECT id, topo FROM domain.ops_work_items WHERE tenant_id = :t AND id = :start
        UNION
        SELECT w.id, w.topo FROM region r
        JOIN domain.ops_dependencies d ON d.tenant_id = :t AND d.{along} = r.id
        JOIN domain.ops_work_items w ON w.tenant_id = :t AND w.id = d.{onto}
        WHERE w.topo {within} :bound
    )
    SELECT id, topo FROM region
    """
)
REACHABLE, REACHING = (
    text(
        _REGION.format(
            along=sql.Identifier(along), onto=sql.Identifier(onto), within=sql.SQL(within)
        ).as_string()
    )
    for along, onto, within in (
        ("predecessor_id", "successor_id", "<="),
        ("successor_id", "predecessor_id", ">="),
    )
)
# Whether :goal is in the waiting graph's reach of :start: dependencies forward, then child
# to parent (ADR 0344). No order bounds it (parent links do not follow the dependency
# order): an acceptance reads all that :start reaches, each item once (UNION); PostgreSQL
# evaluates a recursive CTE only as far as its reader fetches, so LIMIT 1 stops a refusal at
# the first sight of :goal.
FINISHES_BEFORE = text(
    """
    WITH RECURSIVE waiting(id) AS (
        SELECT CAST(:start AS text)
        UNION
        SELECT n.id FROM waiting r CROSS JOIN LATERAL (
            SELECT d.successor_id AS id FROM domain.ops_dependencies d
            WHERE d.tenant_id = :t AND d.predecessor_id = r.id
            UNION ALL
            SELECT w.parent_id FROM domain.ops_work_items w
            WHERE w.tenant_id = :t AND w.id = r.id AND w.parent_id IS NOT NULL
        ) n
    )
    SELECT 1 AS found FROM waiting WHERE id = :goal LIMIT 1
    """
)
