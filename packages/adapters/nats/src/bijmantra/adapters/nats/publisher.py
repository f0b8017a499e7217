"""Batched asynchronous JetStream publishing with the event id as ``Nats-Msg-Id``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from nats.js import JetStreamContext

from bijmantra.application.events import EventEnvelope, encode_envelope, subject_for


class JetStreamPublisher:
    def __init__(self, js: JetStreamContext, *, ack_timeout: float = 10.0) -> None:
        self._js = js
        self._ack_timeout = ack_timeout

    async def publish_batch(self, envelopes: Sequence[EventEnvelope]) -> list[str]:
        """Send all, then await the acks; return the ids the stream stored (or deduplicated).

        Messages go out in order on one connection, so per-aggregate order is kept.
        """
        futures = []
        for envelope in envelopes:
            headers = {"Nats-Msg-Id": envelope.id}
            if envelope.traceparent:
                headers["traceparent"] = envelope.traceparent
            futures.append(
                await self._js.publish_async(
                    subject_for(envelope.type), encode_envelope(envelope), headers=headers
                )
            )
        results = await asyncio.wait_for(
            asyncio.gather(*futures, return_exceptions=True), self._ack_timeout
        )
        return [e.id for e, r in zip(envelopes, results, strict=True) if not isinstance(r, BaseException)]
