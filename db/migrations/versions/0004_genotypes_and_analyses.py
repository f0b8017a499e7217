"""Genotype store (variant sets, call sets, variants, compressed dosage chunks) and analysis jobs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from alembic import op
from ddl_v1 import tenant_table

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def run(*statements: str) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    run(
        """
        CREATE TABLE domain.variant_sets (
            tenant_id uuid NOT NULL,
            variant_set_db_id text NOT NULL,
            name text NOT NULL,
            source_format text NOT NULL,
            n_samples integer NOT NULL,
            n_variants integer NOT NULL DEFAULT 0,
            chunk_variants integer NOT NULL,
            skipped jsonb NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, variant_set_db_id)
        )
        """,
        *tenant_table("domain", "variant_sets"),
        """
        CREATE TABLE domain.call_sets (
            tenant_id uuid NOT NULL,
            variant_set_db_id text NOT NULL,
            column_index integer NOT NULL,
            call_set_db_id text NOT NULL,
            sample_name text NOT NULL,
            germplasm_db_id text NOT NULL,
            PRIMARY KEY (tenant_id, variant_set_db_id, column_index),
            UNIQUE (tenant_id, call_set_db_id),
            FOREIGN KEY (tenant_id, variant_set_db_id)
                REFERENCES domain.variant_sets (tenant_id, variant_set_db_id) ON DELETE CASCADE
        )
        """,
        "CREATE INDEX call_sets_germplasm_idx ON domain.call_sets (tenant_id, germplasm_db_id)",
        *tenant_table("domain", "call_sets"),
        """
        CREATE TABLE domain.variants (
            tenant_id uuid NOT NULL,
            variant_set_db_id text NOT NULL,
            variant_index integer NOT NULL,
            chrom text NOT NULL,
            pos bigint NOT NULL,
            variant_name text NOT NULL,
            ref text NOT NULL,
            alt text NOT NULL,
            PRIMARY KEY (tenant_id, variant_set_db_id, variant_index),
            FOREIGN KEY (tenant_id, variant_set_db_id)
                REFERENCES domain.variant_sets (tenant_id, variant_set_db_id) ON DELETE CASCADE
        )
        """,
        *tenant_table("domain", "variants"),
        # One row per chunk of variants: int8 dosages (variants x samples), zlib-compressed.
        """
        CREATE TABLE domain.genotype_chunks (
            tenant_id uuid NOT NULL,
            variant_set_db_id text NOT NULL,
            chunk_index integer NOT NULL,
            variant_start integer NOT NULL,
            n_variants integer NOT NULL,
            n_samples integer NOT NULL,
            codec text NOT NULL,
            dosages bytea NOT NULL,
            PRIMARY KEY (tenant_id, variant_set_db_id, chunk_index),
            FOREIGN KEY (tenant_id, variant_set_db_id)
                REFERENCES domain.variant_sets (tenant_id, variant_set_db_id) ON DELETE CASCADE
        )
        """,
        # Already compressed: skip TOAST's pglz attempt, store out of line as is.
        "ALTER TABLE domain.genotype_chunks ALTER COLUMN dosages SET STORAGE EXTERNAL",
        *tenant_table("domain", "genotype_chunks"),
    )
    run(
        """
        CREATE TABLE domain.analysis_jobs (
            tenant_id uuid NOT NULL,
            analysis_db_id text NOT NULL,
            type text NOT NULL,
            variant_set_db_id text NOT NULL,
            call_set_db_ids jsonb NOT NULL,
            parameters jsonb NOT NULL,
            phenotypes jsonb NOT NULL,
            created_at timestamptz NOT NULL,
            status text NOT NULL,
            progress double precision NOT NULL,
            stage text NOT NULL,
            attempt integer NOT NULL,
            worker text,
            started_at timestamptz,
            finished_at timestamptz,
            error text,
            summary jsonb NOT NULL,
            timings jsonb NOT NULL,
            PRIMARY KEY (tenant_id, analysis_db_id),
            FOREIGN KEY (tenant_id, variant_set_db_id)
                REFERENCES domain.variant_sets (tenant_id, variant_set_db_id)
        )
        """,
        *tenant_table("domain", "analysis_jobs"),
        """
        CREATE TABLE domain.analysis_results (
            tenant_id uuid NOT NULL,
            analysis_db_id text NOT NULL,
            kind text NOT NULL CHECK (kind IN ('table', 'artifact')),
            name text NOT NULL,
            media_type text NOT NULL,
            row_count integer NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (tenant_id, analysis_db_id, kind, name),
            FOREIGN KEY (tenant_id, analysis_db_id)
                REFERENCES domain.analysis_jobs (tenant_id, analysis_db_id) ON DELETE CASCADE
        )
        """,
        *tenant_table("domain", "analysis_results"),
    )
    # analytics-worker's own ledger: every attempt it ran, on which replica, and how it ended.
    run(
        """
        CREATE TABLE analytics.analysis_runs (
            tenant_id uuid NOT NULL,
            analysis_db_id text NOT NULL,
            attempt integer NOT NULL,
            worker text NOT NULL,
            started_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz,
            outcome text,
            read_seconds double precision,
            compute_seconds double precision,
            PRIMARY KEY (tenant_id, analysis_db_id, attempt)
        )
        """,
        *tenant_table("analytics", "analysis_runs"),
    )
