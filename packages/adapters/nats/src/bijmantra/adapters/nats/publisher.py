"""Batched asynchronous JetStream publishing with the event id as ``Nats-Msg-Id``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bijmantra.application.events import OutboxRecord, subject_for

from nats.js import JetStreamContext

TENANT_HEADER = "Bijmantra-Tenant"
EVENT_TYPE_HEADER = "Bijmantra-Event-Type"


def event_headers(record: OutboxRecord) -> dict[str, str]:
    """Headers let subscribers route (tenant, type) and trace without decoding the payload."""
    headers = {
        "Nats-Msg-Id": record.id,
        TENANT_HEADER: record.tenant_id,
        EVENT_TYPE_HEADER: record.type,
    }
    if record.traceparent:
        headers["traceparent"] = record.traceparent
    return headers


class JetStreamPublisher:
    def __init__(self, js: JetStreamContext, *, ack_timeout: float = 10.0) -> None:
        self._js = js
        self._ack_timeout = ack_timeout

    async def publish_batch(self, records: Sequence[OutboxRecord]) -> list[str]:
        """Send all, then await the acks; return the ids the stream stored (or deduplicated).

        Messages go out in order on one connection and the server stores them in arrival
        order, so per-aggregate order holds even when some acks are lost.
        """
        futures = [
            await self._js.publish_async(subject_for(r.type), r.payload, headers=event_headers(r))
            for r in records
        ]
        try:
            results = await asyncio.wait_for(
                asyncio.gather(*futures, return_exceptions=True), self._ack_timeout
            )
        except TimeoutError:
            for future in futures:
                future.cancel()
            return [
                r.id
                for r, f in zip(records, futures, strict=True)
                if f.done() and not f.cancelled() and f.exception() is None
            ]
        return [
            r.id
            for r, result in zip(records, results, strict=True)
            if not isinstance(result, BaseException)
        ]
