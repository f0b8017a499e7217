"""Durable pull consumers with explicit acks, bounded redelivery and a dead-letter subject."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from bijmantra.adapters.nats.deadletters import held
from bijmantra.adapters.nats.publisher import TENANT_HEADER
from bijmantra.adapters.nats.stream import (
    DEAD_LETTER_PREFIX,
    EVENTS_STREAM,
    REPLAY_PREFIX,
    message_attributes,
)
from bijmantra.application.events import EventEnvelope, decode_envelope
from bijmantra.application.events.ports import ConsumerSpec, RetryLater
from bijmantra.observability import bind_context, clear_context, context_from_headers, get_tracer
from bijmantra.observability.metrics import (
    CONSUMER_ACK_PENDING,
    CONSUMER_DEAD_LETTERED,
    CONSUMER_DEAD_LETTERS,
    CONSUMER_PENDING,
    CONSUMER_REDELIVERIES,
    EVENT_HANDLING,
)
from opentelemetry import trace

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

log = logging.getLogger(__name__)
tracer = get_tracer(__name__)

Handler = Callable[[EventEnvelope], Awaitable[None]]
BatchHandler = Callable[[list[EventEnvelope]], Awaitable[None]]
RETRY_DELAY = 0.5  # seconds between fetch attempts while NATS is away


class DurableConsumer:
    """Fetch, handle, ack; after ``max_deliver`` failures the message goes to dead letters.

    The server is allowed one delivery more than the handler: a message whose last handled
    delivery ended without an ack or a nak (its process was killed) comes once more and is
    dead-lettered unhandled, instead of being dropped by the server unseen (ADR 0367).

    Handlers must be idempotent (record the event id with their effect): a message is
    redelivered when its ack is lost, e.g. across a NATS restart. ``upcasting=False`` hands
    events over exactly as published (the audit trail keeps them that way).

    ``filter_subjects`` are the only subjects the server delivers: a consumer names just
    the events it acts on, so the others cost it no delivery, decode or ack (the analytics
    worker's projection used to receive, and ack unread, every germplasm event). Each also
    follows ``bijmantra.replay.<durable>``: its own dead letters, sent back by an operator
    (ADR 0370).
    """

    def __init__(
        self,
        js: JetStreamContext,
        spec: ConsumerSpec,
        *,
        max_deliver: int | None = None,
        stream: str = EVENTS_STREAM,
    ) -> None:
        """``heartbeat``: while a handler runs, tell the server every ``ack_wait / 3`` that
        the message is in progress, so a long job keeps its delivery while its process lives
        and is redelivered (to another replica of a shared durable) soon after it dies.

        ``batch_handler``: applies a whole fetched batch at once (one transaction instead of
        one per event); when it fails, the batch is retried one event at a time through
        ``handler``, so a poison event is isolated and dead-lettered alone.

        ``max_deliver`` overrides the spec's."""
        self._js = js
        self.durable = spec.durable
        self._filters = list(spec.filter_subjects)
        if self._filters:  # an unfiltered consumer already receives its replay subject
            self._filters.append(f"{REPLAY_PREFIX}.{spec.durable}")
        self._handler = spec.handler
        self._max_deliver = spec.max_deliver if max_deliver is None else max_deliver
        self._max_ack_pending = spec.max_ack_pending
        self._ack_wait = spec.ack_wait
        self._batch = spec.batch
        self._heartbeat = spec.heartbeat
        self._upcasting = spec.upcasting
        self._stream = stream
        self._batch_handler = spec.batch_handler
        self._linger = spec.linger
        self._at_once = spec.organizations_at_once
        self._in_hand = max(spec.in_hand, spec.batch)
        self._stopping = asyncio.Event()
        self.ready = asyncio.Event()
        CONSUMER_REDELIVERIES.labels(spec.durable)  # exported as 0 before the first redelivery

    async def run(self) -> None:
        """Create the durable, or update it to this configuration (filters, redelivery and
        ack wait may change between releases; the server keeps its position), then consume."""
        config = ConsumerConfig(
            durable_name=self.durable,
            filter_subjects=self._filters,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=self._max_deliver + 1,
            ack_wait=self._ack_wait,
            max_ack_pending=self._max_ack_pending,
        )
        await self._js.add_consumer(self._stream, config)
        subscription = await self._js.pull_subscribe_bind(self.durable, self._stream)
        self.ready.set()
        try:
            if self._at_once:
                await self._consume_by_organization(subscription)
            else:
                await self._consume(subscription)
        finally:
            # A pull subscription's queue never reports its fetched messages done, so
            # ``drain()`` would wait its whole timeout for it; nothing is pending by now.
            with contextlib.suppress(nats.errors.Error):
                await subscription.unsubscribe()

    async def _fetch(
        self, subscription: JetStreamContext.PullSubscription, count: int
    ) -> list[Msg]:
        """Up to ``count`` messages; none after a second without any, or while NATS is away."""
        try:
            return await subscription.fetch(count, timeout=1.0)
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        except nats.errors.Error:  # disconnected, reconnecting, JetStream not yet back
            log.info("consumer %s waiting for NATS", self.durable, exc_info=True)
            await asyncio.sleep(RETRY_DELAY)
            return []

    async def _consume(self, subscription: JetStreamContext.PullSubscription) -> None:
        while not self._stopping.is_set():
            messages = await self._fetch(subscription, self._batch)
            if not messages:
                continue
            fetched = len(messages)
            waiting: deque[Msg] = deque()
            keeping = asyncio.create_task(self._keep(waiting))
            try:
                if self._batch_handler is not None and len(messages) > 1:
                    messages = await self._handle_batch(messages, self._batch_handler)
                waiting.extend(messages)
                while waiting:
                    await self._handle(waiting.popleft())
            except nats.errors.Error:  # an ack failed: redelivery is harmless (idempotent)
                log.warning("acks on %s failed", self.durable, exc_info=True)
            finally:
                keeping.cancel()
            if self._linger and fetched < self._batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._linger)

    async def _consume_by_organization(
        self, subscription: JetStreamContext.PullSubscription
    ) -> None:
        """Each organization's messages in a lane of its own, handled in order; up to
        ``organizations_at_once`` lanes run at once and up to ``in_hand`` messages wait in
        them. Fetching goes on while lanes run, so an organization behind a slow one's
        events is handled as soon as it is fetched (ADR 0381). On stop, each lane finishes
        the message it is handling; the rest are redelivered."""
        lanes: dict[str, deque[Msg]] = {}
        waiting: deque[Msg] = deque()  # fetched, not yet started: kept alive by ``_keep``
        running: set[asyncio.Task[None]] = set()
        turns = asyncio.Semaphore(self._at_once)
        keeping = asyncio.create_task(self._keep(waiting))
        try:
            while not self._stopping.is_set():
                room = self._in_hand - len(waiting)
                if room <= 0:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                for message in await self._fetch(subscription, min(self._batch, room)):
                    organization = _organization_of(message)
                    lane = lanes.setdefault(organization, deque())
                    lane.append(message)
                    waiting.append(message)
                    if len(lane) == 1:  # no lane task running for it: start one
                        task = asyncio.create_task(
                            self._run_lane(organization, lanes, waiting, turns)
                        )
                        running.add(task)
                        task.add_done_callback(running.discard)
        finally:
            keeping.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _run_lane(
        self,
        organization: str,
        lanes: dict[str, deque[Msg]],
        waiting: deque[Msg],
        turns: asyncio.Semaphore,
    ) -> None:
        lane = lanes[organization]
        try:
            while lane and not self._stopping.is_set():
                async with turns:
                    message = lane[0]
                    waiting.remove(message)
                    try:
                        await self._handle(message)
                    except nats.errors.Error:  # an ack failed: redelivery is harmless
                        log.warning("acks on %s failed", self.durable, exc_info=True)
                    lane.popleft()
        finally:
            lanes.pop(organization, None)

    async def _handle_batch(self, messages: list[Msg], handler: BatchHandler) -> list[Msg]:
        """Apply and ack the batch; return the messages left for one-by-one handling."""
        try:
            envelopes = [decode_envelope(m.data, upcasting=self._upcasting) for m in messages]
            await handler(envelopes)
        except Exception:
            log.warning(
                "batch of %s failed on %s; retrying one by one",
                len(messages),
                self.durable,
                exc_info=True,
            )
            return messages
        for message in messages:
            await message.ack()
        return []

    def stop(self) -> None:
        self._stopping.set()

    async def sample_lag(self) -> None:
        """Consumer lag from the server into gauges: not yet delivered, unacknowledged, and
        dead letters waiting for an operator (every replica reports the same counts)."""
        info = await self._js.consumer_info(self._stream, self.durable)
        CONSUMER_PENDING.labels(self.durable).set(info.num_pending or 0)
        CONSUMER_ACK_PENDING.labels(self.durable).set(info.num_ack_pending or 0)
        CONSUMER_DEAD_LETTERS.labels(self.durable).set(await held(self._js, self.durable))

    async def _handle(self, message: Msg) -> None:
        """One CONSUMER span per delivery, child of the publisher's span from the headers."""
        deliveries = message.metadata.num_delivered or 1
        if deliveries > 1:
            CONSUMER_REDELIVERIES.labels(self.durable).inc()
        clear_context()
        with tracer.start_as_current_span(
            f"process {message.subject}",
            context=context_from_headers(message.headers),
            kind=trace.SpanKind.CONSUMER,
            attributes=message_attributes(
                "process",
                message.subject,
                {
                    "messaging.consumer.group.name": self.durable,
                    "messaging.message.delivery_count": deliveries,
                },
            ),
        ) as span:
            started = time.perf_counter()
            event_type, outcome = await self._process(message, deliveries, span)
            elapsed = time.perf_counter() - started
            EVENT_HANDLING.labels(self.durable, event_type, outcome).observe(elapsed)

    async def _process(self, message: Msg, deliveries: int, span: trace.Span) -> tuple[str, str]:
        """Handle, then ack, retry later or dead-letter; returns (event type, outcome)."""
        try:
            envelope = decode_envelope(message.data, upcasting=self._upcasting)
        except Exception as exc:  # undecodable: retrying cannot help
            log.exception("undecodable event on %s", message.subject)
            span.record_exception(exc)
            span.set_status(trace.StatusCode.ERROR, "undecodable")
            await self._dead_letter(message, deliveries, "undecodable", "undecodable")
            return "undecodable", "dead_letter"
        span.set_attribute("messaging.message.id", envelope.id)
        bind_context(tenant_id=envelope.tenant_id, event_id=envelope.id)
        if deliveries > self._max_deliver:  # the last one's process died in the handler
            log.error("event %s outlived its handler's deliveries", envelope.id)
            await self._dead_letter(
                message, deliveries, "its handler's process died", "process_died"
            )
            return envelope.type, "dead_letter"
        beating = asyncio.create_task(self._beat(message)) if self._heartbeat else None
        try:
            await self._handler(envelope)
        except Exception as exc:
            delay = self._retry_delay(exc, deliveries, envelope)
            span.record_exception(exc)
            span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
            if deliveries >= self._max_deliver:
                reason = f"handler failed: {type(exc).__name__}: {exc}"[:200]
                await self._dead_letter(message, deliveries, reason, type(exc).__name__)
                return envelope.type, "dead_letter"
            # The server redelivers after the delay: nothing here waits for it (ADR 0377).
            await message.nak(delay=delay)
            return envelope.type, "retry"
        finally:
            if beating is not None:
                beating.cancel()
        await message.ack()
        return envelope.type, "ok"

    def _retry_delay(self, exc: Exception, deliveries: int, envelope: EventEnvelope) -> float:
        """The handler's own wait for a ``RetryLater``; else a short backoff (2-30 s)."""
        if isinstance(exc, RetryLater):
            log.info("event %s retried in %ss: %s", envelope.id, exc.delay, exc)
            return exc.delay
        log.exception("handler failed (delivery %s) for event %s", deliveries, envelope.id)
        return min(2.0**deliveries, 30.0)

    async def _keep(self, waiting: deque[Msg]) -> None:
        """Tell the server every ``ack_wait / 3`` that the fetched messages not yet started
        are in hand: their ``ack_wait`` runs from the fetch, and behind slow handlers they
        would be delivered again while waiting their turn, spending deliveries with no try
        made (ADR 0367). A process that dies stops this, and they are redelivered."""
        while True:
            await asyncio.sleep(self._ack_wait / 3)
            for message in list(waiting):
                try:
                    await message.in_progress()
                except Exception:  # connection blip: the next turn (or redelivery) covers it
                    log.warning("in-progress for a waiting message failed", exc_info=True)
                    break

    async def _beat(self, message: Msg) -> None:
        while True:
            await asyncio.sleep(self._ack_wait / 3)
            try:
                await message.in_progress()
            except Exception:  # connection blip: the next beat (or redelivery) covers it
                log.warning("in-progress heartbeat failed for %s", message.subject, exc_info=True)

    async def _dead_letter(self, message: Msg, deliveries: int, reason: str, cause: str) -> None:
        await dead_letter(self._js, self.durable, message, deliveries, reason, cause)


