"""Batched asynchronous JetStream publishing with the event id as ``Nats-Msg-Id``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from bijmantra.adapters.nats.stream import DEAD_LETTER_PREFIX, message_attributes
from bijmantra.application.events import OutboxRecord, subject_for
from bijmantra.observability import context_from_traceparent, get_tracer, inject_headers
from opentelemetry import trace

from nats.errors import MaxPayloadError
from nats.js import JetStreamContext

TENANT_HEADER = "Bijmantra-Tenant"
EVENT_TYPE_HEADER = "Bijmantra-Event-Type"
tracer = get_tracer(__name__)
log = logging.getLogger(__name__)


def event_headers(record: OutboxRecord, publish_span: trace.Span | None = None) -> dict[str, str]:
    """Headers let subscribers route (tenant, type) and trace without decoding the payload.

    ``traceparent`` names the publish span when there is one (consumers become its
    children), else the request recorded in the outbox row.
    """
    headers = {
        "Nats-Msg-Id": record.id,
        TENANT_HEADER: record.tenant_id,
        EVENT_TYPE_HEADER: record.type,
    }
    if record.traceparent:
        headers["traceparent"] = record.traceparent
    if publish_span is not None and publish_span.get_span_context().is_valid:
        inject_headers(headers, trace.set_span_in_context(publish_span))
    return headers


def _publish_span(record: OutboxRecord) -> trace.Span:
    """A PRODUCER span under the trace of the request that wrote the outbox row."""
    subject = subject_for(record.type)
    return tracer.start_span(
        f"send {subject}",
        context=context_from_traceparent(record.traceparent),
        kind=trace.SpanKind.PRODUCER,
        attributes=message_attributes("send", subject, {"messaging.message.id": record.id}),
    )


class JetStreamPublisher:
    def __init__(self, js: JetStreamContext, *, ack_timeout: float = 10.0) -> None:
        self._js = js
        self._ack_timeout = ack_timeout

    async def publish_batch(self, records: Sequence[OutboxRecord]) -> list[str]:
        """Send all, then await the acks; return the ids the stream stored (or deduplicated).

        Messages go out in order on one connection and the server stores them in arrival
        order, so per-aggregate order holds even when some acks are lost.
        """
        spans = [_publish_span(r) for r in records]
        try:
            results = await self._send(records, spans)
        except BaseException as exc:  # connection lost mid-batch: nothing is marked published
            for span in spans:
                span.record_exception(exc)
                span.end()
            raise
        acked = []
        for record, result, span in zip(records, results, spans, strict=True):
            if isinstance(result, BaseException):
                span.record_exception(result)
                span.set_status(trace.StatusCode.ERROR, "not acknowledged by the stream")
            else:
                acked.append(record.id)
            span.end()
        return acked

    async def _publish(self, record: OutboxRecord, span: trace.Span) -> asyncio.Future[Any]:
        """The event's ack; for an event larger than the server takes, a dead letter's.

        Such an event can never be sent, and it is the oldest of its outbox partition:
        retried, it failed every batch that claimed it, holding back every organization's
        events (ADR 0335). The outbox refuses such rows now; one written before that, or
        under a server with a smaller ``max_payload``, is set aside, named by its id."""
        subject = subject_for(record.type)
        try:
            return await self._js.publish_async(
                subject, record.payload, headers=event_headers(record, span)
            )
        except MaxPayloadError:
            log.error("event %s (%s bytes) is too large to publish", record.id, len(record.payload))
            span.set_status(trace.StatusCode.ERROR, "too large: dead-lettered")
            return await self._js.publish_async(
                f"{DEAD_LETTER_PREFIX}.relay",
                b"",
                headers={
                    "Nats-Msg-Id": f"deadletter:relay:{record.id}",
                    "Bijmantra-Event-Id": record.id,
                    "Bijmantra-Original-Subject": subject,
                    "Bijmantra-Dead-Letter-Reason": "larger than the server's max_payload",
                },
            )

    async def _send(self, records: Sequence[OutboxRecord], spans: list[trace.Span]) -> list[object]:
        """Per record: the stream's ack (or ``None``), or the exception that stands for it."""
        futures = [await self._publish(r, span) for r, span in zip(records, spans, strict=True)]
        acks = asyncio.gather(*futures, return_exceptions=True)
        try:
            return list(await asyncio.wait_for(acks, self._ack_timeout))
        except TimeoutError:
            for future in futures:
                future.cancel()
            return [
                f.exception() if f.done() and not f.cancelled() else TimeoutError("no ack in time")
                for f in futures
            ]
