"""Several relays on one outbox, each with overlapping passes (lanes): each event reaches the
stream once, in its aggregate's order."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import nats.errors
import pytest
from bijmantra.adapters.nats import JetStreamPublisher, connect, ensure_stream
from bijmantra.adapters.postgres import PostgresOutboxStore, create_engine, set_tenant, write_outbox
from bijmantra.application.events import EventEnvelope, OutboxRecord, OutboxRelay, decode_envelope
from bijmantra.kernel import TenantId, uuid7
from bijmantra.testkit.provision import ProvisionedDatabase

pytestmark = pytest.mark.integration


class JitteryPublisher:
    """The real publisher, paused randomly so concurrent relays interleave."""

    def __init__(self, inner: JetStreamPublisher, published: Counter[int], index: int) -> None:
        self._inner, self._published, self._index = inner, published, index

    async def publish_batch(self, records: Sequence[OutboxRecord]) -> list[str]:
        await asyncio.sleep(random.uniform(0, 0.01))
        acked = await self._inner.publish_batch(records)
        self._published[self._index] += len(acked)
        return acked


async def test_four_relays_keep_per_aggregate_order_and_publish_each_event_once(
    nats_url: str, database: ProvisionedDatabase
) -> None:
    engine = create_engine(database.domain_url, pool_size=8)
    nc = await connect(nats_url, name="test")
    js = nc.jetstream()
    await ensure_stream(js)
    tenant = TenantId(uuid.uuid4())
    event_type = f"probe{uuid.uuid4().hex[:8]}.changed"
    aggregates = [f"agg-{i}" for i in range(16)]
    expected: dict[str, list[str]] = {a: [] for a in aggregates}
    for round_number in range(8):  # each transaction touches every aggregate: rows interleave
        envelopes = [
            EventEnvelope(
                id=str(uuid7()),
                type=event_type,
                source="test",
                tenant_id=str(tenant),
                subject=aggregate,
                time=datetime.now(UTC),
                schema_version=1,
                data={"round": round_number},
            )
            for aggregate in random.sample(aggregates, len(aggregates))
        ]
        async with engine.connect() as conn, conn.begin():
            await set_tenant(conn, tenant)
            await write_outbox(conn, envelopes)
        for envelope in envelopes:
            expected[envelope.subject].append(envelope.id)

    subscription = await js.subscribe(f"bijmantra.events.{event_type}", ordered_consumer=True)
    published: Counter[int] = Counter()
    publisher = JetStreamPublisher(js)

    async def drain(index: int) -> None:
        store = PostgresOutboxStore(engine, max_partitions=2)
        relay = OutboxRelay(
            store, JitteryPublisher(publisher, published, index), batch_size=5, lanes=2
        )
        while True:
            if not await relay.drain():  # two lanes per relay: eight passes in flight
                if (await store.pending())[0] == 0:
                    return
                await asyncio.sleep(0.002)

    await asyncio.gather(*(drain(i) for i in range(4)))
    total = sum(len(ids) for ids in expected.values())
    received: dict[str, list[str]] = {a: [] for a in aggregates}
    for _ in range(total):
        event = decode_envelope((await subscription.next_msg(timeout=10)).data)
        received[event.subject].append(event.id)
    with pytest.raises(nats.errors.TimeoutError):
        await subscription.next_msg(timeout=0.5)  # nothing twice
    assert received == expected
    assert len([i for i, n in published.items() if n]) > 1, "the relays shared the work"
    await nc.close()
    await engine.dispose()
