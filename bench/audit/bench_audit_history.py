"""One resource's audit history under row-level security: the store's page, which first asks
``domain.audit_positions_of`` for the entries' positions (ADR 0356), against the statements
the store ran before, on the same rows in the same run.

One organization holds ``BENCH_AUDIT_ROWS`` audit entries (default 100,000), another 100,000
naming the same resource ids; every 100th entry is a bulk event of 50 resources. The entries
are seeded by SQL (hashes zero, the link trigger off while seeding) on a PostgreSQL of the
bench's own. The history of a resource with 15 entries (5 of them bulk) is read as the
domain-api role with the organization set, a page of 20 with its total, in interleaved rounds
(``BENCH_ROUNDS``, default 5; median). Writes ``bench/results/audit_history.json``.

    uv run python -m bench.audit.bench_audit_history
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from bijmantra.adapters.postgres import PostgresAuditStore, create_engine
from bijmantra.kernel import PageRequest, TenantId
from bijmantra.testkit.provision import provision
from bijmantra.testkit.servers import LocalPostgres

from bench.schema.bench_schema import write_result

ROWS = int(os.environ.get("BENCH_AUDIT_ROWS", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
PAGE = PageRequest(0, 20)
_SEED = (
    "INSERT INTO domain.audit_log (tenant_id, position, event_id, event_type, subject, actor, "
    "occurred_at, recorded_at, envelope, prev_hash, hash, resources) "
    "SELECT %(t)s, g, gen_random_uuid(), CASE WHEN g %% 100 = 0 "
    "THEN 'observation.created.bulk' ELSE 'observation.updated' END, 'obs-' || (g / 10), "
    "'user-1', now(), now(), convert_to(repeat('e', 400), 'UTF8'), "
    "decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'), "
    "CASE WHEN g %% 100 = 0 THEN ARRAY(SELECT 'obs-' || (g / 10 + k) "
    "FROM generate_series(0, 49) k) END FROM generate_series(1, %(n)s) g"
)
# The statements of ``PostgresAuditStore.page`` for a resource before ADR 0356.
_TEST = "subject = %(r)s OR resources @> ARRAY[CAST(%(r)s AS text)]"
_BEFORE_COUNT = "SELECT count(*) FROM domain.audit_log WHERE " + _TEST
_BEFORE_PAGE = (
    "SELECT tenant_id, position, event_id, event_type, subject, actor, occurred_at, "
    "recorded_at, envelope, prev_hash, hash FROM domain.audit_log WHERE " + _TEST + " "
    "ORDER BY position LIMIT %(limit)s OFFSET %(offset)s"
)


def seed(owner_url: str) -> TenantId:
    ours, theirs = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(owner_url) as conn:
        # The link trigger looks each predecessor up; unanalyzed, its plan scans the table.
        conn.execute("SET session_replication_role = replica")
        for tenant, rows in ((theirs, 100_000), (ours, ROWS)):
            conn.execute(_SEED, {"t": tenant, "n": rows})
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE domain.audit_log")
    return TenantId(ours)


async def measure(domain_url: str, tenant: TenantId, resource: str) -> dict[str, Any]:
    engine = create_engine(domain_url, pool_size=1)
    store = PostgresAuditStore(engine)
    times: dict[str, list[float]] = {"before": [], "finder": []}
    params = {"r": resource, "limit": PAGE.page_size, "offset": PAGE.offset}
    with psycopg.connect(domain_url, autocommit=True) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant),))
        for _ in range(ROUNDS):
            started = time.perf_counter()
            total = conn.execute(_BEFORE_COUNT, params, prepare=False).fetchone()
            before = conn.execute(_BEFORE_PAGE, params, prepare=False).fetchall()
            times["before"].append(time.perf_counter() - started)
            started = time.perf_counter()
            page = await store.page(tenant, PAGE, resource=resource)
            times["finder"].append(time.perf_counter() - started)
            assert total is not None
            assert total[0] == page.total_count
            assert [r[1] for r in before] == [e.position for e in page.items]
    await engine.dispose()
    before_ms, finder_ms = (statistics.median(times[s]) * 1000 for s in ("before", "finder"))
    print(f"  history of {page.total_count}: {before_ms:9.1f} ms -> {finder_ms:7.2f} ms")
    return {
        "entries": page.total_count,
        "before_ms": round(before_ms, 2),
        "finder_ms": round(finder_ms, 2),
        "ratio_finder_to_before": round(finder_ms / before_ms, 4),
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as work:
        postgres = LocalPostgres(Path(work) / "pgdata")
        database = provision(postgres.start())
        try:
            tenant = seed(database.owner_url)
            result = asyncio.run(measure(database.domain_url, tenant, f"obs-{ROWS // 20 + 7}"))
        finally:
            postgres.stop()
    write_result(
        "audit_history.json",
        {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average": os.getloadavg()[0],
            "entries_of_the_organization": ROWS,
            "entries_of_the_other": 100_000,
            "rounds": ROUNDS,
            "page_size": PAGE.page_size,
            "baseline": "the statements of the store before ADR 0356, same run, same role",
            "history": result,
        },
    )


if __name__ == "__main__":
    main()