def _organization_of(message: Msg) -> str:
    """The organization an event is of: its publisher's tenant header, else its envelope's
    ("" when neither can be read: a lane of its own)."""
    tenant = (message.headers or {}).get(TENANT_HEADER)
    if tenant:
        return tenant
    try:
        return decode_envelope(message.data, upcasting=False).tenant_id
    except Exception:
        return ""


async def dead_letter(
    js: JetStreamContext,
    durable: str,
    message: Msg,
    deliveries: int,
    reason: str,
    cause: str,
    *,
    letter_id: str = "",
) -> None:
    """Set ``message`` aside for an operator on ``bijmantra.deadletter.<durable>`` of its
    stream, and term it. ``reason`` is the letter's words, ``cause`` the metric's bounded
    reason (a label); ``letter_id`` names a message with no event id (a device batch)."""
    headers = dict(message.headers or {})
    msg_id = headers.pop("Nats-Msg-Id", "")
    event_id = headers.get("Bijmantra-Event-Id", letter_id or msg_id)
    # A fresh Nats-Msg-Id: reusing the event's would be dropped as a duplicate. A replay
    # that fails again is a new dead letter, not a duplicate of the one it replayed.
    replayed = headers.get("Bijmantra-Replay-Of")
    dedupe = f"deadletter:{durable}:{event_id}" + (f":{msg_id}" if replayed else "")
    headers |= {
        "Nats-Msg-Id": dedupe,
        "Bijmantra-Event-Id": event_id,
        "Bijmantra-Original-Subject": headers.get("Bijmantra-Original-Subject", message.subject),
        "Bijmantra-Dead-Letter-Reason": reason,
        "Bijmantra-Deliveries": str(deliveries),
    }
    await js.publish(f"{DEAD_LETTER_PREFIX}.{durable}", message.data, headers=headers)
    await message.term()
    CONSUMER_DEAD_LETTERED.labels(durable, cause).inc()


class JetStreamSubscriptions:
    """``EventSubscriptions`` on one JetStream context: each consumer a ``DurableConsumer``."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    def consumer(self, spec: ConsumerSpec) -> DurableConsumer:
        return DurableConsumer(self._js, spec)
