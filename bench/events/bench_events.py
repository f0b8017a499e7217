"""Domain-event benchmarks (``just bench`` runs this after the HTTP slice).

1. Throughput: outbox -> JetStream (claim, publish with async acks, mark) in events/s,
   against the raw rate of batched asynchronous JetStream publishes of 1 KB messages,
   measured in the same run on the same NATS server.
2. Latency: committed write -> WebSocket frame at a steady 1,000 writes/s through the real
   services (domain-api relay woken by the writer's post-commit NOTIFY, gateway /ws),
   p50/p99, against JetStream publish -> ordered-consumer receive at the same rate (the
   transport's own latency). Measured twice in the same run: one frame per event (the
   protocol's default) and batched frames (``"batch": true``, several events per frame).
   Each latency measurement starts with ``BENCH_EVENT_WARMUP`` seconds (1) at the same
   rate that are not counted: the writer's connections are new for every measurement,
   and their first statements in fresh PostgreSQL backends are the writer's start-up.

Writes ``bench/results/events.json``. Sizes: ``BENCH_EVENTS`` (default 20000 per
throughput run), ``BENCH_EVENT_ROUNDS`` (3 throughput rounds; medians are reported),
``BENCH_EVENT_RATE`` (1000/s), ``BENCH_EVENT_SECONDS`` (10).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import multiprocessing
import os
import platform
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from bijmantra.adapters.nats import JetStreamPublisher, connect, ensure_stream
from bijmantra.adapters.nats.stream import EVENTS_STREAM, STREAM_CONFIG
from bijmantra.adapters.postgres import (
    PostgresOutboxStore,
    create_engine,
    set_tenant,
    write_outbox,
)
from bijmantra.adapters.postgres.ddl import outbox_channel
from bijmantra.adapters.postgres.relay_loop import OutboxWakeups
from bijmantra.application.events import EventEnvelope, OutboxRelay, encode_envelope
from bijmantra.devstack.stack import DEMO_ORGANIZATION_ID, DevStack, Ports
from bijmantra.kernel import TenantId, uuid7
from bijmantra.testkit.servers import free_port
from nats.js.api import DeliverPolicy
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
EVENTS = int(os.environ.get("BENCH_EVENTS", "20000"))
RATE = int(os.environ.get("BENCH_EVENT_RATE", "1000"))
SECONDS = float(os.environ.get("BENCH_EVENT_SECONDS", "10"))
WARMUP = int(RATE * float(os.environ.get("BENCH_EVENT_WARMUP", "1")))  # writes, not counted
ROUNDS = int(os.environ.get("BENCH_EVENT_ROUNDS", "3"))  # the host is shared: median of rounds
MESSAGE_BYTES = 1024
BATCH = 1000
# The latency runs' events: a type the live feed delivers (it delivers no type it does not
# know: ``events.permissions``) and that no consumer but the audit trail acts on.
LIVE_TYPE = "germplasm.updated"


def envelope(tenant: str, event_type: str, n: int, padding: int) -> EventEnvelope:
    return EventEnvelope(
        id=str(uuid7()),
        type=event_type,
        source="bench",
        tenant_id=tenant,
        subject=f"bench-{n % 500}",
        time=datetime.now(UTC),
        schema_version=1,
        data={"n": n, "padding": "x" * padding},
        actor="bench",
    )


def padding_for_1kb(tenant: str) -> int:
    overhead = len(encode_envelope(envelope(tenant, "bench.sized", 0, 0)))
    return MESSAGE_BYTES - overhead


async def raw_publish_rate(js, count: int) -> float:
    """Batched publish_async of 1 KB payloads (unique Nats-Msg-Id, like the relay's)."""
    payload = b"x" * MESSAGE_BYTES
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        futures = [
            await js.publish_async(
                "bijmantra.events.bench.raw", payload, headers={"Nats-Msg-Id": uuid.uuid4().hex}
            )
            for _ in range(min(BATCH, count - start))
        ]
        await asyncio.gather(*futures)
    return count / (time.perf_counter() - started)


async def fill_outbox(engine, count: int) -> None:
    tenant = str(uuid.uuid4())
    padding = padding_for_1kb(tenant)
    for start in range(0, count, BATCH):
        async with engine.connect() as conn, conn.begin():
            await set_tenant(conn, TenantId(uuid.UUID(tenant)))
            await write_outbox(
                conn,
                [
                    envelope(tenant, "bench.relayed", n, padding)
                    for n in range(start, min(start + BATCH, count))
                ],
            )


async def relay_rate(engine, js, count: int, relays: int) -> float:
    await fill_outbox(engine, count)
    publisher = JetStreamPublisher(js)

    async def drain() -> None:
        # Each relay is configured as domain-api configures its own (one per replica).
        store = PostgresOutboxStore(engine)
        relay = OutboxRelay(store, publisher, batch_size=BATCH)
        while await relay.drain() or (await store.pending())[0]:
            pass

    started = time.perf_counter()
    await asyncio.gather(*(drain() for _ in range(relays)))
    return count / (time.perf_counter() - started)


async def throughput(stack: DevStack) -> dict[str, object]:
    assert stack.database is not None
    engine = create_engine(stack.database.domain_url, pool_size=8)
    nc = await connect(stack.nats_url, name="bench")
    js = nc.jetstream()
    await ensure_stream(js)
    await raw_publish_rate(js, 2000)  # warm-up
    rounds = []
    for _ in range(ROUNDS):  # each relay figure against the raw rate of its own round
        raw = await raw_publish_rate(js, EVENTS)
        one = await relay_rate(engine, js, EVENTS, relays=1)
        two = await relay_rate(engine, js, EVENTS, relays=2)
        rounds.append({"raw": raw, "one": one, "two": two, "load_1m": os.getloadavg()[0]})
    # The latency run starts from an empty stream, as a live system would: otherwise the
    # services' durable consumers (the audit trail) would spend that run digesting this
    # run's backlog, including the raw publishes, which are not events at all.
    await js.purge_stream(EVENTS_STREAM)
    await nc.close()
    await engine.dispose()
    # For the same reason, the outbox loses the throughput rounds' rows (published; the
    # relay purges such rows after a day): their dead row versions (~120,000 per run, more
    # as runs share the stack's database) had autovacuum scan the table during the latency
    # run, on the same two cores (pg_stat_user_tables showed it).
    async with await psycopg.AsyncConnection.connect(
        stack.database.owner_url, autocommit=True
    ) as owner:
        await owner.execute("DELETE FROM domain.outbox WHERE type = 'bench.relayed'")
        await owner.execute("VACUUM domain.outbox")
    median = lambda key: statistics.median(r[key] for r in rounds)  # noqa: E731
    ratio = lambda key: statistics.median(r[key] / r["raw"] for r in rounds)  # noqa: E731
    report = {
        "events": EVENTS,
        "message_bytes": MESSAGE_BYTES,
        "batch": BATCH,
        "rounds": [{k: round(v, 2) for k, v in r.items()} for r in rounds],
        "raw_async_publish_per_s": round(median("raw")),
        "outbox_relay_per_s": round(median("one")),
        "outbox_two_relays_per_s": round(median("two")),
        "ratio_outbox_vs_raw": round(ratio("one"), 3),  # medians of the rounds' ratios
        "ratio_two_relays_vs_raw": round(ratio("two"), 3),
    }
    for r in rounds:
        print(
            f"  raw publish {r['raw']:8.0f}/s   outbox relay {r['one']:8.0f}/s "
            f"({r['one'] / r['raw']:.2f}x)   two relays {r['two']:8.0f}/s "
            f"({r['two'] / r['raw']:.2f}x)   load {r['load_1m']:.1f}",
            flush=True,
        )
    print(
        f"  median ratios: one relay {ratio('one'):.2f}x, two relays {ratio('two'):.2f}x",
        flush=True,
    )
    return report


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50_ms": round(pick(0.5), 2),
        "p99_ms": round(pick(0.99), 2),
        "max_ms": round(ordered[-1], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
    }


async def paced(total: int, write) -> float:
    """Start ``write(n)`` at a steady RATE (open loop); return the achieved rate."""
    tasks = []
    started = time.perf_counter()
    for n in range(total):
        delay = started + n / RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(write(n)))
    await asyncio.gather(*tasks)
    return total / (time.perf_counter() - started)


