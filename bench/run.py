"""``just bench``: every benchmark, each compared with a baseline measured in the same run.

Writes ``bench/results/<name>.json``. Sizes: ``BENCH_SECONDS`` (default 10 per scenario),
``BENCH_CONNECTIONS`` (default 32), ``BENCH_GERMPLASM`` (default 3000).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
from joserfc import jwt
from joserfc.jwk import OctKey
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bijmantra.devstack.stack import DEMO_ORGANIZATION_ID, DevStack, running_stack  # noqa: E402
from bijmantra.testkit.servers import free_port, terminate, wait_for_port  # noqa: E402

from bench.loadgen import run_load  # noqa: E402

# A load generator is one client flooding on purpose: benchmarks lift the gateway's rate
# limits (ADR 0140) unless they measure them; sub-benchmarks inherit the environment.
UNLIMITED = ",".join(f"{c}=1000000000/1000000000" for c in ("read", "write", "search", "upload"))
os.environ.setdefault("GATEWAY_RATE_LIMITS", UNLIMITED)

RESULTS = ROOT / "bench" / "results"
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
GERMPLASM = int(os.environ.get("BENCH_GERMPLASM", "3000"))


def seed(stack: DevStack, token: str) -> list[str]:
    ids: list[str] = []
    with httpx.Client(
        base_url=stack.gateway_url, timeout=120, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        for start in range(0, GERMPLASM, 500):
            batch = [
                {
                    "germplasmName": f"B{i}",
                    "germplasmPUI": f"doi:bench/{i}",
                    "commonCropName": "Maize",
                    "accessionNumber": f"A{i}",
                    "acquisitionDate": "2021-03-04",
                    "genus": "Zea",
                    "species": "mays",
                    "synonyms": [{"synonym": f"S{i}", "type": "alias"}],
                    "externalReferences": [{"referenceId": f"E{i}", "referenceSource": "bench"}],
                }
                for i in range(start, min(start + 500, GERMPLASM))
            ]
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
            "document->>'germplasmName' AS germplasm_name, document->>'germplasmPUI' AS "
            "germplasm_pui, "
            "document->>'commonCropName' AS common_crop_name, document->>'accessionNumber' AS "
            "accession_number, "
            "(document->>'acquisitionDate')::date AS acquisition_date, document->>'genus' AS "
            "genus, "
            "document->>'species' AS species, document->>'collection' AS collection, "
            "document->>'pedigree' AS pedigree, "
            "coalesce(nullif(document->'synonyms', 'null'), '[]')::json AS synonyms, "
            "coalesce(nullif(document->'externalReferences', 'null'), '[]')::json AS "
            "external_references, "
            "coalesce(nullif(document->'additionalInfo', 'null'), '{}')::json AS additional_info, "
            "coalesce(nullif(document->'donors', 'null'), '[]')::json AS donors "
            "FROM domain.resources WHERE entity = 'germplasm'"
        )
        conn.execute("ALTER TABLE baseline.germplasm ADD PRIMARY KEY (tenant_id, germplasm_db_id)")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.baseline_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": owner_url, "BASELINE_SECRET": secret},
    )
    wait_for_port(port, process=process)
    return process, port


async def compare(
    name: str, paths: list[str], ours: tuple[int, str], baseline: tuple[int, str]
) -> dict[str, object]:
    results = {}
    for label, (port, token) in (("baseline_fastapi", baseline), ("bijmantra", ours)):
        result = await run_load(
            paths, port=port, token=token, connections=CONNECTIONS, duration=SECONDS
        )
        results[label] = result.summary()
        print(
            f"  {name:<28} {label:<17} {result.rps:8.1f} req/s  p50 "
            f"{result.percentile(0.5):7.2f} ms  "
            f"p99 {result.percentile(0.99):7.2f} ms  errors {result.errors}",
            flush=True,
        )
    ratio = (
        results["bijmantra"]["requests_per_second"]
        / results["baseline_fastapi"]["requests_per_second"]
    )  # type: ignore[operator]
    results["ratio_requests_per_second"] = round(ratio, 3)
    print(f"  {name:<28} ratio {ratio:.2f}x", flush=True)
    return results


@contextlib.contextmanager
def seeded_stack(name: str) -> Iterator[tuple[DevStack, str, list[str]]]:
    """The four services on fresh servers with ``GERMPLASM`` rows: (stack, token, ids)."""
    with running_stack(ROOT / ".bijmantra" / name) as stack:
        token = stack.login()
        yield stack, token, seed(stack, token)


def single_get_paths(ids: list[str]) -> list[str]:
    random.seed(7)
    return [f"/brapi/v2/germplasm/{i}" for i in random.sample(ids, min(len(ids), 2000))]


def slice_benchmark() -> dict[str, object]:
    with seeded_stack("bench") as (stack, token, ids):
        assert stack.database is not None
        secret = os.urandom(32).hex()
        baseline, baseline_port = start_baseline(stack.database.owner_url, secret)
        try:
            now = int(time.time())
            baseline_token = jwt.encode(
                {"alg": "HS256"},
                {"sub": "demo", "tid": DEMO_ORGANIZATION_ID, "exp": now + 3600},
                OctKey.import_key(secret.encode()),
            )
            single = single_get_paths(ids)
            ours, theirs = (stack.ports.gateway, token), (baseline_port, baseline_token)
            page = ["/brapi/v2/germplasm?pageSize=1000"]
            results = {
                "single_get": asyncio.run(compare("GET /germplasm/{id}", single, ours, theirs)),
                "page_1000": asyncio.run(
                    compare("GET /germplasm?pageSize=1000", page, ours, theirs)
                ),
            }
            # The same page with the gateway's page cache off: every request reads, encodes and
            # sends the page again (what a first or an always-changing page costs).
            stack.stop_services()
            stack.env = {"GATEWAY_PAGE_CACHE_BYTES": "0"}
            stack.start_services()
            results["page_1000_page_cache_off"] = asyncio.run(
                compare("GET /germplasm?pageSize=1000 (no cache)", page, ours, theirs)
            )
            return results
        finally:
            terminate(baseline)


def tracing_benchmark() -> dict[str, Any]:
    with seeded_stack("bench-tracing") as (stack, token, ids):
        return tracing_overhead(stack, single_get_paths(ids), token)


def wait_for_consumers_to_drain(stack: DevStack, timeout: float = 600.0) -> None:
    """Poll the services' own lag gauges until every durable consumer has caught up."""
    urls = [
        f"http://127.0.0.1:{stack.ports.domain_metrics}/metrics",
        f"http://127.0.0.1:{stack.ports.worker_health}/metrics",
    ]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lag = [
            sample.value
            for url in urls
            for family in text_string_to_metric_families(httpx.get(url, timeout=5).text)
            for sample in family.samples
            if sample.name in ("consumer_pending_messages", "consumer_ack_pending_messages")
        ]
        if lag and not any(lag):
            return
        time.sleep(1)
    raise TimeoutError("consumers did not drain the seed's events")


