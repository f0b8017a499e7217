"""The relay's lanes run independently: a slow pass does not hold events another lane can take."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

from bijmantra.application.events import EventEnvelope, OutboxRecord, OutboxRelay
from bijmantra.testkit.fakes import FakeOutboxBatch, FakeOutboxStore, InMemoryDatabase

TENANT = str(uuid.uuid4())
HANG_GUARD = 10.0  # seconds; only bounds a failing run, never measures one


def event(subject: str) -> EventEnvelope:
    return EventEnvelope(
        id=str(uuid.uuid4()),
        type="germplasm.created",
        source="test",
        tenant_id=TENANT,
        subject=subject,
        time=datetime.now(UTC),
        schema_version=1,
        data={},
        actor="u",
    )


class StallingPublisher:
    """Holds the first batch until released; publishes everything else at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.stalling = asyncio.Event()
        self.published: list[str] = []
        self.changed = asyncio.Event()
        self._first = True

    async def publish_batch(self, records: Sequence[OutboxRecord]) -> list[str]:
        if self._first:
            self._first = False
            self.stalling.set()
            await self.release.wait()
        self.published += [r.id for r in records]
        self.changed.set()
        return [r.id for r in records]

    async def until_published(self, event_id: str) -> None:
        while event_id not in self.published:
            self.changed.clear()
            await self.changed.wait()


async def test_an_event_committed_during_a_stalled_pass_is_relayed_by_another_lane() -> None:
    db = InMemoryDatabase()
    publisher = StallingPublisher()
    relay = OutboxRelay(FakeOutboxStore(db), publisher, lanes=2, poll_interval=60)
    wake, stop = asyncio.Event(), asyncio.Event()
    stalled, later = event("a"), event("b")
    db.outbox.append(stalled)
    wake.set()
    running = asyncio.create_task(relay.run(wake, stop))
    async with asyncio.timeout(HANG_GUARD):
        await publisher.stalling.wait()
        db.outbox.append(later)
        wake.set()  # the writer's post-commit wake-up
        await publisher.until_published(later.id)  # while the first pass still stalls
        assert stalled.id not in publisher.published
        publisher.release.set()
        await publisher.until_published(stalled.id)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert sorted(publisher.published) == sorted([stalled.id, later.id])


class CountingStore:
    """The fake outbox, counting claims (empty ones too) and telling when none is open."""

    def __init__(self, db: InMemoryDatabase) -> None:
        self._store = FakeOutboxStore(db)
        self.claims = 0
        self.open = 0
        self.closed = asyncio.Event()

    @contextlib.asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[FakeOutboxBatch]:
        self.claims += 1
        self.open += 1
        try:
            async with self._store.claim(limit) as batch:
                yield batch
        finally:
            self.open -= 1
            self.closed.set()

    async def until_idle(self) -> None:
        while self.open:
            self.closed.clear()
            await self.closed.wait()

    async def until_claimed(self, count: int) -> None:
        while self.claims < count:
            self.closed.clear()
            await self.closed.wait()


async def test_a_trickle_of_events_costs_one_claim_each() -> None:
    db = InMemoryDatabase()
    store, publisher = CountingStore(db), StallingPublisher()
    publisher._first = False  # nothing stalls here
    relay = OutboxRelay(store, publisher, lanes=2, poll_interval=60)
    wake, stop = asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(relay.run(wake, stop))
    async with asyncio.timeout(HANG_GUARD):
        await store.until_claimed(2)  # each lane claims once as it starts (what an outage left)
        await store.until_idle()
        store.claims = 0
        for n in range(20):
            committed = event(f"s{n}")
            db.outbox.append(committed)
            wake.set()  # the writer's post-commit wake-up
            await publisher.until_published(committed.id)
            await store.until_idle()
            await asyncio.sleep(0)  # a lane that would claim again has its turn
            await store.until_idle()
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert store.claims == 20


async def test_a_backlog_is_shared_by_every_lane_at_once() -> None:
    db = InMemoryDatabase()
    publisher = StallingPublisher()
    relay = OutboxRelay(FakeOutboxStore(db), publisher, batch_size=100, lanes=2, poll_interval=60)
    backlog = [event(f"b{n}") for n in range(250)]
    db.outbox.extend(backlog)
    wake, stop = asyncio.Event(), asyncio.Event()
    wake.set()  # one wake-up for the whole backlog
    running = asyncio.create_task(relay.run(wake, stop))
    async with asyncio.timeout(HANG_GUARD):
        await publisher.stalling.wait()
        await publisher.until_published(backlog[100].id)  # the other lane, while one stalls
        publisher.release.set()
        for committed in backlog:
            await publisher.until_published(committed.id)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert sorted(publisher.published) == sorted(e.id for e in backlog)