TRANSPORT_STREAM = "BENCH_TRANSPORT"
TRANSPORT_SUBJECT = "bench.transport.latency"


async def transport_latency(stack: DevStack) -> dict[str, object]:
    """Baseline: JetStream publish -> ordered consumer in this process, same rate.

    On a stream of its own, configured like the events stream: published into the events
    stream, these non-events would be dead-lettered by the running services' audit consumer
    (logging each) while the next measurement runs."""
    nc = await connect(stack.nats_url, name="bench-latency")
    js = nc.jetstream()
    await js.add_stream(
        dataclasses.replace(STREAM_CONFIG, name=TRANSPORT_STREAM, subjects=[TRANSPORT_SUBJECT])
    )
    subscription = await js.subscribe(
        TRANSPORT_SUBJECT, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )
    sent: dict[str, float] = {}
    received: dict[str, float] = {}
    total = int(RATE * SECONDS)

    async def receive() -> None:
        async for message in subscription.messages:
            received[message.headers["Nats-Msg-Id"]] = time.perf_counter()
            if len(received) == WARMUP + total:
                return

    reader = asyncio.create_task(receive())

    async def publish(n: int) -> None:
        key = uuid.uuid4().hex
        if n >= WARMUP:
            sent[key] = time.perf_counter()
        await js.publish(TRANSPORT_SUBJECT, b"x" * 200, headers={"Nats-Msg-Id": key})

    rate = await paced(WARMUP + total, publish)
    await asyncio.wait_for(reader, 60)
    await js.delete_stream(TRANSPORT_STREAM)
    await nc.close()
    return {
        "achieved_rate_per_s": round(rate),
        **percentiles([(received[k] - sent[k]) * 1000 for k in sent]),
    }