def tracing_overhead(stack: DevStack, paths: list[str], token: str) -> dict[str, Any]:
    """The same GETs with tracing off, with every request traced to files, and with 10% sampled.

    Services restart between runs (tracing is chosen at process start); database, data and
    token stay the same. Ratios are traced over untraced throughput (1.0 = free).
    """
    traces = stack.workdir / "traces"
    shutil.rmtree(traces, ignore_errors=True)
    to_file = {"BIJMANTRA_TRACE_FILE": str(traces / "{service}.jsonl")}
    configurations = {
        "tracing_off": {},
        "tracing_on_file_exporter": {**to_file, "OTEL_TRACES_SAMPLER": "always_on"},
        "tracing_10pct_sampled_file_exporter": {
            **to_file,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.1",
        },
    }
    results: dict[str, Any] = {}
    for label, env in configurations.items():
        stack.stop_services()
        stack.env = env
        stack.start_services()
        wait_for_consumers_to_drain(stack)  # the seed's events must not compete with the load
        load = functools.partial(
            run_load, port=stack.ports.gateway, token=token, connections=CONNECTIONS
        )
        asyncio.run(load(paths[:200], duration=2))  # warm-up: connections, pools, caches
        result = asyncio.run(load(paths, duration=SECONDS))
        results[label] = result.summary()
        print(
            f"  {'GET /germplasm/{id}':<28} {label:<36} {result.rps:8.1f} req/s  "
            f"p50 {result.percentile(0.5):7.2f} ms  p99 {result.percentile(0.99):7.2f} ms  "
            f"errors {result.errors}",
            flush=True,
        )
    off = results["tracing_off"]
    for label in list(configurations)[1:]:
        on = results[label]
        throughput = on["requests_per_second"] / off["requests_per_second"]
        on["ratio_requests_per_second"] = round(throughput, 3)
        on["ratio_p50_latency"] = round(on["p50_ms"] / off["p50_ms"], 3)
        print(
            f"  {label}: throughput ratio {on['ratio_requests_per_second']:.3f}x, "
            f"p50 latency ratio {on['ratio_p50_latency']:.3f}x",
            flush=True,
        )
    results["spans_written"] = sum(1 for f in traces.glob("*.jsonl") for _ in f.open())
    return results


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "seconds_per_scenario": SECONDS,
        "connections": CONNECTIONS,
        "germplasm_rows": GERMPLASM,
        "load_generator": "bench/loadgen.py (closed-loop asyncio HTTP/1.1 keep-alive)",
    }
    print(
        "Vertical slice: gateway -> gRPC -> domain-api -> PostgreSQL (token + RLS) vs FastAPI "
        "baseline",
        flush=True,
    )
    report = {"meta": meta, **slice_benchmark()}
    (RESULTS / "slice.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS / 'slice.json'}", flush=True)
    events = ROOT / "bench" / "events" / "bench_events.py"
    if "--skip-events" not in sys.argv:
        subprocess.run([sys.executable, str(events)], cwd=ROOT, check=True)
    print(
        "Tracing overhead: the single GET with OpenTelemetry off vs on (always_on, file exporter)",
        flush=True,
    )
    tracing = {"meta": meta, "single_get": tracing_benchmark()}
    (RESULTS / "tracing.json").write_text(json.dumps(tracing, indent=2))
    print(f"wrote {RESULTS / 'tracing.json'}", flush=True)
    if "--skip-schema" not in sys.argv:  # request validation: shape vs JSON-Schema libraries
        subprocess.run([sys.executable, "-m", "bench.schema.bench_schema"], cwd=ROOT, check=True)
        # response documents: msgspec structs vs the dicts they replaced (ADR 0250)
        subprocess.run([sys.executable, "-m", "bench.schema.bench_documents"], cwd=ROOT, check=True)
    genomics = ROOT / "bench" / "genomics" / "bench_genomics.py"
    if genomics.exists() and "--skip-genomics" not in sys.argv:
        subprocess.run([sys.executable, str(genomics)], cwd=ROOT, check=True)
    genotypes = ROOT / "bench" / "genotypes" / "bench_genotypes.py"
    if "--skip-genotypes" not in sys.argv:
        # import throughput and the GRM job through the whole path vs the kernel alone
        subprocess.run([sys.executable, str(genotypes)], cwd=ROOT, check=True)
    if "--skip-vcf-bcftools" not in sys.argv:
        # VCF export (2,000 x 50,000, streamed) and import vs bcftools view, same run
        module = "bench.genotypes.bench_vcf_bcftools"
        subprocess.run([sys.executable, "-m", module], cwd=ROOT, check=True)
    if "--skip-allele-matrix" not in sys.argv:
        # an allele-matrix page of 1,000 x 2,000 vs the same page from a row-per-call table
        module = "bench.genotypes.bench_allele_matrix"
        subprocess.run([sys.executable, "-m", module], cwd=ROOT, check=True)
    if "--skip-phenotyping" not in sys.argv:
        # POST /observations in batches of 10,000 vs a raw COPY; /observations/table streamed
        phenotyping = ROOT / "bench" / "phenotyping" / "bench_phenotyping.py"
        subprocess.run([sys.executable, str(phenotyping)], cwd=ROOT, check=True)
    if "--skip-sensors" not in sys.argv:
        # a year of 1-minute telemetry over HTTPS vs a raw COPY; 1h history vs raw aggregation
        sensors = ROOT / "bench" / "sensors" / "bench_sensors.py"
        subprocess.run([sys.executable, str(sensors)], cwd=ROOT, check=True)
    if "--skip-distribution" not in sys.argv:
        # invoice issuing: gapless counter vs a plain sequence; PDF render p95 of 20 lines
        distribution = ROOT / "bench" / "distribution" / "bench_distribution.py"
        subprocess.run([sys.executable, str(distribution)], cwd=ROOT, check=True)
    if "--skip-operations" not in sys.argv:
        # add-dependency p95 (neighbourhood check) vs loading the whole graph; board pages
        operations = ROOT / "bench" / "operations" / "bench_operations.py"
        subprocess.run([sys.executable, str(operations)], cwd=ROOT, check=True)
    if "--skip-protections" not in sys.argv:
        # rate limits + Idempotency-Key on vs off, tenant isolation, tracing at 10 % vs off
        protections = ROOT / "bench" / "protections" / "bench_protections.py"
        subprocess.run([sys.executable, str(protections)], cwd=ROOT, check=True)
    if "--skip-console" not in sys.argv:
        # console pages (32 signed-in users) vs the same data from the JSON API, page weight
        console = ROOT / "bench" / "console" / "bench_console.py"
        subprocess.run([sys.executable, str(console)], cwd=ROOT, check=True)
    if "--skip-auth" not in sys.argv:
        # token verification: JwtVerifier micro-benchmark, authenticated vs anonymous requests/s
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "auth" / "bench_auth.py")], cwd=ROOT, check=True
        )
    if "--skip-mtls" not in sys.argv:
        # mutual TLS between the services vs plaintext: calls/s on a channel, a new connection
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "mtls" / "bench_mtls.py")], cwd=ROOT, check=True
        )
    if "--skip-placement" not in sys.argv:
        # single GET of an organization on a dedicated database vs one on the shared database
        subprocess.run(
            [sys.executable, "-m", "bench.placement.bench_placement"], cwd=ROOT, check=True
        )
    if "--skip-restore" not in sys.argv:
        # point-in-time restore of a 1 GB database vs a plain copy of its base backup; RTO
        subprocess.run([sys.executable, "-m", "bench.recovery.bench_restore"], cwd=ROOT, check=True)
    if "--skip-soak" not in sys.argv:
        # mixed reads, writes, searches, uploads and /ws for BENCH_SOAK_SECONDS: errors, memory
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "soak" / "bench_soak.py")], cwd=ROOT, check=True
        )


if __name__ == "__main__":
    main()
