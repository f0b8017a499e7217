"""Placement: single-GET throughput of an organization on a dedicated database against one on
the shared database, same stack, same run (ADR 0102). Target: dedicated >= 0.9x shared.

The stack seeds the demo organization (shared) and the dedicated demo organization (its own
database on the same cluster) with ``BENCH_GERMPLASM`` rows each through the gateway; then
``GET /brapi/v2/germplasm/{id}`` is driven for each in turn, alternating ``BENCH_ROUNDS``
times so that neither side always runs on a warmer machine. The figure is the ratio of the
summed requests per second.

    uv run python -m bench.placement.bench_placement
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import psycopg
from bijmantra.adapters.postgres import libpq_url
from bijmantra.adapters.postgres.placement import ENTER
from bijmantra.adapters.postgres.placement_admin import database_owner_url
from bijmantra.devstack.stack import (
    DEDICATED_DEMO_DATABASE,
    DEDICATED_DEMO_EMAIL,
    DEMO_ORGANIZATION_ID,
    DEMO_PASSWORD,
    running_stack,
)

from bench.loadgen import run_load
from bench.run import CONNECTIONS, GERMPLASM, ROOT, SECONDS, seed, single_get_paths

RESULTS = ROOT / "bench" / "results" / "placement.json"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
# Connections per dedicated pool. The default (2) is sized for many quiet organizations; 5
# gives the dedicated organization the same single-document pool as the shared database's
# (DB_POOL_SIZE 20 // 4), so that the ratio measures routing, not pool sizes.
POOL_SIZE = os.environ.get("BENCH_PLACEMENT_POOL_SIZE", "5")


async def _alternate(port: int, sides: dict[str, tuple[str, list[str]]]) -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    for _ in range(ROUNDS):
        for name, (token, paths) in sides.items():
            result = await run_load(
                paths, port=port, token=token, connections=CONNECTIONS, duration=SECONDS
            )
            runs[name].append(result.summary())
            print(
                f"  {name:<10} {result.rps:8.1f} req/s  p50 {result.percentile(0.5):7.2f} ms  "
                f"p99 {result.percentile(0.99):7.2f} ms  errors {result.errors}",
                flush=True,
            )
    totals = {n: sum(r["requests_per_second"] for r in rs) for n, rs in runs.items()}
    ratio = round(totals["dedicated"] / totals["shared"], 3)
    print(f"  dedicated / shared: {ratio:.3f}x", flush=True)
    return {"runs": runs, "ratio_dedicated_to_shared_rps": ratio}


def _gate_cost(url: str, tenant: str, transactions: int = 3000) -> dict[str, Any]:
    """Transactions per second of BEGIN + tenant setting + one-row SELECT + COMMIT, with and
    without ``placement.enter`` in the setting's statement (pipelined, as the unit of work
    sends it), alternating three rounds: what the gate costs every request."""
    statements = {
        "setting_only": "SELECT set_config('app.tenant_id', %s, true), %s",
        "setting_and_gate": ENTER,
    }
    rates: dict[str, list[float]] = {name: [] for name in statements}
    with psycopg.connect(libpq_url(url)) as conn:
        for _ in range(3):
            for name, statement in statements.items():
                started = time.perf_counter()
                for _ in range(transactions):
                    with conn.pipeline():
                        conn.execute(statement, (tenant, tenant))
                        conn.execute("SELECT 1")
                        conn.commit()
                rates[name].append(transactions / (time.perf_counter() - started))
    ratio = round(sum(rates["setting_and_gate"]) / sum(rates["setting_only"]), 3)
    print(f"  gate: {ratio:.3f}x the transactions per second without it", flush=True)
    return {"transactions_per_second": rates, "ratio_with_gate": ratio}


def main() -> None:
    with running_stack(
        Path(ROOT / ".bijmantra" / "bench-placement"),
        dedicated_org=True,
        env={"PLACEMENT_POOL_SIZE": POOL_SIZE},
    ) as stack:
        shared_token = stack.login()
        dedicated_token = stack.login(email=DEDICATED_DEMO_EMAIL, password=DEMO_PASSWORD)
        sides = {
            "shared": (shared_token, single_get_paths(seed(stack, shared_token))),
            "dedicated": (dedicated_token, single_get_paths(seed(stack, dedicated_token))),
        }
        assert stack.database is not None
        # Fresh tables in both databases: statistics as a settled system has them, so that
        # neither side waits for autovacuum to notice its rows.
        for database in (None, DEDICATED_DEMO_DATABASE):
            with psycopg.connect(database_owner_url(stack.database.owner_url, database)) as conn:
                conn.execute("ANALYZE")
        print("Placement: GET /germplasm/{id}, shared vs dedicated database", flush=True)
        results = asyncio.run(_alternate(stack.ports.gateway, sides))
        gate = _gate_cost(stack.database.domain_url, DEMO_ORGANIZATION_ID)
    report = {
        "meta": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "seconds_per_run": SECONDS,
            "rounds": ROUNDS,
            "connections": CONNECTIONS,
            "germplasm_rows_per_organization": GERMPLASM,
            "placement_pool_size": int(POOL_SIZE),
        },
        "single_get": results,
        "gate": gate,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS}", flush=True)


if __name__ == "__main__":
    main()