class OneRoundTripWriter:
    """Commits one event per transaction in a single round trip (BEGIN; set tenant; INSERT;
    COMMIT as one simple query), so the benchmark's own client can sustain the target rate.

    The statement is spliced from a fixed template: the values are ids, names and JSON this
    benchmark made itself, so doubling quotes is all the quoting they need, and composing it
    with ``psycopg.sql`` cost the client more CPU than the write itself."""

    STATEMENT = (
        "BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true); "
        "INSERT INTO domain.outbox (id, tenant_id, type, aggregate_id, envelope) "
        "VALUES ('{id}', '{tenant}', '{type}', '{subject}', convert_to('{envelope}', 'UTF8')); "
        "COMMIT;"
    )

    def __init__(self, connections: list[psycopg.AsyncConnection]) -> None:
        self._free: asyncio.Queue[psycopg.AsyncConnection] = asyncio.Queue()
        for connection in connections:
            self._free.put_nowait(connection)

    async def write(self, event: EventEnvelope) -> None:
        statement = self.STATEMENT.format(
            tenant=event.tenant_id,
            id=event.id,
            type=event.type,
            subject=event.subject.replace("'", "''"),
            envelope=encode_envelope(event).decode().replace("'", "''"),
        )
        connection = await self._free.get()
        try:
            await connection.execute(statement.encode(), prepare=False)
        finally:
            self._free.put_nowait(connection)


