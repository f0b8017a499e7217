"""What token verification costs the gateway, per request.

Measured in the same run:

* micro-benchmark of ``JwtVerifier.verify`` (the gateway's verifier): a token seen for the
  first time (RS256 signature + claim checks + cache insert) and a token seen before (cache
  hit), against the bare ``joserfc`` RS256 signature check on the same tokens as baseline;
  for context, the bare check for ES256, EdDSA and HS256 (the shared-secret scheme today's
  platforms use) on equivalent tokens;
* requests/s through the running gateway (granian, real HTTP, closed-loop load): an
  authenticated cheap endpoint (``GET /api/v1/permissions``: bearer verification + the role
  table, no downstream call) against an unauthenticated one (``GET /health/live``).

    uv run python bench/auth/bench_auth.py          # BENCH_SECONDS=10, BENCH_CONNECTIONS=32
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bijmantra.adapters.grpc.auth import JwtVerifier
from bijmantra.devstack.stack import DevStack, running_stack
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, OKPKey, RSAKey

from bench.loadgen import run_load

ROOT = Path(__file__).resolve().parents[2]


RESULTS = ROOT / "bench" / "results" / "auth.json"
TOKENS = int(os.environ.get("BENCH_AUTH_TOKENS", "2000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
ROUNDS = int(os.environ.get("BENCH_AUTH_ROUNDS", "3"))
ISSUER, AUDIENCE = "https://identity.bench", "bijmantra"


def claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "sub": str(uuid.uuid4()),
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "tid": str(uuid.uuid4()),
        "roles": ["breeder"],
        "scope": "openid brapi",
    }


def tokens_for(key: Any, alg: str, count: int) -> list[str]:
    return [
        jwt.encode({"alg": alg, "kid": "bench", "typ": "at+jwt"}, claims(), key, algorithms=[alg])
        for _ in range(count)
    ]


def per_op_us(run: Callable[[], None], ops: int) -> float:
    """Median over ``REPEATS`` of the mean time per operation, in microseconds."""
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - started) / ops / 1000)
    return round(statistics.median(samples), 2)


def async_per_op_us(make: Callable[[], Awaitable[None]], ops: int) -> float:
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter_ns()
        asyncio.run(make())
        samples.append((time.perf_counter_ns() - started) / ops / 1000)
    return round(statistics.median(samples), 2)


def micro() -> dict[str, Any]:
    rsa = RSAKey.generate_key(
        2048, parameters={"kid": "bench", "alg": "RS256", "use": "sig"}, private=True
    )
    rs_tokens = tokens_for(rsa, "RS256", TOKENS)
    public_set = KeySet([RSAKey.import_key(rsa.as_dict(private=False))]).as_dict(private=False)

    async def keys() -> dict[str, Any]:
        return public_set

    def fresh_verifier() -> JwtVerifier:
        return JwtVerifier(keys, issuer=ISSUER, audience=AUDIENCE, cache_size=TOKENS * 2)

    async def first_sight() -> None:
        verifier = fresh_verifier()
        for token in rs_tokens:
            await verifier.verify(token)

    hot = rs_tokens[0]
    repeats = TOKENS * 10

    async def seen_before() -> None:
        verifier = fresh_verifier()
        await verifier.verify(hot)
        for _ in range(repeats):
            await verifier.verify(hot)

    def bare(key: Any, alg: str, tokens: list[str]) -> Callable[[], None]:
        def run() -> None:
            for token in tokens:
                jwt.decode(token, key, algorithms=[alg])

        return run

    warnings.filterwarnings("ignore", message="EdDSA is deprecated")  # measured for comparison only
    others = {
        "ES256": ECKey.generate_key("P-256", parameters={"kid": "bench"}, private=True),
        "EdDSA": OKPKey.generate_key("Ed25519", parameters={"kid": "bench"}, private=True),
        "HS256": OctKey.generate_key(256, parameters={"kid": "bench"}),
    }
    bare_us = {"RS256": per_op_us(bare(rsa, "RS256", rs_tokens), TOKENS)}
    for alg, key in others.items():
        bare_us[alg] = per_op_us(bare(key, alg, tokens_for(key, alg, TOKENS)), TOKENS)
    first = async_per_op_us(first_sight, TOKENS)
    cached = async_per_op_us(seen_before, repeats + 1)
    return {
        "verify_first_sight_us": first,
        "verify_cached_us": cached,
        "baseline_bare_rs256_signature_check_us": bare_us["RS256"],
        "ratio_first_sight_vs_bare_rs256": round(first / bare_us["RS256"], 2),
        "ratio_cached_vs_bare_rs256": round(cached / bare_us["RS256"], 3),
        "bare_signature_check_us_by_algorithm": bare_us,
        "tokens": TOKENS,
        "repeats": REPEATS,
    }


async def load(stack: DevStack, token: str) -> dict[str, Any]:
    """Alternate the two scenarios (A B A B …) so drift on a shared machine hits both alike."""
    port = stack.ports.gateway
    scenarios = {
        "unauthenticated_health_live": (["/health/live"], None),
        "authenticated_permissions": (["/api/v1/permissions"], token),
    }
    runs: dict[str, list[Any]] = {name: [] for name in scenarios}
    for _ in range(ROUNDS):
        for name, (paths, bearer) in scenarios.items():
            result = await run_load(
                paths, port=port, token=bearer, connections=CONNECTIONS, duration=SECONDS
            )
            runs[name].append(result)
            print(
                f"  {name:<30} {result.rps:8.1f} req/s  p50 {result.percentile(0.5):6.2f} ms  "
                f"p99 {result.percentile(0.99):6.2f} ms  errors {result.errors}",
                flush=True,
            )
    median = {
        name: sorted(results, key=lambda r: r.rps)[len(results) // 2]
        for name, results in runs.items()
    }
    anonymous, authenticated = (
        median["unauthenticated_health_live"],
        median["authenticated_permissions"],
    )
    return {
        **{name: result.summary() for name, result in median.items()},
        "rounds": ROUNDS,
        "ratio_authenticated_vs_unauthenticated_rps": round(authenticated.rps / anonymous.rps, 3),
        "added_ms_per_request_p50": round(
            authenticated.percentile(0.5) - anonymous.percentile(0.5), 3
        ),
    }


def main() -> None:
    print("Token verification: JwtVerifier micro-benchmark", flush=True)
    report: dict[str, Any] = {
        "meta": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "seconds_per_scenario": SECONDS,
            "connections": CONNECTIONS,
        },
        "verifier": micro(),
    }
    for key, value in report["verifier"].items():
        print(f"  {key:<45} {value}", flush=True)
    print("Gateway: authenticated cheap endpoint vs unauthenticated, same run", flush=True)
    with running_stack(ROOT / ".bijmantra" / "bench-auth") as stack:
        report["gateway"] = asyncio.run(load(stack, stack.login()))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS}", flush=True)


if __name__ == "__main__":
    main()
