"""A closed-loop HTTP/1.1 keep-alive load generator (asyncio, raw sockets).

Each of ``connections`` clients sends a request, reads the whole response, records its
latency and sends the next, for ``duration`` seconds. Both systems under comparison are
driven by the same generator in the same run, so its own cost cancels out of the ratio.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "requests_per_second": round(self.rps, 1),
            "p50_ms": round(self.percentile(0.50), 3),
            "p99_ms": round(self.percentile(0.99), 3),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 3)
            if self.latencies_ms
            else float("nan"),
        }


async def read_response(reader: asyncio.StreamReader) -> bytes:
    """Read one whole HTTP/1.1 response (length-delimited or chunked); its status code."""
    status_line = await reader.readline()
    length = 0
    chunked = False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value)
        elif key == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while (size := int((await reader.readline()).strip() or b"0", 16)) > 0:
            await reader.readexactly(size + 2)
        await reader.readline()
    else:
        await reader.readexactly(length)
    return status_line.split()[1]


async def _client(
    host: str, port: int, requests: itertools.cycle, headers: bytes, until: float, out: LoadResult
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < until:
            path = next(requests)
            started = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n".encode() + headers + b"\r\n")
            status = await read_response(reader)
            out.latencies_ms.append((time.perf_counter() - started) * 1000)
            if status != b"200":
                out.errors += 1
            out.requests += 1
    finally:
        writer.close()


async def run_load(
    url_paths: list[str],
    *,
    port: int,
    token: str | None,
    connections: int,
    duration: float,
    host: str = "127.0.0.1",
    warmup: float = 1.0,
) -> LoadResult:
    headers = f"Authorization: Bearer {token}\r\n".encode() if token else b""
    if warmup:
        await run_load(
            url_paths,
            port=port,
            token=token,
            connections=connections,
            duration=warmup,
            host=host,
            warmup=0,
        )
    result = LoadResult(0, 0, duration, [])
    until = time.perf_counter() + duration
    paths = [itertools.cycle(url_paths[i::connections] or url_paths) for i in range(connections)]
    await asyncio.gather(*(_client(host, port, p, headers, until, result) for p in paths))
    return result