def monotonic() -> float:
    """One clock for both processes of the latency run (CLOCK_MONOTONIC is system-wide)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def websocket_reader(url: str, token: str, total: int, batched: bool, ready, results) -> None:
    """The WebSocket client, in a process of its own: reading 1,000 frames/s in the writer's
    event loop made the benchmark client, not the system, the bottleneck (its loop lag
    delayed every receive timestamp, and the gateway closed it as a slow consumer)."""

    async def read() -> tuple[dict[str, float], str | None]:
        received: dict[str, float] = {}
        async with ws_connect(
            url, additional_headers={"Authorization": f"Bearer {token}"}, max_queue=None
        ) as socket:
            assert json.loads(await socket.recv())["type"] == "ready"
            await socket.send(
                json.dumps({"type": "subscribe", "events": [LIVE_TYPE], "batch": batched})
            )
            assert json.loads(await socket.recv())["type"] == "subscribed"
            ready.set()
            try:
                async with asyncio.timeout(SECONDS + 60):
                    async for raw in socket:
                        now = monotonic()
                        frame = json.loads(raw)
                        if frame["type"] in ("event", "events"):
                            for event in frame.get("events") or [frame.get("event")]:
                                received[event["id"]] = now
                            if len(received) == total:
                                break
                        elif frame["type"] == "ping":
                            await socket.send('{"type":"pong"}')
            except TimeoutError:
                return received, "timed out waiting for frames"
            except ConnectionClosed as closed:
                return received, f"closed by the gateway: {closed}"
        return received, None

    gc.freeze()  # the reader's own collections would count as latency (see ``main``)
    results.put(asyncio.run(read()))


async def end_to_end_latency(stack: DevStack, *, batched: bool) -> dict[str, object]:
    """``batched``: the client asks for several events per frame (``"batch": true``)."""
    assert stack.database is not None
    connections = [
        await psycopg.AsyncConnection.connect(stack.database.domain_url, autocommit=True)
        for _ in range(32)
    ]
    writer = OneRoundTripWriter(connections)
    url = stack.gateway_url.replace("http://", "ws://") + "/ws"
    total = int(RATE * SECONDS)
    spawn = multiprocessing.get_context("spawn")
    ready, results = spawn.Event(), spawn.Queue()
    reader = spawn.Process(
        target=websocket_reader, args=(url, stack.login(), WARMUP + total, batched, ready, results)
    )
    reader.start()
    if not await asyncio.to_thread(ready.wait, 60):
        reader.kill()
        raise RuntimeError(f"the WebSocket reader did not subscribe (exit code {reader.exitcode})")
    committed: dict[str, float] = {}
    # A writer wakes the relay after each commit, as domain-api's units of work do.
    wakeups = OutboxWakeups(stack.database.domain_url, outbox_channel("domain"))
    waking = asyncio.create_task(wakeups.run(asyncio.Event()))

    async def write(n: int) -> None:
        event = envelope(DEMO_ORGANIZATION_ID, LIVE_TYPE, n, 200)
        await writer.write(event)
        if n >= WARMUP:
            committed[event.id] = monotonic()
        wakeups.wake()

    rate = await paced(WARMUP + total, write)
    received, problem = await asyncio.to_thread(results.get, timeout=SECONDS + 120)
    await asyncio.to_thread(reader.join)
    waking.cancel()
    for connection in connections:
        await connection.close()
    latencies = [(received[i] - committed[i]) * 1000 for i in committed if i in received]
    return {
        "writes": total,
        "warmup_writes_not_counted": WARMUP,
        "achieved_rate_per_s": round(rate),
        "frames_missing": total - len(latencies),
        "reader_problem": problem,
        **(percentiles(latencies) if latencies else {}),
    }


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    workdir = ROOT / ".bijmantra" / "bench-events"
    stack = DevStack(workdir, Ports(gateway=free_port()), log_dir=workdir / "logs")
    try:
        stack.start_servers()
        stack.seed(testdata=False)
        print(
            "Events: outbox -> JetStream throughput vs raw batched async publish (1 KB)", flush=True
        )
        report: dict[str, object] = {"throughput": asyncio.run(throughput(stack))}
        stack.start_services()
        # The writer's collections (the stack's start-up left many objects) would stamp
        # commits late: out of the collector's reach, as the services do after start-up.
        gc.freeze()
        print(
            f"Events: committed write -> WebSocket frame at {RATE} writes/s for {SECONDS:.0f} s",
            flush=True,
        )
        baseline = asyncio.run(transport_latency(stack))
        print(
            f"  transport p50 {baseline['p50_ms']} ms p99 {baseline['p99_ms']} ms "
            f"(load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
        report["latency"] = {"baseline_jetstream_publish_to_consumer": baseline}
        # One frame per event (the protocol's default), then batched frames, same run.
        for key, batched in (("frame_per_event", False), ("batched_frames", True)):
            ours = asyncio.run(end_to_end_latency(stack, batched=batched))
            ours["load_1m_after"] = os.getloadavg()[0]
            report["latency"][f"committed_write_to_websocket_{key}"] = ours
            if "p99_ms" in ours:
                ratio = round(ours["p99_ms"] / baseline["p99_ms"], 2)
                report["latency"][f"ratio_p99_vs_transport_{key}"] = ratio
            print(
                f"  write->frame ({key}) p50 {ours.get('p50_ms')} ms p99 {ours.get('p99_ms')} ms "
                f"(rate {ours['achieved_rate_per_s']}/s, missing {ours['frames_missing']}, "
                f"load {ours['load_1m_after']:.1f}"
                f"{', ' + str(ours['reader_problem']) if ours['reader_problem'] else ''})",
                flush=True,
            )
    finally:
        stack.stop()
    meta = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1m_at_end": os.getloadavg()[0],  # other work on the host skews every figure
    }
    (RESULTS / "events.json").write_text(json.dumps({"meta": meta, **report}, indent=2))
    print(f"wrote {RESULTS / 'events.json'}", flush=True)


if __name__ == "__main__":
    main()
