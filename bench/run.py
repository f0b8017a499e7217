"""``just bench``: every benchmark, each compared with a baseline measured in the same run.

Writes ``bench/results/<name>.json``. Sizes: ``BENCH_SECONDS`` (default 10 per scenario and
side in each of ``BENCH_ROUNDS``, default 3),
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
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from bijmantra.devstack.stack import DEMO_ORGANIZATION_ID, DevStack, running_stack
from bijmantra.testkit.servers import free_port, terminate, wait_for_port
from joserfc import jwt
from joserfc.jwk import OctKey
from prometheus_client.parser import text_string_to_metric_families

from bench.cpu import CpuMeter
from bench.loadgen import run_load

ROOT = Path(__file__).resolve().parent.parent


RESULTS = ROOT / "bench" / "results"
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
GERMPLASM = int(os.environ.get("BENCH_GERMPLASM", "3000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


# Each benchmark that runs as its own process: (the flag that skips it, its module, what it
# compares). Each is run as ``python -m`` from the repository root, so ``bench`` imports.
SEPARATE: list[tuple[str, str, str]] = [
    ("events", "bench.events.bench_events", "outbox relay vs raw JetStream; write to /ws frame"),
    ("resume", "bench.events.bench_resume", "a /ws resume token vs the event id's scan"),
    ("schema", "bench.schema.bench_schema", "request validation: shape vs JSON-Schema libraries"),
    ("schema", "bench.schema.bench_documents", "response documents: structs vs dicts (ADR 0250)"),
    ("genomics", "bench.genomics.bench_genomics", "the genomics kernels vs NumPy/SciPy"),
    ("genotypes", "bench.genotypes.bench_genotypes", "imports; the GRM job vs the kernel alone"),
    ("vcf-bcftools", "bench.genotypes.bench_vcf_bcftools", "VCF export and import vs bcftools"),
    ("allele-matrix", "bench.genotypes.bench_allele_matrix", "allele matrix vs row-per-call"),
    ("phenotyping", "bench.phenotyping.bench_phenotyping", "observations vs a raw COPY"),
    ("sensors", "bench.sensors.bench_sensors", "telemetry vs COPY; 1 h history vs raw rows"),
    ("device-stream", "bench.sensors.bench_device_stream", "MQTT via the edge's stream vs a sub"),
    ("distribution", "bench.distribution.bench_distribution", "invoice numbers; PDF p95"),
    ("quotas", "bench.quotas.bench_quota_charge", "one organization's charged commits vs 32's"),
    ("operations", "bench.operations.bench_operations", "add-dependency vs the whole graph"),
    ("protections", "bench.protections.bench_protections", "protections and tracing on vs off"),
    ("tracing-cost", "bench.protections.tracing_cost", "tracing at 10 %, counted in-process"),
    ("console", "bench.console.bench_console", "console pages vs the JSON API"),
    ("auth", "bench.auth.bench_auth", "token verification; authenticated vs anonymous"),
    ("mtls", "bench.mtls.bench_mtls", "mutual TLS vs plaintext gRPC"),
    ("placement", "bench.placement.bench_placement", "dedicated vs shared database GET"),
    ("filters", "bench.filters.bench_filters", "a filtered page: the finder vs the RLS pass"),
    ("audit-history", "bench.audit.bench_audit_history", "a resource's history vs the RLS pass"),
    ("restore", "bench.recovery.bench_restore", "point-in-time restore of 1 GB vs a copy"),
    ("soak", "bench.soak.bench_soak", "mixed load for BENCH_SOAK_SECONDS: errors, memory"),
]


def run_benchmarks(benchmarks: list[tuple[str, str, str]]) -> None:
    for flag, module, compares in benchmarks:
        if f"--skip-{flag}" in sys.argv:
            continue
        print(f"{module}: {compares}", flush=True)
        subprocess.run([sys.executable, "-m", module], cwd=ROOT, check=True)


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


def server_cpu_seconds(meter: CpuMeter, baseline: psutil.Process) -> float:
    """CPU seconds of every server process: the stack's, PostgreSQL (shared by both sides)
    and the baseline app's; the load generator is left out."""
    sample = meter.sample()
    own = baseline.cpu_times()
    return float(sum(v for k, v in sample.items() if k != "client") + own.user + own.system)


