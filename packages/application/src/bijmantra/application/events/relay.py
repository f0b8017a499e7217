"""Outbox relay: move committed events from the outbox to the event stream.

At-least-once by construction (mark after ack); the stream deduplicates on the event id
(``Nats-Msg-Id``), so a crash between publish and mark never yields a second delivery.
"""

from __future__ import annotations

from dataclasses import dataclass

from bijmantra.application.ports import EventPublisher, OutboxStore


@dataclass
class OutboxRelay:
    store: OutboxStore
    publisher: EventPublisher
    batch_size: int = 500

    async def relay_once(self) -> int:
        """Publish one claimed batch; return how many events were published."""
        async with self.store.claim(self.batch_size) as batch:
            if not batch.envelopes:
                return 0
            acked = await self.publisher.publish_batch(batch.envelopes)
            await batch.mark_published(acked)
            return len(acked)
