"""The fixed cost of a tenant transaction in domain-api, as every gRPC call pays it (ADR 0308).

A read-only unit of work as ``TenantTransaction`` runs it: borrow a pooled connection, open
the transaction scoped to the demo organization with its placement gate, one ``SELECT 1``,
roll back, give the connection back. The baseline opens it as before ADR 0308 (``BEGIN`` and
the setting + gate pipelined, ``enter_tenant``), the measured way as now
(``open_tenant_transaction``: one simple-protocol query). Both run in this process against the
same database, interleaved in ``BENCH_ROUNDS`` (5) rounds of ``BENCH_TRANSACTIONS`` (1,500);
the figure is the median per-round ratio of this process's CPU time per transaction (the
shared host's load moves both sides alike), wall time beside it.

    uv run python -m bench.calls.bench_tenant_transaction
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bijmantra.adapters.postgres import create_engine
from bijmantra.adapters.postgres.engine import driver_connection
from bijmantra.adapters.postgres.placement import (
    _begin,
    enter_tenant,
    open_tenant_transaction,
    release,
)
from bijmantra.devstack.stack import DEMO_ORGANIZATION_ID, running_stack
from bijmantra.kernel import TenantId
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "tenant_transaction.json"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
TRANSACTIONS = int(os.environ.get("BENCH_TRANSACTIONS", "1500"))
TENANT = TenantId(uuid.UUID(DEMO_ORGANIZATION_ID))
Opening = Callable[[AsyncConnection, TenantId], Awaitable[str]]


async def _pipelined(connection: AsyncConnection, tenant: TenantId) -> str:
    """Before ADR 0308: the driver's own ``BEGIN`` pipelined with the setting and gate."""
    return await enter_tenant(connection, tenant)


def _backend_cpu(pid: int) -> float:
    """CPU seconds so far of one PostgreSQL backend (same host): user + system ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _transactions(
    engine: AsyncEngine, opening: Opening, count: int, backend: int
) -> tuple[float, float, float]:
    """CPU seconds of this process and of the PostgreSQL backend, and wall seconds, per
    transaction of ``count`` read-only units opened by ``opening``."""
    cpu, server, wall = time.process_time(), _backend_cpu(backend), time.perf_counter()
    for _ in range(count):
        connection = await _begin(engine)
        assert await opening(connection, TENANT) == "open"
        driver = await driver_connection(connection)
        await (await driver.execute("SELECT 1")).fetchone()
        await release(connection)
    return (
        (time.process_time() - cpu) / count,
        (_backend_cpu(backend) - server) / count,
        (time.perf_counter() - wall) / count,
    )


async def measure(url: str) -> dict[str, Any]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    sides: dict[str, Opening] = {"pipelined": _pipelined, "one_query": open_tenant_transaction}
    rounds: list[dict[str, Any]] = []
    try:
        backend = await _backend_pid(engine)  # one pooled connection: one backend
        for opening in sides.values():
            await _transactions(engine, opening, 200, backend)  # warm: pool, prepared statements
        for _ in range(ROUNDS):
            measured = {
                n: await _transactions(engine, o, TRANSACTIONS, backend) for n, o in sides.items()
            }
            both = {n: cpu + server for n, (cpu, server, _) in measured.items()}
            rounds.append(
                {
                    **{f"{n}_cpu_us": round(c * 1e6, 1) for n, (c, _, _) in measured.items()},
                    **{
                        f"{n}_server_cpu_us": round(s * 1e6, 1) for n, (_, s, _) in measured.items()
                    },
                    **{f"{n}_wall_us": round(w * 1e6, 1) for n, (_, _, w) in measured.items()},
                    "cpu_ratio": round(measured["one_query"][0] / measured["pipelined"][0], 3),
                    "with_server_ratio": round(both["one_query"] / both["pipelined"], 3),
                    "load_average": round(os.getloadavg()[0], 1),
                }
            )
            print(json.dumps(rounds[-1]), flush=True)
    finally:
        await engine.dispose()
    return {
        "rounds": rounds,
        "median_cpu_ratio_one_query_to_pipelined": statistics.median(
            r["cpu_ratio"] for r in rounds
        ),
        "median_with_server_ratio": statistics.median(r["with_server_ratio"] for r in rounds),
    }


def main() -> None:
    with running_stack(ROOT / ".bijmantra" / "bench-tenant-transaction") as stack:
        assert stack.database is not None
        result = asyncio.run(measure(stack.database.domain_url))
    report = {
        "meta": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "rounds": ROUNDS,
            "transactions_per_round": TRANSACTIONS,
            "load_average_at_end": os.getloadavg(),
        },
        **result,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    ratios = (result["median_cpu_ratio_one_query_to_pipelined"], result["median_with_server_ratio"])
    print(f"median CPU ratio {ratios[0]}x (with the PostgreSQL backend {ratios[1]}x); {RESULTS}")


if __name__ == "__main__":
    main()
