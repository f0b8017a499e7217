"""Work items and dependencies written straight into PostgreSQL as the owner, for tests that
set up an order (``topo``) no use case would write: data from before a migration, or an
archive from an older database."""

from __future__ import annotations

# (tenant, id, kind, title, operation type, parent, root, topo)
WORK_ITEM_ROW = (
    "INSERT INTO domain.ops_work_items (tenant_id, id, kind, title, operation_type, parent_id, "
    "root_id, description, status, priority, assignees, rank, estimate_hours, unit_ids, "
    "variable_ids, version, created_at, updated_at, topo) VALUES (%s, %s, %s, %s, %s, %s, %s, "
    "'', 'todo', 'normal', '{}', 0, 1, '{}', '{}', 1, now(), now(), %s)"
)
# (tenant, predecessor, successor)
DEPENDENCY_ROW = (
    "INSERT INTO domain.ops_dependencies (tenant_id, predecessor_id, successor_id, created_at, "
    "created_by) VALUES (%s, %s, %s, now(), 'test')"
)
