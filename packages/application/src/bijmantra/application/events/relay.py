"""Outbox relay: move committed events from an outbox to the event stream.

At-least-once by construction (mark after ack); the stream deduplicates on the event id
(``Nats-Msg-Id``), so a crash between publish and mark never yields a second delivery
within the stream's duplicate window, and consumers are idempotent beyond it.

Passes overlap: ``lanes`` passes run at once, so one pass's claim and mark (database round
trips) proceed while another's messages are sent and acknowledged. They cannot interleave
an aggregate's events, because a pass holds the store's claim (partitions of the outbox)
from claim to mark.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from bijmantra.application.events.ports import EventPublisher, OutboxStore

log = logging.getLogger(__name__)


@dataclass
class OutboxRelay:
    store: OutboxStore
    publisher: EventPublisher
    batch_size: int = 1000
    poll_interval: float = 1.0  # seconds; a wake-up (NOTIFY) normally comes long before
    lanes: int = 2  # passes in flight at once (see the module docstring)

    async def relay_once(self) -> int:
        """Publish one claimed batch; return how many events were published."""
        async with self.store.claim(self.batch_size) as batch:
            if not batch.records:
                return 0
            acked = await self.publisher.publish_batch(batch.records)
            await batch.mark_published(acked)
            return len(acked)

    async def drain(self) -> int:
        """Relay until the passes find nothing to claim; return how many were published.

        A lane stops at its first empty claim (the others may hold what is left); the
        caller drains again on its next wake-up or poll."""

        async def lane() -> int:
            published = 0
            while relayed := await self.relay_once():
                published += relayed
            return published

        async with asyncio.TaskGroup() as lanes:  # one failing lane cancels the others
            passes = [lanes.create_task(lane()) for _ in range(self.lanes)]
        return sum(p.result() for p in passes)

    async def run(self, wake: asyncio.Event, stop: asyncio.Event) -> None:
        """Relay whenever woken (or every ``poll_interval``) until ``stop``.

        Each lane runs on its own: one that finds nothing waits for the next wake-up while
        another is still publishing, instead of all lanes finishing a drain together (an
        event committed during a pass then waited for the slowest lane's pass as well).
        Failures (NATS or PostgreSQL away) keep the rows; the next pass retries them.
        """
        lanes = [asyncio.Event() for _ in range(self.lanes)]

        async def fan_out() -> None:
            while True:
                await wake.wait()
                wake.clear()
                for lane in lanes:
                    lane.set()

        async def lane(woken: asyncio.Event) -> None:
            while not stop.is_set():
                woken.clear()
                try:
                    if await self.relay_once():
                        continue  # more may wait: no sleep while there is a backlog
                except Exception:
                    log.warning("outbox relay pass failed; retrying", exc_info=True)
                    await asyncio.sleep(self.poll_interval)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), self.poll_interval)

        fanning = asyncio.create_task(fan_out())
        try:
            async with asyncio.TaskGroup() as running:
                for woken in lanes:
                    running.create_task(lane(woken))
        finally:
            fanning.cancel()
