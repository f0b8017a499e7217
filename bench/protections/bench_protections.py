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
other tenants of the host disturb far less (Redis's own CPU beside it). Configurations run
in ``BENCH_ROUNDS`` interleaved rounds and each figure is the median of the per-round
ratios. JSON goes to bench/results/protections.json.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import os
import platform
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from bijmantra.devstack.stack import DevStack
from bijmantra.testkit.servers import LocalRedis

from bench import UNLIMITED
from bench.protections.traffic import Load, closed_loop, open_loop
from bench.run import (
    seeded_stack,
    single_get_paths,
    wait_for_consumers_to_drain,
)

ROOT = Path(__file__).resolve().parents[2]


SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
RESULTS = ROOT / "bench" / "results"
# Rounds of on/off (or off/10 %/always) in turn; each figure is the median of per-round ratios.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
ORGANIZATIONS = int(os.environ.get("BENCH_ORGANIZATIONS", "4"))
ORGANIZATION_ROWS = 500
# BENCH_RATE=N: requests at a fixed N per second (open loop) instead of as fast as the
# connections go. CPU per request then compares like with like: in a closed loop on a loaded
# host the slower configuration also batches fewer events per wake-up, which by itself costs
# CPU per request (tracing off measured 1.75 and 2.86 ms a request in two rounds of one run).
RATE = float(os.environ.get("BENCH_RATE", "0"))
IDLE_SECONDS = 3.0
# BENCH_ONE_ORGANIZATION=1 also runs "on" with every connection in one organization.
ONE_ORGANIZATION = os.environ.get("BENCH_ONE_ORGANIZATION", "") == "1"
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


def redis_cpu_seconds(stack: DevStack) -> float:
    """The stack's own redis-server's CPU: the protections' round trips cost it too."""
    redis = next((s for s in stack._servers if isinstance(s, LocalRedis)), None)
    if redis is None or redis.process is None:
        return 0.0
    fields = Path(f"/proc/{redis.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def restart(stack: DevStack, env: dict[str, str]) -> None:
    stack.stop_services()
    stack.env = env
    stack.start_services()
    wait_for_consumers_to_drain(stack)


def measured(stack: DevStack, load: Load | list[Load]) -> dict[str, Any]:
    asyncio.run(closed_loop(load, connections=CONNECTIONS, duration=2))  # warm-up
    idle_before = cpu_seconds(stack)
    time.sleep(IDLE_SECONDS)  # the services' own background work (relay, feeds, probes)
    idle_per_second = (cpu_seconds(stack) - idle_before) / IDLE_SECONDS
    before, redis_before = cpu_seconds(stack), redis_cpu_seconds(stack)
    if RATE:
        result = asyncio.run(open_loop(mixed(load), rate=RATE, duration=SECONDS, pool=CONNECTIONS))
    else:
        result = asyncio.run(closed_loop(load, connections=CONNECTIONS, duration=SECONDS))
    summary = result.summary()
    requests = max(result.requests, 1)
    spent = cpu_seconds(stack) - before
    summary["cpu_ms_per_request_raw"] = round(1000 * spent / requests, 3)
    # Net of the idle rate: at a fixed rate the background work is a large, noisy share.
    net = spent - idle_per_second * SECONDS if RATE else spent
    summary["cpu_ms_per_request"] = round(1000 * net / requests, 3)
    summary["idle_cpu_ms_per_second"] = round(1000 * idle_per_second, 1)
    summary["redis_cpu_ms_per_request"] = round(
        1000 * (redis_cpu_seconds(stack) - redis_before) / requests, 3
    )
    summary["load_average"] = round(os.getloadavg()[0], 1)
    return summary


def mixed(load: Load | list[Load]) -> Load:
    """One load taking its requests from each of ``load`` in turn."""
    loads = load if isinstance(load, list) else [load]
    makes = itertools.cycle([each.make for each in loads])
    return Load(loads[0].port, lambda: next(makes)())


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
        f"cpu {r['cpu_ms_per_request']:.3f} ms/req (raw {r['cpu_ms_per_request_raw']:.3f}, "
        f"idle {r['idle_cpu_ms_per_second']:.0f} ms/s, redis {r['redis_cpu_ms_per_request']:.3f})  "
        f"errors {r['errors']}  load {r['load_average']}",
        flush=True,
    )


def interleaved(
    stack: DevStack,
    configurations: list[tuple[str, dict[str, str]]],
    loads: Callable[[], dict[str, Load | list[Load]]],
    baseline: str,
) -> dict[str, Any]:
    """``ROUNDS`` rounds; each round runs every configuration in turn (rotating which goes
    first), so a swing in the host's load falls on both sides of a ratio. Each round gives
    its own ratios against ``baseline``; the figure is the median of those ratios.
    ``loads()`` is asked again for every configuration: access tokens live ten minutes,
    less than a whole run (an expired one turns every request into a fast 401)."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for round_ in range(ROUNDS):
        turn = round_ % len(configurations)
        for label, env in configurations[turn:] + configurations[:turn]:
            restart(stack, env)
            for name, load in loads().items():
                runs.setdefault(name, {}).setdefault(label, []).append(measured(stack, load))
                print_row(name, f"{label} r{round_ + 1}", runs[name][label][-1])
    results: dict[str, Any] = {}
    for name, by_label in runs.items():
        results[name] = {"rounds": by_label}
        for label, rounds in by_label.items():
            if label == baseline:
                continue
            per_round = [
                ratios(on, off) for on, off in zip(rounds, by_label[baseline], strict=True)
            ]
            median = {
                key: round(statistics.median(r[key] for r in per_round), 3) for key in per_round[0]
            }
            results[name][label] = {"per_round": per_round, "median": median}
            print(
                f"  {name} {label}/{baseline}: median of {len(per_round)} rounds "
                f"{median['ratio_requests_per_second']:.3f}x throughput, "
                f"{median['ratio_cpu_per_request']:.3f}x CPU per request "
                f"(rounds: {[r['ratio_cpu_per_request'] for r in per_round]})",
                flush=True,
            )
    return results


def organizations(stack: DevStack, count: int) -> list[tuple[str, list[str]]]:
    """``count`` more organizations with a breeder each and ``ORGANIZATION_ROWS`` germplasm:
    (the breeder's email, the germplasm ids)."""
    tenants = []
    for _ in range(count):
        email = f"bench-{uuid.uuid4().hex[:8]}@example.org"
        stack.register_member(email, "bench-password", ["breeder"])
        token = stack.login(email, "bench-password")
        with httpx.Client(
            base_url=stack.gateway_url, timeout=120, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            batch = [
                {"germplasmName": f"O{i}", "germplasmPUI": f"doi:o/{i}", "commonCropName": "Rice"}
                for i in range(ORGANIZATION_ROWS)
            ]
            response = client.post("/brapi/v2/germplasm", json=batch)
            response.raise_for_status()
        tenants.append((email, [d["germplasmDbId"] for d in response.json()["result"]["data"]]))
    return tenants


def overhead(stack: DevStack, token: str, ids: list[str]) -> dict[str, Any]:
    """On against off, from ``ORGANIZATIONS`` organizations of ``CONNECTIONS / ORGANIZATIONS``
    connections each: with one organization, 24 of the 32 connections would wait behind its
    share of the worker (8 in flight, ADR 0142) — queueing the share exists to impose on a
    flooding tenant, not the per-request cost of rate limits and Idempotency-Key, which is
    what the target is about. ``on_one_organization`` keeps the single-tenant figure."""
    port = stack.ports.gateway
    others = organizations(stack, ORGANIZATIONS - 1)
    configurations = [("off", OFF), ("on", ON)]
    if ONE_ORGANIZATION:
        configurations.append(("on_one_organization", ON))

    def loads() -> dict[str, Load | list[Load]]:
        tenants = [(stack.login(), ids)]
        tenants += [(stack.login(email, "bench-password"), rows) for email, rows in others]
        made: dict[str, Load | list[Load]] = {
            "single_get": [Load.gets(port, t, single_get_paths(i)) for t, i in tenants],
            "post": [Load.posts(port, t, idempotency_keys=True) for t, _ in tenants],
        }
        if ONE_ORGANIZATION:
            made["single_get_one_organization"] = Load.gets(
                port, tenants[0][0], single_get_paths(ids)
            )
        return made

    return interleaved(stack, configurations, loads, baseline="off")


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
    result: dict[str, Any] = {}
    for label, share in (("share_off", "0"), ("share_on", "8")):
        restart(stack, {"GATEWAY_RATE_LIMITS": limits, "GATEWAY_ORGANIZATION_IN_FLIGHT": share})
        b_token, token = stack.login(email, "bench-b-password"), stack.login()  # 10 min each
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
    paths = single_get_paths(ids)
    to_file = {**OFF, "BIJMANTRA_TRACE_FILE": str(traces / "{service}.jsonl")}
    configurations = [
        ("tracing_off", OFF),
        ("tracing_10pct", {**to_file, **TRACE_10PCT}),
        ("tracing_always_on", {**to_file, "OTEL_TRACES_SAMPLER": "parentbased_always_on"}),
    ]
    results = interleaved(
        stack,
        configurations,
        lambda: {"single_get": Load.gets(stack.ports.gateway, stack.login(), paths)},
        baseline="tracing_off",
    )
    get_results = results["single_get"]
    ten, always = get_results["tracing_10pct"]["median"], get_results["tracing_always_on"]["median"]
    # What the 10 % run costs beyond a tenth of the always-on cost: the unsampled path.
    get_results["unsampled_path_cpu_per_request"] = round(
        ten["ratio_cpu_per_request"] - 1 - 0.1 * (always["ratio_cpu_per_request"] - 1), 3
    )
    print(
        f"  tracing 10 %: {ten['ratio_requests_per_second']:.3f}x throughput, "
        f"{ten['ratio_cpu_per_request']:.3f}x CPU per request; always on "
        f"{always['ratio_requests_per_second']:.3f}x / {always['ratio_cpu_per_request']:.3f}x; "
        f"unsampled path {get_results['unsampled_path_cpu_per_request']:+.3f} CPU per request",
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
            "fixed_rate_per_second": RATE or None,
            "rounds": ROUNDS,
            "load_average_at_start": os.getloadavg(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    }
    print("Protections: rate limits + Idempotency-Key on vs off; tenant isolation; tracing")
    with seeded_stack("bench-protections") as (stack, token, ids):
        for name, part in (("overhead", overhead), ("isolation", isolation), ("tracing", tracing)):
            if name in PARTS:
                report[name] = part(stack, token, ids)
    report["meta"]["load_average_at_end"] = os.getloadavg()
    (RESULTS / "protections.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS / 'protections.json'}", flush=True)


if __name__ == "__main__":
    main()
