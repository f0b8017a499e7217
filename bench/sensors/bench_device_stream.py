"""MQTT telemetry through the device edge's stream (ADR 0371) against the at-most-once path it
replaced, alternated in one run.

Both sides publish ``BENCH_EDGE_BATCHES`` (600) batches of ``BENCH_EDGE_READINGS`` (100)
readings on four devices' subjects of a real device edge and time until the real ingestion
use case has committed every one into real PostgreSQL. New: ``DeviceTelemetryBridge`` on the
organization's stream (pull, ack after commit; ADR 0386). Baseline: a plain core-NATS subscription
handing each batch to the same use case, four at once, each device's in order (what the bridge
was before). ``BENCH_EDGE_ROUNDS`` (5) rounds, the order of the sides alternating; the median
of each side's rates and of the rounds' ratios are reported. Target: >= 0.9x (durability
costs no measurable ingest rate). The bridges alone (an ingest that stores nothing, 5,000
small batches) are reported too, to show what the acks cost where PostgreSQL is not the limit.

    uv run python -m bench.sensors.bench_device_stream
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, Protocol

from bijmantra.adapters.nats import connect
from bijmantra.adapters.nats.device_bridge import DeviceTelemetryBridge, DeviceTurns
from bijmantra.adapters.nats.device_stream import (
    DeviceStreamBounds,
    ensure_device_stream,
    ensure_organization_stream,
)
from bijmantra.adapters.nats.devices import DEVICE_SUBJECTS
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.application.sensors import DeviceEnrolment, IngestTelemetry
from bijmantra.kernel import FixedClock, Principal, TenantId
from bijmantra.testkit.device_nats import LocalDeviceNats
from bijmantra.testkit.provision import provision
from bijmantra.testkit.sensors import place_to_put_devices
from bijmantra.testkit.servers import LocalPostgres
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "device_stream.json"
BATCHES = int(os.environ.get("BENCH_EDGE_BATCHES", "600"))
READINGS = int(os.environ.get("BENCH_EDGE_READINGS", "100"))
ROUNDS = int(os.environ.get("BENCH_EDGE_ROUNDS", "5"))
DEVICES = 4
NOW = datetime.now(UTC).replace(microsecond=0)
PROFILE = {
    "name": "station",
    "metrics": [{"name": "t", "unit": "degC", "minimum": -50, "maximum": 70}],
}
Ingest = Callable[[TenantId, str, bytes, AbstractAsyncContextManager[None]], Awaitable[Any]]


class Subscription:
    """The baseline: the at-most-once path, a core subscription and four runners."""

    def __init__(self, nc: Client, ingest: Ingest) -> None:
        self._nc, self._ingest, self._turns = nc, ingest, DeviceTurns()
        self._queue: asyncio.Queue[tuple[Msg, Any]] = asyncio.Queue()
        self._runners: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._runners = [asyncio.create_task(self._run()) for _ in range(4)]
        await self._nc.subscribe(DEVICE_SUBJECTS, cb=self._deliver)
        await self._nc.flush()

    async def _deliver(self, msg: Msg) -> None:
        self._queue.put_nowait((msg, self._turns.reserve(msg.subject)))

    async def _run(self) -> None:
        while True:
            msg, turn = await self._queue.get()
            _, _, tenant, device = msg.subject.split(".")
            try:
                await self._ingest(TenantId(uuid.UUID(tenant)), device, msg.data, turn)
            finally:
                await turn.finish()

    async def finish(self) -> None:
        for runner in self._runners:
            runner.cancel()
        await asyncio.gather(*self._runners, return_exceptions=True)


async def enrol(uow: Any, tenant: TenantId) -> list[str]:
    manager = Principal("bench", tenant, frozenset({"data-manager"}))
    enrolment = DeviceEnrolment(uow, FixedClock(NOW))
    profile = await enrolment.create_profile(manager, json.dumps(PROFILE).encode())
    location = await place_to_put_devices(uow, tenant, "location", "bench")
    devices = []
    for n in range(DEVICES):
        body = {"name": f"d{n}", "profileId": profile["profileId"], "locationDbId": location}
        device = await enrolment.register(manager, json.dumps(body).encode())
        code = (await enrolment.issue_claim(manager, device["deviceId"]))["claimCode"]
        await enrolment.claim(json.dumps({"claimCode": code}).encode())
        devices.append(device["deviceId"])
    return devices


def counting(ingest: Ingest, total: int) -> tuple[Ingest, asyncio.Event, list[Exception]]:
    """``ingest``, and an event set once ``total`` batches went through it (or one failed)."""
    done, count, failed = asyncio.Event(), [0], list[Exception]()

    async def counted(
        tenant: TenantId, device: str, body: bytes, turn: AbstractAsyncContextManager[None]
    ) -> None:
        try:
            await ingest(tenant, device, body, turn)
        except Exception as error:  # a refused batch would stall the run: end it
            failed.append(error)
            done.set()
            raise
        count[0] += 1
        if count[0] == total:
            done.set()

    return counted, done, failed


async def stores_nothing(
    tenant: TenantId, device: str, body: bytes, turn: AbstractAsyncContextManager[None]
) -> None:
    """The bridges alone: an ingest that stores nothing."""
    async with turn:
        pass


class Bridge(Protocol):
    async def start(self) -> None: ...

    async def finish(self) -> None: ...


async def timed(
    bridge: Bridge,
    publisher: Client,
    batches: list[tuple[str, bytes]],
    done: asyncio.Event,
    failed: list[Exception],
) -> float:
    """Batches per second from the first publish to the last commit (``counting``'s)."""
    await bridge.start()
    started = time.perf_counter()
    for subject, body in batches:
        await publisher.publish(subject, body)
    await publisher.flush()
    await asyncio.wait_for(done.wait(), 900)
    elapsed = time.perf_counter() - started
    if failed:
        raise RuntimeError("a batch was not stored") from failed[0]
    await bridge.finish()
    return len(batches) / elapsed


class Run:
    def __init__(self, edge: LocalDeviceNats, js: JetStreamContext, publisher: Client) -> None:
        self.edge, self.js, self.publisher = edge, js, publisher

    async def side(self, side: str, batches: list[tuple[str, bytes]], ingest: Ingest) -> float:
        """Batches per second from the first publish to the last commit."""
        counted, done, failed = counting(ingest, len(batches))
        own = await connect(self.edge.ingest_url, name="baseline")
        bridge: DeviceTelemetryBridge | Subscription = (
            DeviceTelemetryBridge(self.js, counted)
            if side == "stream"
            else Subscription(own, counted)
        )
        try:
            return await timed(bridge, self.publisher, batches, done, failed)
        finally:
            await own.close()


def alternate(rounds: int) -> list[tuple[str, str]]:
    """The sides' order in each round, alternating, so neither always runs on a warmer host."""
    return [
        ("subscription", "stream") if r % 2 == 0 else ("stream", "subscription")
        for r in range(rounds)
    ]


Rate = Callable[[str, list[tuple[str, bytes]], Ingest], Awaitable[float]]


async def compare(
    rate: Rate,
    make: Callable[[], list[tuple[str, bytes]]],
    ingest: Ingest,
    rounds: int,
    sides: tuple[str, str] = ("stream", "subscription"),
) -> dict[str, Any]:
    """``rate`` of each side (new, old) in ``rounds`` alternating rounds after a warm-up."""
    new, old = sides
    await rate(new, make(), ingest)  # warm-up, not counted
    rates: dict[str, list[float]] = {new: [], old: []}
    for pair in alternate(rounds):
        for side in pair:
            name = new if side == "stream" else old
            rates[name].append(await rate(name, make(), ingest))
    ratios = [n / o for n, o in zip(rates[new], rates[old], strict=True)]
    return {
        "batches_per_second": rates,
        f"median_{new}": statistics.median(rates[new]),
        f"median_{old}": statistics.median(rates[old]),
        "median_round_ratio": statistics.median(ratios),
        "round_ratios": ratios,
    }


async def measure(scratch: Path) -> dict[str, Any]:
    postgres = LocalPostgres(scratch / "pg")
    database = provision(postgres.start())
    edge = LocalDeviceNats(scratch / "edge")
    edge.start()
    engine = create_engine(database.domain_url, pool_size=8)
    try:
        tenant = TenantId(uuid.uuid4())
        uow = unit_of_work_factory(engine, source="bench")
        devices = await enrol(uow, tenant)
        use_case = IngestTelemetry(uow, FixedClock(NOW))
        publisher = await connect(edge.ingest_url, name="devices")
        nc = await connect(edge.ingest_url, name="bridge")
        js = nc.jetstream()
        bounds = DeviceStreamBounds(
            max_bytes=1 << 30, max_per_device=10**5, max_bytes_per_organization=1 << 30
        )
        await ensure_device_stream(js, bounds)
        elsewhere = uuid.uuid4()  # the organization of the small batches
        for organization in (str(tenant), str(elsewhere)):  # as the callout makes them
            await ensure_organization_stream(js, organization, bounds)
        run = Run(edge, js, publisher)
        seconds = iter(range(10**9))

        def readings_batches() -> list[tuple[str, bytes]]:
            made = []
            for n in range(BATCHES):
                start = NOW - timedelta(days=300) + timedelta(seconds=next(seconds) * READINGS)
                items = [
                    {
                        "metric": "t",
                        "time": (start + timedelta(seconds=i)).isoformat(),
                        "value": i % 7,
                    }
                    for i in range(READINGS)
                ]
                subject = f"bijmantra.t.{tenant}.{devices[n % DEVICES]}"
                made.append((subject, json.dumps({"readings": items}).encode()))
            return made

        def small_batches() -> list[tuple[str, bytes]]:
            return [(f"bijmantra.t.{elsewhere}.d{n % 16}", b"{}") for n in range(5000)]

        platform_figures = await compare(
            run.side, readings_batches, use_case.from_connected_device, ROUNDS
        )
        bridges_alone = await compare(run.side, small_batches, stores_nothing, ROUNDS)
        await publisher.close()
        await nc.close()
        return {"into_postgres": platform_figures, "bridges_alone": bridges_alone}
    finally:
        await engine.dispose()
        edge.stop()
        postgres.stop()


def write_report(path: Path, figures: dict[str, Any], sides: tuple[str, str], **run: Any) -> None:
    """The figures as JSON at ``path``, and each workload's medians and ratios printed."""
    report = {"host": platform.node(), "load": os.getloadavg(), **run, **figures}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    new, old = sides
    for name in ("into_postgres", "bridges_alone"):
        part = figures[name]
        print(
            f"{name}: {new} {part[f'median_{new}']:,.0f} batches/s, {old} "
            f"{part[f'median_{old}']:,.0f}/s, median round ratio "
            f"{part['median_round_ratio']:.3f} (rounds "
            + ", ".join(f"{r:.2f}" for r in part["round_ratios"])
            + ")"
        )


def main() -> None:
    with TemporaryDirectory(prefix="bench-edge-") as scratch:
        figures = asyncio.run(measure(Path(scratch)))
    write_report(
        RESULTS, figures, ("stream", "subscription"), batches=BATCHES, readings_per_batch=READINGS
    )


if __name__ == "__main__":
    main()
