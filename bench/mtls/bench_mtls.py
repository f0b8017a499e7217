"""What mutual TLS between the services costs (ADR 0176), against plaintext in the same run.

One process, two gRPC servers with the same echo method (a 16 KiB reply, the size of a BrAPI
page), one plaintext and one demanding a client certificate from a local CA:

- steady state: unary calls per second over one long-lived channel, 16 in flight (how the
  services call each other: channels and httpx pools are opened once);
- a new connection: open a channel, make one call, close it (the handshake's price, paid
  once per channel).

Rounds alternate plaintext and mTLS and the best round of each counts (other work on a
shared machine only ever slows a round down). Results: bench/results/mtls.json.

    uv run python bench/mtls/bench_mtls.py
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from bijmantra.adapters.grpc.tls import InternalTls, add_listener, open_channel
from bijmantra.testkit.certificates import LocalCertificateAuthority

RESULTS = Path(__file__).resolve().parents[1] / "results" / "mtls.json"
SECONDS = float(os.environ.get("BENCH_MTLS_SECONDS", "3"))
ROUNDS = 3
IN_FLIGHT = 16
CONNECTIONS = 100
REPLY = b"x" * 16384
METHOD = "/bench.Echo/Call"


async def _echo(request: bytes, _: grpc.aio.ServicerContext) -> bytes:
    return REPLY


def _tls(ca: LocalCertificateAuthority, name: str) -> InternalTls:
    files = ca.issue(name)
    return InternalTls(files.ca_file, files.cert_file, files.key_file)


async def _server(tls: InternalTls | None) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(_echo)
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("bench.Echo", {"Call": handler})]
    )
    port = add_listener(server, "127.0.0.1:0", tls)
    await server.start()
    return server, f"127.0.0.1:{port}"


async def _steady(target: str, tls: InternalTls | None) -> float:
    """Calls per second over one channel for SECONDS."""
    async with open_channel(target, tls) as channel:
        call = channel.unary_unary(METHOD)
        await call(b"warm")
        done = 0
        deadline = time.perf_counter() + SECONDS

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await call(b"ping")
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        return done / (time.perf_counter() - start)


async def _connections(target: str, tls: InternalTls | None) -> float:
    """Mean seconds to open a channel and complete its first call."""
    start = time.perf_counter()
    for _ in range(CONNECTIONS):
        async with open_channel(target, tls) as channel:
            await channel.unary_unary(METHOD)(b"ping")
    return (time.perf_counter() - start) / CONNECTIONS


async def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        ca = LocalCertificateAuthority(Path(folder))
        server_tls, client_tls = _tls(ca, "domain-api"), _tls(ca, "gateway")
        plain_server, plain_target = await _server(None)
        tls_server, tls_target = await _server(server_tls)
        try:
            steady: dict[str, list[float]] = {"plaintext": [], "mtls": []}
            connect: dict[str, list[float]] = {"plaintext": [], "mtls": []}
            for _ in range(ROUNDS):
                steady["plaintext"].append(await _steady(plain_target, None))
                steady["mtls"].append(await _steady(tls_target, client_tls))
                connect["plaintext"].append(await _connections(plain_target, None))
                connect["mtls"].append(await _connections(tls_target, client_tls))
        finally:
            await plain_server.stop(None)
            await tls_server.stop(None)
    best_steady = {k: max(v) for k, v in steady.items()}
    best_connect = {k: min(v) for k, v in connect.items()}
    return {
        "steady_calls_per_second": best_steady,
        "steady_ratio_mtls_to_plaintext": best_steady["mtls"] / best_steady["plaintext"],
        "new_connection_ms": {k: v * 1000 for k, v in best_connect.items()},
        "new_connection_ratio_mtls_to_plaintext": best_connect["mtls"] / best_connect["plaintext"],
        "rounds": {"steady": steady, "new_connection_seconds": connect},
    }


def main() -> None:
    report = {
        "meta": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "grpc": grpc.__version__,
            "seconds_per_round": SECONDS,
            "in_flight": IN_FLIGHT,
            "reply_bytes": len(REPLY),
        },
        **asyncio.run(measure()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "rounds"}, indent=2))


if __name__ == "__main__":
    main()
