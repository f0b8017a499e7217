"""The outbox relay's ports: where unpublished events wait, and the stream they go to."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from bijmantra.application.events.envelope import OutboxRecord


class OutboxBatch(Protocol):
    """Events claimed by one relay; the claim lasts until the ``claim`` context exits."""

    records: list[OutboxRecord]

    async def mark_published(self, event_ids: Sequence[str]) -> None: ...


class OutboxStore(Protocol):
    """Unpublished events, claimed so that several relays never publish the same row twice."""

    def claim(self, limit: int) -> AbstractAsyncContextManager[OutboxBatch]: ...


class EventPublisher(Protocol):
    async def publish_batch(self, records: Sequence[OutboxRecord]) -> list[str]:
        """Publish in order and wait for acks; return the ids the stream acknowledged."""
        ...
