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
from collections.abc import Callable
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
        published, _ = await self._pass()
        return published

    async def _pass(self, backlog: Callable[[], None] = lambda: None) -> tuple[int, bool]:
        """One claimed batch published: how many events, and whether more may wait (the
        claim stopped at a bound, or some of it was not acknowledged). ``backlog`` is told
        as soon as the claim shows more waiting, before the batch is sent."""
        async with self.store.claim(self.batch_size) as batch:
            if not batch.records:
                return 0, False
            if batch.more:
                backlog()
            acked = await self.publisher.publish_batch(batch.records)
            await batch.mark_published(acked)
            unacked = len(acked) < len(batch.records)
            return len(acked), bool(acked) and (batch.more or unacked)

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
        lanes = _Lanes(self.lanes)

        async def fan_out() -> None:
            while True:
                await wake.wait()
                wake.clear()
                lanes.wake()

        async def lane(number: int) -> None:
            woken = lanes.events[number]
            while not stop.is_set():
                woken.clear()
                lanes.busy[number] = True
                try:
                    _, more = await self._pass(lanes.wake_all)  # a backlog: every lane helps
                except Exception:
                    log.warning("outbox relay pass failed; retrying", exc_info=True)
                    await asyncio.sleep(self.poll_interval)
                    continue
                finally:
                    lanes.busy[number] = False
                if more:
                    continue
                # Not ``wait_for``: on Python 3.11 it swallows a cancellation that arrives as
                # the event is set, and the lane then outlives its task group's cancel.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_interval):
                        await woken.wait()

        fanning = asyncio.create_task(fan_out())
        try:
            async with asyncio.TaskGroup() as running:
                for number in range(self.lanes):
                    running.create_task(lane(number))
        finally:
            fanning.cancel()


class _Lanes:
    """Whom a wake-up (an event committed) sends to claim it.

    Every busy lane: it claimed before the event was committed, and may hold the event's
    partition, so it claims again after its pass. One idle lane, not all: the others' claims
    would find nothing (each cost a transaction, per event, on a steady trickle).
    """

    def __init__(self, count: int) -> None:
        self.events = [asyncio.Event() for _ in range(count)]
        self.busy = [False] * count

    def wake(self) -> None:
        idle = [event for event, busy in zip(self.events, self.busy, strict=True) if not busy]
        for event, busy in zip(self.events, self.busy, strict=True):
            if busy:
                event.set()
        if idle and not any(event.is_set() for event in idle):
            idle[0].set()

    def wake_all(self) -> None:
        for event in self.events:
            event.set()
