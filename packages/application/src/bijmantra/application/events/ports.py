"""The event stream's ports: where unpublished events wait, the stream they go to, and the
durable subscriptions that handle them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from bijmantra.application.events.envelope import EventEnvelope, OutboxRecord

EventHandler = Callable[[EventEnvelope], Awaitable[None]]
EventBatchHandler = Callable[[list[EventEnvelope]], Awaitable[None]]


class OutboxBatch(Protocol):
    """Events claimed by one relay; the claim lasts until the ``claim`` context exits.

    ``more``: the claim stopped at a bound (its row limit, or as many partitions as it may
    hold), so unclaimed events may be waiting; otherwise it took every event it could."""

    records: list[OutboxRecord]
    more: bool

    async def mark_published(self, event_ids: Sequence[str]) -> None: ...


class OutboxStore(Protocol):
    """Unpublished events, claimed so that several relays never publish the same row twice."""

    def claim(self, limit: int) -> AbstractAsyncContextManager[OutboxBatch]: ...


class EventPublisher(Protocol):
    async def publish_batch(self, records: Sequence[OutboxRecord]) -> list[str]:
        """Publish in order and wait for acks; return the ids the stream acknowledged."""
        ...


class EventConsumer(Protocol):
    """One durable subscription, handling its events until ``stop``."""

    durable: str
    ready: asyncio.Event  # set once the subscription exists on the stream

    async def run(self) -> None: ...

    def stop(self) -> None: ...

    async def sample_lag(self) -> None:
        """Export how far the subscription is behind the stream."""
        ...


class RetryLater(Exception):
    """Raised by a handler whose event cannot be done yet and should come again after
    ``delay`` seconds (a mail server answering "try again later"): the consumer hands it back
    to the stream for that long, holding nothing meanwhile, and counts the delivery (ADR 0377).
    """

    def __init__(self, delay: float, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    """One durable consumer: the subjects it is sent, who handles them and at what pace.

    ``batch`` events are fetched at a time; ``batch_handler`` (when given) applies them in
    one go. ``ack_wait`` seconds pass before an unacknowledged event is redelivered;
    ``heartbeat`` keeps a long handler's delivery alive. ``upcasting=False`` hands events
    over exactly as published. ``linger`` seconds pass after a fetch that did not fill the
    batch before the next: under a steady trickle the events arriving meanwhile share one
    batch (one transaction) instead of one each, at the cost of that much delay.
    ``max_deliver``: the deliveries a failing event gets before it is dead-lettered;
    ``max_ack_pending``: events delivered and not yet acknowledged, those waiting out a
    ``RetryLater`` among them, past which the server delivers the consumer nothing new.
    ``organizations_at_once`` > 0: each organization's events are handled one at a time, in
    order, and up to that many organizations' side by side, with up to ``in_hand`` events
    fetched and not yet handled; so one organization's slow events (a mail server that does
    not answer) hold back only its own (ADR 0381). 0: each batch one event after another."""

    durable: str
    filter_subjects: Sequence[str]
    handler: EventHandler
    batch_handler: EventBatchHandler | None = None
    batch: int = 100
    ack_wait: float = 30.0
    upcasting: bool = True
    heartbeat: bool = False
    linger: float = 0.0
    max_deliver: int = 5
    max_ack_pending: int = 1000
    organizations_at_once: int = 0
    in_hand: int = 1000


class EventSubscriptions(Protocol):
    """Durable subscriptions to the event stream: every event reaches ``handler`` at least
    once (handlers are idempotent); a composition root names what each consumer handles."""

    def consumer(self, spec: ConsumerSpec) -> EventConsumer: ...
