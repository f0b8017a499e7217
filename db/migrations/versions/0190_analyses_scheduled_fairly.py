"""domain: analysis jobs are handed out fairly between organizations (ADR 0329).

Revision ID: 0190
Revises: 0230
Create Date: 2026-12-06

A delivery of an ``analysis.requested`` message reserves the next job by fairness, not the
job it names: ``claim_key`` records which delivery reserved a job, so a redelivery (the
replica died) finds that job again, and ``reserved_at`` when, so that the organization
served longest ago goes first among equals. The scheduler role reads and reserves every
organization's jobs, and only through these columns; the indexes keep a reservation to the
active jobs however many finished ones the table holds.
"""

import os

from alembic import op
from ddl_v1 import SERVICE_ROLES, ensure_role

revision = "0190"
down_revision = "0230"
branch_labels = None
depends_on = None

SCHEDULER = os.environ.get("ANALYSIS_SCHEDULER_DB_ROLE", "bijmantra_analysis_scheduler")


def upgrade() -> None:
    for statement in (
        "ALTER TABLE domain.analysis_jobs ADD COLUMN claim_key text, "
        "ADD COLUMN reserved_at timestamptz",
        "CREATE UNIQUE INDEX analysis_jobs_claim_key ON domain.analysis_jobs (claim_key) "
        "WHERE claim_key IS NOT NULL",
        "CREATE INDEX analysis_jobs_waiting ON domain.analysis_jobs (tenant_id, created_at) "
        "WHERE status = 'queued' AND claim_key IS NULL",
        "CREATE INDEX analysis_jobs_taken ON domain.analysis_jobs (tenant_id) "
        "WHERE status = 'running' OR (status = 'queued' AND claim_key IS NOT NULL)",
        "CREATE INDEX analysis_jobs_served ON domain.analysis_jobs (tenant_id, reserved_at) "
        "WHERE reserved_at IS NOT NULL",
        ensure_role(SCHEDULER, member_of_service=SERVICE_ROLES["domain"]),
        f"GRANT USAGE ON SCHEMA domain TO {SCHEDULER}",
        "GRANT SELECT (tenant_id, analysis_db_id, status, created_at, claim_key, reserved_at), "
        f"UPDATE (claim_key, reserved_at) ON domain.analysis_jobs TO {SCHEDULER}",
        f"CREATE POLICY scheduler_all_tenants ON domain.analysis_jobs TO {SCHEDULER} "
        "USING (true) WITH CHECK (true)",
    ):
        op.execute(statement)


def downgrade() -> None:
    for statement in (
        "DROP POLICY scheduler_all_tenants ON domain.analysis_jobs",
        f"REVOKE ALL ON domain.analysis_jobs FROM {SCHEDULER}",
        f"REVOKE USAGE ON SCHEMA domain FROM {SCHEDULER}",
        "DROP INDEX domain.analysis_jobs_served",
        "DROP INDEX domain.analysis_jobs_taken",
        "DROP INDEX domain.analysis_jobs_waiting",
        "DROP INDEX domain.analysis_jobs_claim_key",
        "ALTER TABLE domain.analysis_jobs DROP COLUMN claim_key, DROP COLUMN reserved_at",
    ):
        op.execute(statement)
