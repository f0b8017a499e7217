"""The relay's lanes run independently: a slow pass does not hold events another lane can take."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from bijmantra.application.events import EventEnvelope, OutboxRecord, OutboxRelay
from bijmantra.testkit.fakes import FakeOutboxStore, InMemoryDatabase

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
