"""Field operations at season scale, through the whole platform (gateway -> gRPC -> domain-api
-> PostgreSQL with RLS).

A season plan with ``BENCH_OPS_ITEMS`` (10,000) tasks under 100 operations and
``BENCH_OPS_EDGES`` (100,000) finish-to-start dependencies, mostly between nearby work (as a
station's plans are), stored directly in the demo organization's tables. Measured in the
same run:

* ``POST /api/v1/dependencies``: new edges between tasks up to ``BENCH_OPS_SPAN`` positions
  apart, in either direction (half disagree with the order and need the region search; some
  close a cycle and are refused with 422 — checked all the same), p50/p95/p99;
* board pages: ``GET /api/v1/work-items?parent_id=<operation>`` (100 tasks) and
  ``?season_id=<season>&page=<k>&page_size=100`` (10,000 tasks), p95;
* the same use case in-process (domain-api's unit of work against PostgreSQL, no HTTP or
  gRPC hop), p95: the check's own cost;
* baseline: what a check costs when it loads the whole graph — every edge of the
  organization read (same role, same RLS) into an adjacency map and a search from the new
  edge's head for its tail — timed in-process, without any HTTP or gRPC hop. Target: the
  platform's add-edge p95 <= 20 ms and >= 10x faster than the baseline's p95.

    uv run python bench/operations/bench_operations.py
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import random
import statistics
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.application.operations import Collaboration
from bijmantra.devstack.stack import DEMO_ORGANIZATION_ID, running_stack
from bijmantra.kernel import Principal, TenantId, Unprocessable

ROOT = Path(__file__).resolve().parents[2]


RESULTS = ROOT / "bench" / "results" / "operations.json"
ITEMS = int(os.environ.get("BENCH_OPS_ITEMS", "10000"))
EDGES = int(os.environ.get("BENCH_OPS_EDGES", "100000"))
SPAN = int(os.environ.get("BENCH_OPS_SPAN", "200"))
ADDS = int(os.environ.get("BENCH_OPS_ADDS", "300"))
PAGES = int(os.environ.get("BENCH_OPS_PAGES", "200"))
BASELINE_RUNS = int(os.environ.get("BENCH_OPS_BASELINE_RUNS", "20"))
OPERATIONS = 100


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p95_ms": round(percentile(ms, 0.95), 3),
        "p99_ms": round(percentile(ms, 0.99), 3),
    }


def _insert(conn: psycopg.Connection[Any], table: str, columns: str, rows: list[tuple]) -> None:
    """Batched INSERTs (COPY is refused on tables with row-level security)."""
    marks = ", ".join(["%s"] * len(columns.split(",")))
    with conn.cursor() as cursor:
        cursor.executemany(f"INSERT INTO domain.{table} ({columns}) VALUES ({marks})", rows)


def seed(domain_url: str, owner_url: str, rng: random.Random) -> dict[str, Any]:
    """Plan, operations, tasks and edges that agree with the order of the waiting graph
    (ADR 0344): tasks by position, then their operations, then the plan."""
    tenant = DEMO_ORGANIZATION_ID
    now = datetime.now(UTC)
    season, plan = str(uuid.uuid4()), str(uuid.uuid4())
    operations = [str(uuid.uuid4()) for _ in range(OPERATIONS)]
    tasks = [str(uuid.uuid4()) for _ in range(ITEMS)]
    edges: set[tuple[int, int]] = set()
    while len(edges) < EDGES:
        tail = rng.randrange(ITEMS - 1)
        head = min(ITEMS - 1, tail + 1 + int(rng.expovariate(1 / (SPAN / 4))))
        edges.add((tail, head))
    item_columns = (
        "tenant_id, id, kind, title, operation_type, parent_id, root_id, season_id, "
        "description, status, priority, assignees, due, rank, estimate_hours, study_id, "
        "location_id, unit_ids, variable_ids, version, created_at, updated_at, topo"
    )

    def row(
        item: str, kind: str, parent: str | None, season_id: str | None, n: int, topo: int
    ) -> tuple:
        op_type = None if kind == "plan" else "other"
        return (
            tenant, item, kind, f"{kind} {n}", op_type, parent, plan if parent else None,
            season_id, "", "todo", "normal", [], None, (n + 1) * 65536, 1.0, None, None, [],
            [], 1, now, now, topo,
        )  # fmt: skip

    rows = [row(plan, "plan", None, None, 0, ITEMS + OPERATIONS + 1)]
    rows += [
        row(op, "operation", plan, None, n + 1, ITEMS + n + 1) for n, op in enumerate(operations)
    ]
    per_op = ITEMS // OPERATIONS
    rows += [
        row(task, "task", operations[n // per_op], season, OPERATIONS + 1 + n, n)
        for n, task in enumerate(tasks)
    ]
    with psycopg.connect(domain_url) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant,))
        conn.execute(
            "INSERT INTO domain.ops_seasons (tenant_id, id, name, starts_on, ends_on, "
            "capacity_hours, version, created_at) VALUES (%s, %s, 'Bench season', "
            "'2026-06-01', '2026-10-31', 10000, 1, now())",
            (tenant, season),
        )
        _insert(conn, "ops_work_items", item_columns, rows)
        _insert(
            conn,
            "ops_dependencies",
            "tenant_id, predecessor_id, successor_id, created_at, created_by",
            [(tenant, tasks[t], tasks[h], now, "bench") for t, h in sorted(edges)],
        )
        conn.commit()
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("ANALYZE domain.ops_work_items")
        conn.execute("ANALYZE domain.ops_dependencies")
        # Items created later take -nextval: below the seeded order, as the renumbering leaves it.
        conn.execute("SELECT setval('domain.ops_topo_seq', %s)", (ITEMS + OPERATIONS + 10,))
    return {"season": season, "operations": operations, "tasks": tasks, "edges": edges}


def load_whole_graph_check(domain_url: str, tail: str, head: str) -> bool:
    """The baseline: read every edge of the organization, search from head for tail."""
    with psycopg.connect(domain_url) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (DEMO_ORGANIZATION_ID,))
        successors: defaultdict[str, list[str]] = defaultdict(list)
        for predecessor, successor in conn.execute(
            "SELECT predecessor_id, successor_id FROM domain.ops_dependencies"
        ):
            successors[predecessor].append(successor)
    seen, stack = {head}, [head]
    while stack:
        node = stack.pop()
        if node == tail:
            return True
        for nxt in successors[node]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


async def in_process_adds(
    domain_url: str, tasks: list[str], pairs: list[tuple[int, int]]
) -> list[float]:
    """The add-dependency use case on domain-api's own stack (unit of work, RLS, outbox), no
    HTTP or gRPC hop: what the neighbourhood check costs beside the whole-graph baseline."""
    engine = create_engine(domain_url, pool_size=2)
    collaboration = Collaboration(unit_of_work_factory(engine, source="bench"))
    who = Principal("bench", TenantId(uuid.UUID(DEMO_ORGANIZATION_ID)), frozenset({"breeder"}))
    took = []
    try:
        for tail, head in pairs:
            body = json.dumps({"predecessor_id": tasks[tail], "successor_id": tasks[head]})
            t0 = time.perf_counter()
            with contextlib.suppress(Unprocessable):
                await collaboration.depend(who, body.encode())
            took.append(time.perf_counter() - t0)
    finally:
        await engine.dispose()
    return took


def main() -> None:
    rng = random.Random(22)
    with running_stack(
        Path(os.environ.get("BENCH_WORKDIR", "/tmp")) / f"ops-{uuid.uuid4().hex[:8]}"
    ) as stack:
        assert stack.database is not None
        domain_url = stack.database.domain_url
        started = time.perf_counter()
        graph = seed(domain_url, stack.database.owner_url, rng)
        seeded = time.perf_counter() - started
        tasks = graph["tasks"]
        token = stack.login()
        headers = {"Authorization": f"Bearer {token}"}
        adds, statuses = [], defaultdict(int)
        pairs = []
        for _ in range(ADDS):
            a = rng.randrange(ITEMS - SPAN)
            b = a + rng.randrange(1, SPAN)
            pairs.append((a, b) if rng.random() < 0.5 else (b, a))
        with httpx.Client(base_url=stack.gateway_url, timeout=60, headers=headers) as client:
            for warm in range(10):  # connections, caches, JIT-free Python paths
                client.get(f"/api/v1/work-items/{tasks[warm]}")
            for tail, head in pairs:
                body = {"predecessor_id": tasks[tail], "successor_id": tasks[head]}
                t0 = time.perf_counter()
                response = client.post("/api/v1/dependencies", json=body)
                adds.append(time.perf_counter() - t0)
                statuses[response.status_code] += 1
                assert response.status_code in (201, 422), response.text
            board, season = [], []
            for n in range(PAGES):
                operation = graph["operations"][n % OPERATIONS]
                t0 = time.perf_counter()
                response = client.get(
                    "/api/v1/work-items", params={"parent_id": operation, "page_size": 100}
                )
                board.append(time.perf_counter() - t0)
                assert response.status_code == 200
                assert len(response.json()["data"]) == 100
                t0 = time.perf_counter()
                response = client.get(
                    "/api/v1/work-items",
                    params={"season_id": graph["season"], "page": n % 100, "page_size": 100},
                )
                season.append(time.perf_counter() - t0)
                assert response.status_code == 200
                assert len(response.json()["data"]) == 100
        local_pairs = []
        for _ in range(ADDS):
            a = rng.randrange(ITEMS - SPAN)
            b = a + rng.randrange(1, SPAN)
            local_pairs.append((a, b) if rng.random() < 0.5 else (b, a))
        local = asyncio.run(in_process_adds(domain_url, tasks, local_pairs))
        baseline = []
        for tail, head in pairs[:BASELINE_RUNS]:
            t0 = time.perf_counter()
            load_whole_graph_check(domain_url, tasks[tail], tasks[head])
            baseline.append(time.perf_counter() - t0)
    add_summary, base_summary, local_summary = summary(adds), summary(baseline), summary(local)
    report = {
        "meta": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "items": ITEMS,
            "edges": EDGES,
            "span": SPAN,
            "seed_seconds": round(seeded, 2),
        },
        "add_dependency": {**add_summary, "statuses": dict(statuses)},
        "add_dependency_in_process": local_summary,
        "board_page_operation": summary(board),
        "board_page_season": summary(season),
        "baseline_load_whole_graph": base_summary,
        "ratio_baseline_p95_over_add_p95": round(base_summary["p95_ms"] / add_summary["p95_ms"], 1),
        "ratio_baseline_p95_over_in_process_add_p95": round(
            base_summary["p95_ms"] / local_summary["p95_ms"], 1
        ),
        "targets": {"add_p95_ms": 20, "ratio": 10},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2), flush=True)
    print(f"wrote {RESULTS}", flush=True)


if __name__ == "__main__":
    main()