async def compare(
    name: str,
    paths: list[str],
    ours: tuple[int, str],
    baseline: tuple[int, str],
    cpu: Callable[[], float],
) -> dict[str, object]:
    """``ROUNDS`` rounds, the two sides in alternating order, ``SECONDS`` each: a ratio per
    round and their median, so a load that rises or falls during the run (these hosts are
    shared) does not land on one side only. CPU per request (all server processes, one side
    at a time) is the figure a busy host disturbs least."""
    sides = {"baseline_fastapi": baseline, "bijmantra": ours}
    rounds: list[dict[str, dict[str, float]]] = []
    for number in range(ROUNDS):
        order = list(sides) if number % 2 == 0 else list(reversed(sides))
        measured: dict[str, dict[str, float]] = {}
        for label in order:
            port, token = sides[label]
            before = cpu()
            result = await run_load(
                paths, port=port, token=token, connections=CONNECTIONS, duration=SECONDS
            )
            cpu_ms = 1000 * (cpu() - before) / max(len(result.latencies_ms), 1)
            measured[label] = {**result.summary(), "server_cpu_ms_per_request": round(cpu_ms, 3)}
            print(
                f"  {name:<28} {label:<17} {result.rps:8.1f} req/s  p50 "
                f"{result.percentile(0.5):7.2f} ms  "
                f"p99 {result.percentile(0.99):7.2f} ms  CPU {cpu_ms:6.2f} ms/req  "
                f"errors {result.errors}",
                flush=True,
            )
        rounds.append(measured)

    def median_ratio(key: str) -> tuple[float, list[float]]:
        ratios = [r["bijmantra"][key] / r["baseline_fastapi"][key] for r in rounds]
        return statistics.median(ratios), ratios

    ratio, ratios = median_ratio("requests_per_second")
    cpu_ratio, cpu_ratios = median_ratio("server_cpu_ms_per_request")
    print(
        f"  {name:<28} ratio {ratio:.2f}x (rounds {', '.join(f'{x:.2f}' for x in ratios)}); "
        f"CPU per request {cpu_ratio:.2f}x the baseline's"
    )
    return {
        "rounds": rounds,
        "round_ratios": [round(x, 3) for x in ratios],
        "ratio_requests_per_second": round(ratio, 3),
        "ratio_cpu_per_request": round(cpu_ratio, 3),
        "round_cpu_ratios": [round(x, 3) for x in cpu_ratios],
        "load_average": os.getloadavg(),
    }


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
        # The seed's events are still being relayed and consumed: measured now, whichever
        # side runs first pays for them (ADR 0357).
        wait_for_consumers_to_drain(stack)
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
            cpu = functools.partial(
                server_cpu_seconds, CpuMeter(stack, stack.workdir), psutil.Process(baseline.pid)
            )
            page = ["/brapi/v2/germplasm?pageSize=1000"]
            results: dict[str, object] = {
                "single_get": asyncio.run(
                    compare("GET /germplasm/{id}", single, ours, theirs, cpu)
                ),
                "page_1000": asyncio.run(
                    compare("GET /germplasm?pageSize=1000", page, ours, theirs, cpu)
                ),
            }
            # The same page with the gateway's page cache off: every request reads, encodes and
            # sends the page again (what a first or an always-changing page costs).
            stack.stop_services()
            stack.env = {"GATEWAY_PAGE_CACHE_BYTES": "0"}
            stack.start_services()
            cpu = functools.partial(
                server_cpu_seconds, CpuMeter(stack, stack.workdir), psutil.Process(baseline.pid)
            )
            results["page_1000_page_cache_off"] = asyncio.run(
                compare("GET /germplasm?pageSize=1000 (no cache)", page, ours, theirs, cpu)
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
    run_benchmarks(SEPARATE[:1])
    print(
        "Tracing overhead: the single GET with OpenTelemetry off vs on (always_on, file exporter)",
        flush=True,
    )
    tracing = {"meta": meta, "single_get": tracing_benchmark()}
    (RESULTS / "tracing.json").write_text(json.dumps(tracing, indent=2))
    print(f"wrote {RESULTS / 'tracing.json'}", flush=True)
    run_benchmarks(SEPARATE[1:])


if __name__ == "__main__":
    main()
