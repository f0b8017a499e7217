"""``just bench``: every benchmark, each compared with a baseline measured in the same run.

Writes ``bench/results/<name>.json``. Sizes: ``BENCH_SECONDS`` (default 10 per scenario),
``BENCH_CONNECTIONS`` (default 32), ``BENCH_GERMPLASM`` (default 3000).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from joserfc import jwt
from joserfc.jwk import OctKey

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loadgen import run_load  # noqa: E402
from bijmantra.testkit.devstack import DEMO_ORGANIZATION_ID, DevStack, Ports  # noqa: E402
from bijmantra.testkit.servers import free_port, terminate, wait_for_port  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
GERMPLASM = int(os.environ.get("BENCH_GERMPLASM", "3000"))


def seed(stack: DevStack, token: str) -> list[str]:
    ids: list[str] = []
    with httpx.Client(base_url=stack.gateway_url, timeout=120, headers={"Authorization": f"Bearer {token}"}) as client:
        for start in range(0, GERMPLASM, 500):
            batch = [
                {"germplasmName": f"B{i}", "germplasmPUI": f"doi:bench/{i}", "commonCropName": "Maize",
                 "accessionNumber": f"A{i}", "acquisitionDate": "2021-03-04", "genus": "Zea", "species": "mays",
                 "synonyms": [{"synonym": f"S{i}", "type": "alias"}],
                 "externalReferences": [{"referenceId": f"E{i}", "referenceSource": "bench"}]}
                for i in range(start, min(start + 500, GERMPLASM))
            ]  # fmt: skip
            response = client.post("/brapi/v2/germplasm", json=batch)
            response.raise_for_status()
            ids += [d["germplasmDbId"] for d in response.json()["result"]["data"]]
    return ids


def start_baseline(owner_url: str, secret: str) -> tuple[subprocess.Popen[bytes], int]:
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS baseline CASCADE")
        conn.execute("CREATE SCHEMA baseline")
        # The baseline's own relational table, built from the same rows the engine serves.
        conn.execute(
            "CREATE TABLE baseline.germplasm AS SELECT tenant_id, db_id AS germplasm_db_id, "
            "document->>'germplasmName' AS germplasm_name, document->>'germplasmPUI' AS germplasm_pui, "
            "document->>'commonCropName' AS common_crop_name, document->>'accessionNumber' AS accession_number, "
            "(document->>'acquisitionDate')::date AS acquisition_date, document->>'genus' AS genus, "
            "document->>'species' AS species, document->>'collection' AS collection, "
            "document->>'pedigree' AS pedigree, "
            "coalesce(nullif(document->'synonyms', 'null'), '[]')::json AS synonyms, "
            "coalesce(nullif(document->'externalReferences', 'null'), '[]')::json AS external_references, "
            "coalesce(nullif(document->'additionalInfo', 'null'), '{}')::json AS additional_info, "
            "coalesce(nullif(document->'donors', 'null'), '[]')::json AS donors "
            "FROM domain.resources WHERE entity = 'germplasm'"
        )
        conn.execute("ALTER TABLE baseline.germplasm ADD PRIMARY KEY (tenant_id, germplasm_db_id)")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.baseline_app:app", "--port", str(port), "--log-level", "warning",
         "--no-access-log"],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": owner_url, "BASELINE_SECRET": secret},
    )  # fmt: skip
    wait_for_port(port, process=process)
    return process, port


async def compare(name: str, paths: list[str], ours: tuple[int, str], baseline: tuple[int, str]) -> dict[str, object]:
    results = {}
    for label, (port, token) in (("baseline_fastapi", baseline), ("bijmantra", ours)):
        result = await run_load(paths, port=port, token=token, connections=CONNECTIONS, duration=SECONDS)
        results[label] = result.summary()
        print(f"  {name:<28} {label:<17} {result.rps:8.1f} req/s  p50 {result.percentile(0.5):7.2f} ms  "
              f"p99 {result.percentile(0.99):7.2f} ms  errors {result.errors}", flush=True)  # fmt: skip
    ratio = results["bijmantra"]["requests_per_second"] / results["baseline_fastapi"]["requests_per_second"]  # type: ignore[operator]
    results["ratio_requests_per_second"] = round(ratio, 3)
    print(f"  {name:<28} ratio {ratio:.2f}x", flush=True)
    return results


def slice_benchmark() -> dict[str, object]:
    workdir = ROOT / ".bijmantra" / "bench"
    stack = DevStack(workdir, Ports(gateway=free_port()), log_dir=workdir / "logs")
    baseline = None
    try:
        stack.start_servers()
        stack.seed(testdata=False)
        stack.start_services()
        token = stack.login()
        ids = seed(stack, token)
        assert stack.database is not None
        secret = os.urandom(32).hex()
        baseline, baseline_port = start_baseline(stack.database.owner_url, secret)
        now = int(time.time())
        baseline_token = jwt.encode(
            {"alg": "HS256"}, {"sub": "demo", "tid": DEMO_ORGANIZATION_ID, "exp": now + 3600}, OctKey.import_key(secret.encode())
        )
        random.seed(7)
        single = [f"/brapi/v2/germplasm/{i}" for i in random.sample(ids, min(len(ids), 2000))]
        ours, theirs = (stack.ports.gateway, token), (baseline_port, baseline_token)
        report = {
            "single_get": asyncio.run(compare("GET /germplasm/{id}", single, ours, theirs)),
            "page_1000": asyncio.run(compare("GET /germplasm?pageSize=1000", ["/brapi/v2/germplasm?pageSize=1000"], ours, theirs)),
        }
        report["tracing_overhead_single_get"] = tracing_overhead(stack, single, token)
        return report
    finally:
        if baseline is not None:
            terminate(baseline)
        stack.stop()


def tracing_overhead(stack: DevStack, paths: list[str], token: str) -> dict[str, Any]:
    """The same GETs with tracing off, then with every request sampled and spans written to files.

    Services restart between the runs (tracing is chosen at process start); database, data and
    token stay the same. The ratio is traced over untraced throughput (1.0 = free).
    """
    traces = stack.workdir / "traces"
    shutil.rmtree(traces, ignore_errors=True)
    traced = {
        "BIJMANTRA_TRACE_FILE": str(traces / "{service}.jsonl"),
        "OTEL_TRACES_SAMPLER": "always_on",
    }
    results: dict[str, Any] = {}
    for label, env in (("tracing_off", {}), ("tracing_on_file_exporter", traced)):
        stack.stop_services()
        stack.env = env
        stack.start_services()
        load = functools.partial(
            run_load, port=stack.ports.gateway, token=token, connections=CONNECTIONS
        )
        asyncio.run(load(paths[:200], duration=2))  # warm-up: connections, caches, JIT-free paths
        result = asyncio.run(load(paths, duration=SECONDS))
        results[label] = result.summary()
        print(f"  {'GET /germplasm/{id}':<28} {label:<25} {result.rps:8.1f} req/s  "
              f"p50 {result.percentile(0.5):7.2f} ms  p99 {result.percentile(0.99):7.2f} ms  "
              f"errors {result.errors}", flush=True)  # fmt: skip
    off, on = results["tracing_off"], results["tracing_on_file_exporter"]
    throughput = on["requests_per_second"] / off["requests_per_second"]
    results["ratio_requests_per_second"] = round(throughput, 3)
    results["ratio_p50_latency"] = round(on["p50_ms"] / off["p50_ms"], 3)
    results["spans_written"] = sum(1 for f in traces.glob("*.jsonl") for _ in f.open())
    print(f"  tracing on/off throughput ratio {results['ratio_requests_per_second']:.3f}x "
          f"(p50 latency ratio {results['ratio_p50_latency']:.3f}x, "
          f"{results['spans_written']} spans written)", flush=True)  # fmt: skip
    return results


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "seconds_per_scenario": SECONDS, "connections": CONNECTIONS, "germplasm_rows": GERMPLASM,
            "load_generator": "bench/loadgen.py (closed-loop asyncio HTTP/1.1 keep-alive)"}  # fmt: skip
    print("Vertical slice: gateway -> gRPC -> domain-api -> PostgreSQL (token + RLS) vs FastAPI baseline", flush=True)
    report = {"meta": meta, **slice_benchmark()}
    (RESULTS / "slice.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS / 'slice.json'}", flush=True)
    events = ROOT / "bench" / "events" / "bench_events.py"
    if "--skip-events" not in sys.argv:
        subprocess.run([sys.executable, str(events)], cwd=ROOT, check=True)
    genomics = ROOT / "bench" / "genomics" / "bench_genomics.py"
    if genomics.exists() and "--skip-genomics" not in sys.argv:
        subprocess.run([sys.executable, str(genomics)], cwd=ROOT, check=True)
    genotypes = ROOT / "bench" / "genotypes" / "bench_genotypes.py"
    if "--skip-genotypes" not in sys.argv:
        # import throughput and the GRM job through the whole path vs the kernel alone
        subprocess.run([sys.executable, str(genotypes)], cwd=ROOT, check=True)
    if "--skip-phenotyping" not in sys.argv:
        # POST /observations in batches of 10,000 vs a raw COPY; /observations/table streamed
        phenotyping = ROOT / "bench" / "phenotyping" / "bench_phenotyping.py"
        subprocess.run([sys.executable, str(phenotyping)], cwd=ROOT, check=True)
    if "--skip-auth" not in sys.argv:
        # token verification: JwtVerifier micro-benchmark, authenticated vs anonymous requests/s
        subprocess.run([sys.executable, str(ROOT / "bench" / "auth" / "bench_auth.py")], cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
