"""The jobs of one variant set are found through ``analysis_jobs_variant_set`` (ADR 0353).

Deleting a set asks which analyses use it (ADR 0345) and PostgreSQL checks the foreign key
of ``analysis_jobs``; before migration 0256 both read the whole table. The plan is read from
``EXPLAIN``, never from a clock.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from bijmantra.adapters.postgres.analyses import _COMPUTED_FROM
from bijmantra.adapters.postgres.uow import tenant_transaction
from bijmantra.kernel import TenantId
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration
SETS, JOBS = 40, 4_000

_SETS = text(
    "INSERT INTO domain.variant_sets (tenant_id, variant_set_db_id, name, source_format, "
    "n_samples, n_variants, chunk_variants) SELECT CAST(:t AS uuid), 'vs' || s, 'set', 'vcf', "
    "0, 0, 1000 FROM generate_series(1, :sets) s"
)
_JOBS = text(
    "INSERT INTO domain.analysis_jobs (tenant_id, analysis_db_id, type, variant_set_db_id, "
    "call_set_db_ids, parameters, phenotypes, created_at, status, progress, stage, attempt, "
    "summary, timings) SELECT CAST(:t AS uuid), 'a' || i, 'grm', 'vs' || (1 + i % :sets), "
    "'[]', '{}', '[]', now(), 'succeeded', 1, 'done', 1, '{}', '{}' "
    "FROM generate_series(1, :jobs) i"
)


def _reads(plan: dict[str, Any]) -> list[str]:
    """How the plan reads: each node's index, or ``Seq Scan`` (the statement reads only
    ``analysis_jobs``)."""
    found = [plan["Index Name"]] if "Index Name" in plan else []
    found += ["Seq Scan"] if plan["Node Type"] == "Seq Scan" else []
    for child in plan.get("Plans", []):
        found += _reads(child)
    return found


async def test_the_jobs_of_a_set_are_read_through_its_index(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant = TenantId(uuid.uuid4())
    async with tenant_transaction(engine, tenant) as connection:
        await connection.execute(_SETS, {"t": str(tenant), "sets": SETS})
        await connection.execute(_JOBS, {"t": str(tenant), "sets": SETS, "jobs": JOBS})
    with psycopg.connect(database.owner_url, autocommit=True) as owner:
        owner.execute("ANALYZE domain.analysis_jobs")
    async with tenant_transaction(engine, tenant) as connection:
        for set_id, expected in (("vs7", JOBS // SETS), ("vs-unused", 0)):
            params = {"s": set_id, "limit": 5}
            explained = await connection.execute(
                text(f"EXPLAIN (FORMAT JSON) {_COMPUTED_FROM.text}"), params
            )
            [[plan]] = explained.all()
            assert set(_reads(plan[0]["Plan"])) == {"analysis_jobs_variant_set"}
            rows = (await connection.execute(_COMPUTED_FROM, params)).all()
            assert (rows[0].total if rows else 0) == expected
