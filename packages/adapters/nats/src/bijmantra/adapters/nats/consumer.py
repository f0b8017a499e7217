"""Durable pull consumers with explicit acks, bounded redelivery and a dead-letter subject."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bijmantra.adapters.nats.stream import DEAD_LETTER_PREFIX, EVENTS_STREAM
from bijmantra.application.events import EventEnvelope, decode_envelope

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

log = logging.getLogger(__name__)

Handler = Callable[[EventEnvelope], Awaitable[None]]
RETRY_DELAY = 0.5  # seconds between fetch attempts while NATS is away


class DurableConsumer:
    """Fetch, handle, ack; after ``max_deliver`` failures the message goes to dead letters.

    Handlers must be idempotent (record the event id with their effect): a message is
    redelivered when its ack is lost, e.g. across a NATS restart. ``upcasting=False`` hands
    events over exactly as published (the audit trail keeps them that way).
    """

    def __init__(
        self,
        js: JetStreamContext,
        *,
        durable: str,
        filter_subject: str,
        handler: Handler,
        max_deliver: int = 5,
        ack_wait: float = 30.0,
        batch: int = 100,
        heartbeat: bool = False,
        upcasting: bool = True,
        stream: str = EVENTS_STREAM,
    ) -> None:
        """``heartbeat``: while a handler runs, tell the server every ``ack_wait / 3`` that
        the message is in progress, so a long job keeps its delivery while its process lives
        and is redelivered (to another replica of a shared durable) soon after it dies."""
        self._js = js
        self.durable = durable
        self._filter = filter_subject
        self._handler = handler
        self._max_deliver = max_deliver
        self._ack_wait = ack_wait
        self._batch = batch
        self._heartbeat = heartbeat
        self._upcasting = upcasting
        self._stream = stream
        self._stopping = asyncio.Event()
        self.ready = asyncio.Event()

    async def run(self) -> None:
        config = ConsumerConfig(
            durable_name=self.durable,
            filter_subject=self._filter,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=self._max_deliver,
            ack_wait=self._ack_wait,
            max_ack_pending=1000,
        )
        subscription = await self._js.pull_subscribe(
            self._filter, durable=self.durable, stream=self._stream, config=config
        )
        self.ready.set()
        while not self._stopping.is_set():
            try:
                messages = await subscription.fetch(self._batch, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except nats.errors.Error:  # disconnected, reconnecting, JetStream not yet back
                log.info("consumer %s waiting for NATS", self.durable, exc_info=True)
                await asyncio.sleep(RETRY_DELAY)
                continue
            for message in messages:
                try:
                    await self._handle(message)
                except nats.errors.Error:  # the ack itself failed: redelivery is harmless
                    log.warning(
                        "ack for %s on %s failed", message.subject, self.durable, exc_info=True
                    )

    def stop(self) -> None:
        self._stopping.set()

    async def _handle(self, message: Msg) -> None:
        try:
            envelope = decode_envelope(message.data, upcasting=self._upcasting)
        except Exception:  # undecodable: retrying cannot help
            log.exception("undecodable event on %s", message.subject)
            await self._dead_letter(message)
            return
        beating = asyncio.create_task(self._beat(message)) if self._heartbeat else None
        try:
            await self._handler(envelope)
        except Exception:
            deliveries = message.metadata.num_delivered
            log.exception("handler failed (delivery %s) for event %s", deliveries, envelope.id)
            if deliveries >= self._max_deliver:
                await self._dead_letter(message)
            else:
                await message.nak(delay=min(2.0**deliveries, 30.0))
            return
        finally:
            if beating is not None:
                beating.cancel()
        await message.ack()

    async def _beat(self, message: Msg) -> None:
        while True:
            await asyncio.sleep(self._ack_wait / 3)
            try:
                await message.in_progress()
            except Exception:  # connection blip: the next beat (or redelivery) covers it
                log.warning("in-progress heartbeat failed for %s", message.subject, exc_info=True)

    async def _dead_letter(self, message: Msg) -> None:
        headers = dict(message.headers or {})
        event_id = headers.pop("Nats-Msg-Id", "")
        # A fresh Nats-Msg-Id: reusing the event's would be dropped as a duplicate.
        headers |= {
            "Nats-Msg-Id": f"deadletter:{self.durable}:{event_id}",
            "Bijmantra-Event-Id": event_id,
            "Bijmantra-Original-Subject": message.subject,
        }
        await self._js.publish(
            f"{DEAD_LETTER_PREFIX}.{self.durable}", message.data, headers=headers
        )
        await message.term()
