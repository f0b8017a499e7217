"""Rate limits, Idempotency-Key and tracing: what each costs the gateway (issue 17).

Every ratio compares two configurations of the same stack in the same run (services
restarted between them; database, data and token stay):

- single GET and single-item POST throughput with rate limits + idempotency on, against off
  (limits lifted so nothing is refused: this measures the Redis round trips, not 429s);
- tenant B's p99 at a steady 20 requests/s while tenant A floods with 32 connections, against
  B alone (limits on: A's excess is refused with 429);
- the single GET with tracing at 10 % sampling, against tracing off.

Besides requests/s (the host is shared and its load swings), each run records the CPU
seconds the gateway and domain-api processes spent per request, read from /proc: a figure
other tenants of the host disturb far less. JSON goes to bench/results/protections.json.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import platform
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bijmantra.devstack.stack import DevStack  # noqa: E402

from bench.protections.traffic import Load, closed_loop, open_loop  # noqa: E402
from bench.run import (  # noqa: E402
    UNLIMITED,
    seeded_stack,
    single_get_paths,
    wait_for_consumers_to_drain,
)

SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
RESULTS = ROOT / "bench" / "results"
# BENCH_PARTS=tracing (comma-separated: overhead, isolation, tracing) runs only those parts.
PARTS = {p.strip() for p in os.environ.get("BENCH_PARTS", "overhead,isolation,tracing").split(",")}
# "off": no protection at all, the per-organization share of the worker (ADR 0142) included.
OFF = {
    "GATEWAY_RATE_LIMITS": "off",
    "GATEWAY_IDEMPOTENCY": "off",
    "GATEWAY_ORGANIZATION_IN_FLIGHT": "0",
}
ON = {"GATEWAY_RATE_LIMITS": UNLIMITED, "GATEWAY_IDEMPOTENCY": "on"}
TRACE_10PCT = {
    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
    "OTEL_TRACES_SAMPLER_ARG": "0.1",
}


def cpu_seconds(stack: DevStack, names: tuple[str, ...] = ("gateway", "domain-api")) -> float:
    """User + system CPU of the named services and their children (each its own session)."""
    sessions = {stack.services[name].pid for name in names}
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) in sessions:  # field 6 of stat: the session id
            ticks += int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


def restart(stack: DevStack, env: dict[str, str]) -> None:
    stack.stop_services()
    stack.env = env
    stack.start_services()
    wait_for_consumers_to_drain(stack)


def measured(stack: DevStack, load: Load) -> dict[str, Any]:
    asyncio.run(closed_loop(load, connections=CONNECTIONS, duration=2))  # warm-up
    before = cpu_seconds(stack)
    result = asyncio.run(closed_loop(load, connections=CONNECTIONS, duration=SECONDS))
    summary = result.summary()
    summary["cpu_ms_per_request"] = round(
        1000 * (cpu_seconds(stack) - before) / max(result.requests, 1), 3
    )
    return summary


def ratios(on: dict[str, Any], off: dict[str, Any]) -> dict[str, float]:
    return {
        "ratio_requests_per_second": round(
            on["requests_per_second"] / off["requests_per_second"], 3
        ),
        "ratio_cpu_per_request": round(on["cpu_ms_per_request"] / off["cpu_ms_per_request"], 3),
    }


def print_row(name: str, label: str, r: dict[str, Any]) -> None:
    print(
        f"  {name:<12} {label:<18} {r['requests_per_second']:8.1f} req/s  "
        f"p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
        f"cpu {r['cpu_ms_per_request']:.3f} ms/req  errors {r['errors']}",
        flush=True,
    )


def overhead(stack: DevStack, token: str, ids: list[str]) -> dict[str, Any]:
    get = Load.gets(stack.ports.gateway, token, single_get_paths(ids))
    results: dict[str, Any] = {}
    for label, env in (("off", OFF), ("on", ON)):
        restart(stack, env)
        for name, load in (
            ("single_get", get),
            ("post", Load.posts(stack.ports.gateway, token, idempotency_keys=True)),
        ):
            results.setdefault(name, {})[label] = measured(stack, load)
            print_row(name, f"protections {label}", results[name][label])
    for name in ("single_get", "post"):
        results[name].update(ratios(results[name]["on"], results[name]["off"]))
        print(f"  {name}: on/off {results[name]['ratio_requests_per_second']:.3f}x", flush=True)
    return results


def _flood(port: int, token: str, paths: list[str], seconds: float, out: Any) -> None:
    """Tenant A's flood, in a process of its own: in the measuring process its 32 busy
    connections would delay B's client loop and show up as B's latency."""
    result = asyncio.run(
        closed_loop(Load.gets(port, token, paths), connections=CONNECTIONS, duration=seconds)
    )
    out.put(result.summary() | {"refused_429": result.statuses.get(429, 0), "rps": result.rps})


def isolation(stack: DevStack, token: str, ids: list[str]) -> dict[str, Any]:
    """B reads at a steady rate; A floods. A's budget is small enough that most is refused.
    Measured with the per-organization share of the worker (ADR 0142) and without it."""
    limits = "read=2400/2400"  # 40 reads/s per organization: B's 20/s fit, A's flood does not
    email = f"bench-b-{uuid.uuid4().hex[:8]}@example.org"
    stack.register_member(email, "bench-b-password", ["breeder"])
    b_token = stack.login(email, "bench-b-password")
    result: dict[str, Any] = {}
    for label, share in (("share_off", "0"), ("share_on", "8")):
        restart(stack, {"GATEWAY_RATE_LIMITS": limits, "GATEWAY_ORGANIZATION_IN_FLIGHT": share})
        b = Load.gets(stack.ports.gateway, b_token, ["/brapi/v2/germplasm?pageSize=10"])
        alone = asyncio.run(open_loop(b, rate=20, duration=SECONDS)).summary()
        out: Any = multiprocessing.get_context("fork").Queue()
        flood = multiprocessing.get_context("fork").Process(
            target=_flood,
            args=(stack.ports.gateway, token, single_get_paths(ids), SECONDS + 2, out),
        )
        flood.start()
        time.sleep(1)
        steady = asyncio.run(open_loop(b, rate=20, duration=SECONDS)).summary()
        a_flood = out.get()
        flood.join()
        ratio = round(steady["p99_ms"] / alone["p99_ms"], 3)
        result[label] = {
            "b_alone": alone,
            "b_while_a_floods": steady,
            "a_flood": a_flood,
            "ratio_b_p99": ratio,
        }
        print(
            f"  {label}: tenant B p99 alone {alone['p99_ms']:.2f} ms, while A floods "
            f"{steady['p99_ms']:.2f} ms ({ratio:.2f}x); "
            f"A: {a_flood['rps']:.0f} req/s, {a_flood['refused_429']} refused",
            flush=True,
        )
    result["ratio_b_p99"] = result["share_on"]["ratio_b_p99"]
    return result


def tracing(stack: DevStack, token: str, ids: list[str]) -> dict[str, Any]:
    """Off, 10 % and always on: the always-on cost tells how much of the 10 % figure the
    sampled tenth explains (10 % of it) and how much the unsampled path still pays."""
    traces = stack.workdir / "traces"
    get = Load.gets(stack.ports.gateway, token, single_get_paths(ids))
    to_file = {**OFF, "BIJMANTRA_TRACE_FILE": str(traces / "{service}.jsonl")}
    scenarios = (
        ("tracing_off", OFF),
        ("tracing_10pct", {**to_file, **TRACE_10PCT}),
        ("tracing_always_on", {**to_file, "OTEL_TRACES_SAMPLER": "parentbased_always_on"}),
    )
    results: dict[str, Any] = {}
    for label, env in scenarios:
        restart(stack, env)
        results[label] = measured(stack, get)
        print_row("single_get", label, results[label])
        if label == "tracing_10pct":
            results["spans_written"] = sum(1 for f in traces.glob("*.jsonl") for _ in f.open())
    results.update(ratios(results["tracing_10pct"], results["tracing_off"]))
    always = ratios(results["tracing_always_on"], results["tracing_off"])
    results["always_on"] = always
    # What the 10 % run costs beyond a tenth of the always-on cost: the unsampled path.
    results["unsampled_path_cpu_per_request"] = round(
        results["ratio_cpu_per_request"] - 1 - 0.1 * (always["ratio_cpu_per_request"] - 1), 3
    )
    print(
        f"  tracing 10 %: {results['ratio_requests_per_second']:.3f}x throughput, "
        f"{results['ratio_cpu_per_request']:.3f}x CPU per request; always on "
        f"{always['ratio_requests_per_second']:.3f}x / {always['ratio_cpu_per_request']:.3f}x; "
        f"unsampled path {results['unsampled_path_cpu_per_request']:+.3f} CPU per request",
        flush=True,
    )
    return results


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "meta": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "seconds_per_scenario": SECONDS,
            "connections": CONNECTIONS,
            "load_average_at_start": os.getloadavg(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    }
    print("Protections: rate limits + Idempotency-Key on vs off; tenant isolation; tracing")
    with seeded_stack("bench-protections") as (stack, token, ids):
        for name, part in (("overhead", overhead), ("isolation", isolation), ("tracing", tracing)):
            if name in PARTS:
                report[name] = part(stack, token, ids)
    (RESULTS / "protections.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS / 'protections.json'}", flush=True)


if __name__ == "__main__":
    main()
