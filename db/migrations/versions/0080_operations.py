"""Operations context: seasons of work, work items, dependencies, comments, time entries,
activity.

Revision ID: 0080
Revises: 0070
Create Date: 2026-12-06

Every table is tenant-owned with row-level security forced (the same policy as the other
domain tables, written out here so this migration means the same thing forever).
``work_items.topo`` is the dependency order of ADR 0221: every edge goes from a lower to a
higher value, so a cycle check searches only the region between the new edge's ends.
"""

import os

from alembic import op

revision = "0080"
down_revision = "0070"
branch_labels = None
depends_on = None

DOMAIN = os.environ.get("DOMAIN_DB_ROLE", "bijmantra_domain")
CURRENT_TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"
TABLES = ("seasons", "work_items", "dependencies", "comments", "time_entries", "activity")


def run(*statements: str) -> None:
    for statement in statements:
        op.execute(statement)


def tenant_table(table: str) -> list[str]:
    qualified = f"domain.ops_{table}"
    return [
        f"ALTER TABLE {qualified} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {qualified} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {qualified} TO {DOMAIN} "
        f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {qualified} TO {DOMAIN}",
    ]


def upgrade() -> None:
    run(
        """
        CREATE TABLE domain.ops_seasons (
            tenant_id uuid NOT NULL,
            id text NOT NULL,
            name text NOT NULL,
            starts_on date NOT NULL,
            ends_on date NOT NULL CHECK (ends_on >= starts_on),
            capacity_hours double precision NOT NULL CHECK (capacity_hours >= 0),
            version integer NOT NULL,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, id)
        )
        """,
        "CREATE SEQUENCE domain.ops_topo_seq",
        f"GRANT USAGE ON SEQUENCE domain.ops_topo_seq TO {DOMAIN}",
        """
        CREATE TABLE domain.ops_work_items (
            tenant_id uuid NOT NULL,
            id text NOT NULL,
            kind text NOT NULL CHECK (kind IN ('plan', 'operation', 'task')),
            title text NOT NULL,
            operation_type text,
            parent_id text,
            root_id text,
            season_id text,
            description text NOT NULL,
            status text NOT NULL
                CHECK (status IN ('todo', 'in_progress', 'blocked', 'done', 'cancelled')),
            priority text NOT NULL,
            assignees text[] NOT NULL,
            due date,
            rank bigint NOT NULL,
            estimate_hours double precision NOT NULL CHECK (estimate_hours >= 0),
            study_id text,
            location_id text,
            unit_ids text[] NOT NULL,
            variable_ids text[] NOT NULL,
            version integer NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            completed_at timestamptz,
            topo bigint NOT NULL DEFAULT nextval('domain.ops_topo_seq'),
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, parent_id) REFERENCES domain.ops_work_items (tenant_id, id),
            FOREIGN KEY (tenant_id, season_id) REFERENCES domain.ops_seasons (tenant_id, id),
            CHECK (season_id IS NULL OR kind = 'task')
        )
        """,
        "CREATE INDEX ops_work_items_board_idx ON domain.ops_work_items "
        "(tenant_id, parent_id, rank, id)",
        "CREATE INDEX ops_work_items_season_idx ON domain.ops_work_items "
        "(tenant_id, season_id, rank, id) WHERE season_id IS NOT NULL",
        "CREATE INDEX ops_work_items_root_idx ON domain.ops_work_items (tenant_id, root_id)",
        "CREATE INDEX ops_work_items_assignees_idx ON domain.ops_work_items USING gin (assignees)",
        """
        CREATE TABLE domain.ops_dependencies (
            tenant_id uuid NOT NULL,
            predecessor_id text NOT NULL,
            successor_id text NOT NULL,
            created_at timestamptz NOT NULL,
            created_by text NOT NULL,
            PRIMARY KEY (tenant_id, predecessor_id, successor_id),
            CHECK (predecessor_id <> successor_id),
            FOREIGN KEY (tenant_id, predecessor_id)
                REFERENCES domain.ops_work_items (tenant_id, id),
            FOREIGN KEY (tenant_id, successor_id)
                REFERENCES domain.ops_work_items (tenant_id, id)
        )
        """,
        "CREATE INDEX ops_dependencies_successor_idx ON domain.ops_dependencies "
        "(tenant_id, successor_id, predecessor_id)",
        """
        CREATE TABLE domain.ops_comments (
            tenant_id uuid NOT NULL,
            id text NOT NULL,
            work_item_id text NOT NULL,
            author text NOT NULL,
            body text NOT NULL,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, work_item_id) REFERENCES domain.ops_work_items (tenant_id, id)
        )
        """,
        "CREATE INDEX ops_comments_item_idx ON domain.ops_comments (tenant_id, work_item_id, id)",
        """
        CREATE TABLE domain.ops_time_entries (
            tenant_id uuid NOT NULL,
            id text NOT NULL,
            work_item_id text NOT NULL,
            member text NOT NULL,
            day date NOT NULL,
            hours double precision NOT NULL CHECK (hours >= 0 AND hours <= 24),
            note text NOT NULL,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, work_item_id) REFERENCES domain.ops_work_items (tenant_id, id)
        )
        """,
        "CREATE INDEX ops_time_entries_item_idx ON domain.ops_time_entries "
        "(tenant_id, work_item_id, id)",
        """
        CREATE TABLE domain.ops_activity (
            tenant_id uuid NOT NULL,
            id text NOT NULL,
            work_item_id text NOT NULL,
            actor text NOT NULL,
            action text NOT NULL,
            changes jsonb NOT NULL,
            at timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, work_item_id) REFERENCES domain.ops_work_items (tenant_id, id)
        )
        """,
        "CREATE INDEX ops_activity_item_idx ON domain.ops_activity (tenant_id, work_item_id, id)",
    )
    for table in TABLES:
        run(*tenant_table(table))


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE domain.ops_{table}")
    op.execute("DROP SEQUENCE domain.ops_topo_seq")
