"""an organization's work items can be renumbered along the waiting graph (ADR 0344).

Revision ID: 0252
Revises: 0251
Create Date: 2026-12-07

An import or a move copies ``ops_work_items.topo`` as it is: an archive may carry an order
that breaks ``child < parent``, and the target database's ``ops_topo_seq`` may be behind the
copied values, so a new item (``-nextval``) would not land below them. The import and the
move call ``domain.ops_renumber_waiting_order(tenant)`` in the transaction of the copy. It
is 0251's Kahn's algorithm for one organization (layers, ties by the old order; items on or
behind a stored deadlock last, by the old order), then every item takes ``-nextval`` of this
database's sequence, the last in the order first: all values are fresh and unique, the
order holds, and later new items land below all of them. SECURITY INVOKER: it sees what
its caller sees (the owner with row security off, as the import and the move run).
"""

from alembic import op

revision = "0252"
down_revision = "0251"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE FUNCTION domain.ops_renumber_waiting_order(p_tenant uuid) RETURNS bigint
LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
    placed bigint := 0;
    size bigint;
    total bigint;
    fresh bigint[];
BEGIN
    DROP TABLE IF EXISTS pg_temp.renumber_edge, pg_temp.renumber_node, pg_temp.renumber_layer,
        pg_temp.renumber_next;
    CREATE TEMP TABLE renumber_edge ON COMMIT DROP AS
        SELECT predecessor_id AS tail, successor_id AS head
        FROM domain.ops_dependencies WHERE tenant_id = p_tenant
        UNION ALL
        SELECT id, parent_id FROM domain.ops_work_items
        WHERE tenant_id = p_tenant AND parent_id IS NOT NULL;
    CREATE INDEX ON renumber_edge (tail);
    CREATE TEMP TABLE renumber_node ON COMMIT DROP AS
        SELECT w.id, w.topo AS old_topo, coalesce(e.n, 0)::bigint AS indeg,
               NULL::bigint AS position
        FROM domain.ops_work_items w
        LEFT JOIN (SELECT head, count(*) AS n FROM renumber_edge GROUP BY 1) e ON e.head = w.id
        WHERE w.tenant_id = p_tenant;
    ALTER TABLE renumber_node ADD PRIMARY KEY (id);
    CREATE TEMP TABLE renumber_layer ON COMMIT DROP AS
        SELECT id, old_topo FROM renumber_node WHERE indeg = 0;
    CREATE TEMP TABLE renumber_next (LIKE renumber_layer) ON COMMIT DROP;
    ANALYZE renumber_edge;
    ANALYZE renumber_node;
    LOOP
        SELECT count(*) INTO size FROM renumber_layer;
        EXIT WHEN size = 0;
        UPDATE renumber_node n SET position = placed + l.rank
        FROM (SELECT id, row_number() OVER (ORDER BY old_topo, id) AS rank
              FROM renumber_layer) l
        WHERE n.id = l.id;
        placed := placed + size;
        WITH fewer AS (
            SELECT e.head, count(*) AS n
            FROM renumber_layer l JOIN renumber_edge e ON e.tail = l.id
            GROUP BY e.head
        ), lowered AS (
            UPDATE renumber_node n SET indeg = n.indeg - f.n FROM fewer f
            WHERE n.id = f.head
            RETURNING n.id, n.old_topo, n.indeg
        )
        INSERT INTO renumber_next SELECT id, old_topo FROM lowered WHERE indeg = 0;
        DELETE FROM renumber_layer;
        INSERT INTO renumber_layer SELECT * FROM renumber_next;
        DELETE FROM renumber_next;
    END LOOP;
    -- On or behind a stored deadlock: after all others, by the old order.
    UPDATE renumber_node n SET position = placed + l.rank
    FROM (SELECT id, row_number() OVER (ORDER BY old_topo, id) AS rank
          FROM renumber_node WHERE position IS NULL) l
    WHERE n.id = l.id;
    SELECT count(*) INTO total FROM renumber_node;
    -- Fresh values of this database's sequence, ascending; the last in the order takes the
    -- smallest (it would have taken its value first), so position i gets -fresh[total + 1 - i].
    SELECT coalesce(array_agg(v ORDER BY v), '{}') INTO fresh
    FROM (SELECT nextval('domain.ops_topo_seq') AS v FROM generate_series(1, total)) s;
    UPDATE domain.ops_work_items w SET topo = -fresh[total + 1 - n.position]
    FROM renumber_node n WHERE w.tenant_id = p_tenant AND w.id = n.id;
    DROP TABLE renumber_edge, renumber_node, renumber_layer, renumber_next;
    RETURN total;
END
$$
"""


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION domain.ops_renumber_waiting_order(uuid)")
