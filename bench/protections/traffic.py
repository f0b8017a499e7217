"""Load with any request (GETs, keyed POSTs), closed-loop or at a steady rate.

The same raw-socket HTTP/1.1 client as ``bench/loadgen.py`` (its response reader), with
the request bytes made per request and the status codes counted."""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.loadgen import LoadResult, read_response


@dataclass
class Result(LoadResult):
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)

    def record(self, started: float, status: bytes) -> None:
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        self.requests += 1
        self.statuses[int(status)] += 1
        if not status.startswith(b"2"):
            self.errors += 1


@dataclass
class Load:
    port: int
    make: Callable[[], bytes]  # the next request's bytes
    host: str = "127.0.0.1"

    @classmethod
    def gets(cls, port: int, token: str, paths: list[str]) -> Load:
        cycle = itertools.cycle(paths)
        head = f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
        return cls(port, lambda: f"GET {next(cycle)} HTTP/1.1\r\n{head}".encode())

    @classmethod
    def posts(cls, port: int, token: str, *, idempotency_keys: bool) -> Load:
        """One new germplasm per request; each with its own Idempotency-Key when asked."""

        def make() -> bytes:
            name = uuid.uuid4().hex
            body = json.dumps(
                [{"germplasmName": name, "germplasmPUI": f"doi:b/{name}", "commonCropName": "Rice"}]
            ).encode()
            key = f"Idempotency-Key: {uuid.uuid4()}\r\n" if idempotency_keys else ""
            return (
                f"POST /brapi/v2/germplasm HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {token}\r\n{key}Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body

        return cls(port, make)


async def closed_loop(load: Load | list[Load], *, connections: int, duration: float) -> Result:
    """``connections`` keep-alive clients; given several loads (one per organization),
    connection ``i`` sends only ``loads[i % len(loads)]``'s requests."""
    loads = load if isinstance(load, list) else [load]
    result = Result(0, 0, duration, [])
    until = time.perf_counter() + duration

    async def client(load: Load) -> None:
        reader, writer = await asyncio.open_connection(load.host, load.port)
        try:
            while time.perf_counter() < until:
                started = time.perf_counter()
                writer.write(load.make())
                result.record(started, await read_response(reader))
        finally:
            writer.close()

    await asyncio.gather(*(client(loads[i % len(loads)]) for i in range(connections)))
    return result


async def open_loop(load: Load, *, rate: float, duration: float, pool: int = 8) -> Result:
    """Requests at fixed times (``rate`` per second); latency counts from the scheduled time,
    so a stalled server shows as latency instead of as fewer requests."""
    result = Result(0, 0, duration, [])
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(pool):
        idle.put_nowait(await asyncio.open_connection(load.host, load.port))

    async def one(scheduled: float) -> None:
        reader, writer = await idle.get()
        writer.write(load.make())
        result.record(scheduled, await read_response(reader))
        idle.put_nowait((reader, writer))

    start, tasks = time.perf_counter(), []
    for i in range(int(rate * duration)):
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait()[1].close()
    return result
