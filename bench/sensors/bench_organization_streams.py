"""MQTT telemetry through a stream per organization on the device edge (ADR 0386) against the
one shared stream it replaced (ADR 0371), alternated in one run.

Each side has its own real device edge. New: every organization's stream, the bridge
following each. Baseline: one ``DEVICE_TELEMETRY`` stream of every device topic, the same
bridge following only it. Two workloads: ``BENCH_ORG_BATCHES`` (400) batches of 100 readings
spread over four organizations' four devices each, timed until the real ingestion use case
has committed every one into real PostgreSQL; and the bridges alone (an ingest that stores
nothing), 5,000 small batches spread over sixteen organizations. ``BENCH_ORG_ROUNDS`` (5)
rounds, the order of the sides alternating; the median of the rounds' ratios is reported.
Target: >= 0.9x into PostgreSQL (fairness costs no measurable ingest rate).

    uv run python -m bench.sensors.bench_organization_streams
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import uuid
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from bijmantra.adapters.nats import connect
from bijmantra.adapters.nats.device_bridge import DeviceTelemetryBridge
from bijmantra.adapters.nats.device_stream import (
    DEVICE_REPLAY,
    DeviceStreamBounds,
    device_stream_config,
    ensure_device_stream,
    ensure_organization_stream,
)
from bijmantra.adapters.nats.devices import DEVICE_SUBJECTS
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.application.sensors import IngestTelemetry
from bijmantra.kernel import FixedClock, TenantId
from bijmantra.testkit.device_nats import LocalDeviceNats
from bijmantra.testkit.provision import provision
from bijmantra.testkit.servers import LocalPostgres

from bench.sensors.bench_device_stream import (
    NOW,
    READINGS,
    Ingest,
    compare,
    counting,
    enrol,
    stores_nothing,
    timed,
    write_report,
)

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "organization_streams.json"
BATCHES = int(os.environ.get("BENCH_ORG_BATCHES", "400"))
ROUNDS = int(os.environ.get("BENCH_ORG_ROUNDS", "5"))
BOUNDS = DeviceStreamBounds(
    max_bytes=64 << 20, max_per_device=10**5, max_bytes_per_organization=64 << 20
)
Batches = list[tuple[str, bytes]]
SIDES = ("organizations", "shared")  # new, old


class SharedStreamBridge(DeviceTelemetryBridge):
    """The baseline: the bridge on the one stream every device topic went to."""

    SHARED_SUBJECTS = (DEVICE_SUBJECTS, DEVICE_REPLAY)


class Side:
    """One edge, its streams made as its layout does, and a publisher on it."""

    def __init__(self, name: str, edge: LocalDeviceNats) -> None:
        self.name, self.edge = name, edge
        self.bridge = SharedStreamBridge if name == "shared" else DeviceTelemetryBridge

    async def open(self, organizations: list[str]) -> None:
        self.publisher = await connect(self.edge.ingest_url, name="devices")
        self.nc = await connect(self.edge.ingest_url, name="bridge")
        self.js = self.nc.jetstream()
        if self.name == "shared":
            old = device_stream_config(BOUNDS)
            old = dataclasses.replace(old, subjects=[DEVICE_SUBJECTS, *(old.subjects or [])])
            await self.js.add_stream(old)
            return
        await ensure_device_stream(self.js, BOUNDS)
        for organization in organizations:  # as the callout makes them
            await ensure_organization_stream(self.js, organization, BOUNDS)

    async def rate(self, batches: Batches, ingest: Ingest) -> float:
        """Batches per second from the first publish to the last commit."""
        counted, done, failed = counting(ingest, len(batches))
        return await timed(self.bridge(self.js, counted), self.publisher, batches, done, failed)

    async def close(self) -> None:
        for nc in (self.publisher, self.nc):
            await nc.close()


async def measure(scratch: Path) -> dict[str, Any]:
    postgres = LocalPostgres(scratch / "pg")
    database = provision(postgres.start())
    edges = [LocalDeviceNats(scratch / name) for name in ("organizations", "shared")]
    for edge in edges:
        edge.start()
    engine = create_engine(database.domain_url, pool_size=8)
    try:
        uow = unit_of_work_factory(engine, source="bench")
        tenants = [TenantId(uuid.uuid4()) for _ in range(4)]
        devices = [(tenant, device) for tenant in tenants for device in await enrol(uow, tenant)]
        small = [str(uuid.uuid4()) for _ in range(16)]
        sides = [
            Side(name, edge) for name, edge in zip(("organizations", "shared"), edges, strict=True)
        ]
        for side in sides:
            await side.open([str(t) for t in tenants] + small)
        use_case = IngestTelemetry(uow, FixedClock(NOW))
        seconds = iter(range(10**9))

        def readings_batches() -> Batches:
            made = []
            for n in range(BATCHES):
                start = NOW - timedelta(days=300) + timedelta(seconds=next(seconds) * READINGS)
                items = [
                    {"metric": "t", "time": (start + timedelta(seconds=i)).isoformat(), "value": i}
                    for i in range(READINGS)
                ]
                tenant, device = devices[n % len(devices)]
                made.append((f"bijmantra.t.{tenant}.{device}", json.dumps({"readings": items})))
            return [(subject, body.encode()) for subject, body in made]

        def small_batches() -> Batches:
            return [(f"bijmantra.t.{small[n % 16]}.d{n % 64}", b"{}") for n in range(5000)]

        by_name = {side.name: side for side in sides}

        async def rate(name: str, batches: Batches, ingest: Ingest) -> float:
            return await by_name[name].rate(batches, ingest)

        into_postgres = await compare(
            rate, readings_batches, use_case.from_connected_device, ROUNDS, SIDES
        )
        bridges_alone = await compare(rate, small_batches, stores_nothing, ROUNDS, SIDES)
        for side in sides:
            await side.close()
        return {"into_postgres": into_postgres, "bridges_alone": bridges_alone}
    finally:
        await engine.dispose()
        for edge in edges:
            edge.stop()
        postgres.stop()


def main() -> None:
    with TemporaryDirectory(prefix="bench-orgs-") as scratch:
        figures = asyncio.run(measure(Path(scratch)))
    write_report(RESULTS, figures, SIDES, batches=BATCHES, rounds=ROUNDS)


if __name__ == "__main__":
    main()
