"""The daily quota's charge (ADR 0340) on the commits of one organization's writers.

Every write that emits events charges its organization's usage of the day in its own
transaction. Measured: commits per second of ``BENCH_QUOTA_WRITERS`` (32) connections, each
committing an outbox row as fast as it can for ``BENCH_QUOTA_SECONDS`` (8) per side, in
``BENCH_QUOTA_ROUNDS`` (3) rounds: the writers of one organization charging, against the
same commits without a charge and against 32 organizations charging (no two writers share
a row of the day there). One row per organization and day made one organization's writes
commit in turn; the shards (migration 0246) should leave one organization as fast as 32.

    uv run python -m bench.quotas.bench_quota_charge
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import time
import uuid
from pathlib import Path

import psycopg
from bijmantra.devstack.stack import DevStack, Ports
from bijmantra.testkit.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "quotas.json"
WRITERS = int(os.environ.get("BENCH_QUOTA_WRITERS", "32"))
SECONDS = float(os.environ.get("BENCH_QUOTA_SECONDS", "8"))
ROUNDS = int(os.environ.get("BENCH_QUOTA_ROUNDS", "3"))
NO_LIMIT = 1 << 60


def commit(tenant: str, charged: bool) -> bytes:
    """One write as a single simple-protocol round trip: tenant, outbox row, charge, commit."""
    statement = (
        f"BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true); "
        "INSERT INTO domain.outbox (id, tenant_id, type, aggregate_id, envelope) VALUES "
        f"(gen_random_uuid(), '{tenant}', 'germplasm.updated', gen_random_uuid()::text, "
        "'\\x00'); "
    )
    if charged:
        statement += (
            "SELECT domain.charge_usage(current_date, ARRAY['event_bytes'], "
            f"ARRAY[1000::bigint], ARRAY[{NO_LIMIT}::bigint]); "
        )
    return (statement + "COMMIT;").encode()


async def commits_per_second(url: str, tenants: list[str], charged: bool) -> float:
    connections = [
        await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(WRITERS)
    ]
    done = 0
    end = time.monotonic() + SECONDS

    async def writer(i: int) -> None:
        nonlocal done
        statement = commit(tenants[i % len(tenants)], charged)
        while time.monotonic() < end:
            await connections[i].execute(statement, prepare=False)
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(writer(i) for i in range(WRITERS)))
    elapsed = time.monotonic() - started
    for connection in connections:
        await connection.close()
    return done / elapsed


def main() -> None:
    workdir = ROOT / ".bijmantra" / "bench-quotas"
    stack = DevStack(workdir, Ports(gateway=free_port()), log_dir=workdir / "logs")
    sides = {
        "one_organization_uncharged": ([str(uuid.uuid4())], False),
        "one_organization_charged": ([str(uuid.uuid4())], True),
        "many_organizations_charged": ([str(uuid.uuid4()) for _ in range(WRITERS)], True),
    }
    rates: dict[str, list[float]] = {side: [] for side in sides}
    try:
        stack.start_servers()
        stack.seed(testdata=False)
        assert stack.database is not None
        for round_ in range(ROUNDS):
            for side, (tenants, charged) in sides.items():  # interleaved: the host drifts
                rate = asyncio.run(commits_per_second(stack.database.domain_url, tenants, charged))
                rates[side].append(round(rate))
                print(f"round {round_}: {side:28s} {rate:8.0f} commits/s", flush=True)
    finally:
        stack.stop()
    medians = {side: statistics.median(values) for side, values in rates.items()}
    report = {
        "meta": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "writers": WRITERS,
            "seconds_per_side": SECONDS,
            "load_average_1m_at_end": os.getloadavg()[0],
        },
        "commits_per_second": rates,
        "ratio_one_organization_vs_many": round(
            medians["one_organization_charged"] / medians["many_organizations_charged"], 2
        ),
        "ratio_charged_vs_uncharged": round(
            medians["one_organization_charged"] / medians["one_organization_uncharged"], 2
        ),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k.startswith("ratio")}), flush=True)


if __name__ == "__main__":
    main()
