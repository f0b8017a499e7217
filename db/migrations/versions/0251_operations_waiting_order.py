"""work items are ordered along the waiting graph: a child before its parent (ADR 0344).

Revision ID: 0251
Revises: 0250
Create Date: 2026-12-07

``ops_work_items.topo`` was a topological order of the dependencies (ADR 0221). It is now
one of the *waiting graph*: each dependency ``P -> S`` and each ``child -> parent`` link goes
from a lower to a higher value, so the order-bounded region search of a new dependency
finds hierarchy deadlocks as well as cycles. A new item has no edge but the one to its
parent, so its default is now below every existing value (``-nextval``: the sequence keeps
values unique). Existing rows are renumbered once by Kahn's algorithm, layer by layer, all
organizations at once (no edge crosses organizations), ties by the old order. Items on or
behind a deadlock stored before ADR 0344 never reach in-degree zero; they are numbered
after all others, by their old order, and the invariant does not hold around them.

The owner runs this; the tables force row-level security, with policies for the service
role only, so forcing is lifted for the renumbering and restored in the same transaction.
The downgrade restores the old default; the new order is still a dependency order.
"""

from alembic import op

revision = "0251"
down_revision = "0250"
branch_labels = None
depends_on = None

TABLES = ("domain.ops_work_items", "domain.ops_dependencies")

RENUMBER = """
DO $$
DECLARE
    placed bigint := 0;
    size bigint;
BEGIN
    CREATE TEMP TABLE wait_edge ON COMMIT DROP AS
        SELECT tenant_id, predecessor_id AS tail, successor_id AS head
        FROM domain.ops_dependencies
        UNION ALL
        SELECT tenant_id, id, parent_id FROM domain.ops_work_items WHERE parent_id IS NOT NULL;
    CREATE INDEX ON wait_edge (tenant_id, tail);
    CREATE TEMP TABLE wait_node ON COMMIT DROP AS
        SELECT w.tenant_id, w.id, w.topo AS old_topo, coalesce(e.n, 0)::bigint AS indeg,
               NULL::bigint AS new_topo
        FROM domain.ops_work_items w
        LEFT JOIN (SELECT tenant_id, head, count(*) AS n FROM wait_edge GROUP BY 1, 2) e
            ON e.tenant_id = w.tenant_id AND e.head = w.id;
    ALTER TABLE wait_node ADD PRIMARY KEY (tenant_id, id);
    CREATE TEMP TABLE wait_layer ON COMMIT DROP AS
        SELECT tenant_id, id, old_topo FROM wait_node WHERE indeg = 0;
    CREATE TEMP TABLE wait_next (LIKE wait_layer) ON COMMIT DROP;
    ANALYZE wait_edge;
    ANALYZE wait_node;
    LOOP
        SELECT count(*) INTO size FROM wait_layer;
        EXIT WHEN size = 0;
        UPDATE wait_node n SET new_topo = placed + l.rank
        FROM (SELECT tenant_id, id, row_number() OVER (ORDER BY old_topo, tenant_id, id) AS rank
              FROM wait_layer) l
        WHERE n.tenant_id = l.tenant_id AND n.id = l.id;
        placed := placed + size;
        WITH fewer AS (
            SELECT e.tenant_id, e.head, count(*) AS n
            FROM wait_layer l JOIN wait_edge e ON e.tenant_id = l.tenant_id AND e.tail = l.id
            GROUP BY e.tenant_id, e.head
        ), lowered AS (
            UPDATE wait_node n SET indeg = n.indeg - f.n FROM fewer f
            WHERE n.tenant_id = f.tenant_id AND n.id = f.head
            RETURNING n.tenant_id, n.id, n.old_topo, n.indeg
        )
        INSERT INTO wait_next SELECT tenant_id, id, old_topo FROM lowered WHERE indeg = 0;
        DELETE FROM wait_layer;
        INSERT INTO wait_layer SELECT * FROM wait_next;
        DELETE FROM wait_next;
    END LOOP;
    -- On or behind a stored deadlock: after all others, by the old order.
    UPDATE wait_node n SET new_topo = placed + l.rank
    FROM (SELECT tenant_id, id, row_number() OVER (ORDER BY old_topo, tenant_id, id) AS rank
          FROM wait_node WHERE new_topo IS NULL) l
    WHERE n.tenant_id = l.tenant_id AND n.id = l.id;
    UPDATE domain.ops_work_items w SET topo = n.new_topo FROM wait_node n
    WHERE w.tenant_id = n.tenant_id AND w.id = n.id AND w.topo IS DISTINCT FROM n.new_topo;
END
$$
"""


def upgrade() -> None:
    op.execute(
        "ALTER TABLE domain.ops_work_items "
        "ALTER COLUMN topo SET DEFAULT -nextval('domain.ops_topo_seq')"
    )
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(RENUMBER)
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.execute(
        "ALTER TABLE domain.ops_work_items "
        "ALTER COLUMN topo SET DEFAULT nextval('domain.ops_topo_seq')"
    )
