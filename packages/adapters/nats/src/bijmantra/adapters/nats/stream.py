"""The domain-event stream, declared once and applied idempotently at start-up."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

EVENTS_STREAM = "BIJMANTRA_EVENTS"
EVENTS_SUBJECTS = ["bijmantra.events.>"]
DEAD_LETTER_PREFIX = "bijmantra.deadletter"
# ``bijmantra.replay.<durable>``: a dead letter sent back to the one consumer that failed it
# (``bijmantra-deadletters replay``); every durable also follows its own (ADR 0370).
REPLAY_PREFIX = "bijmantra.replay"

STREAM_CONFIG = StreamConfig(
    name=EVENTS_STREAM,
    subjects=[*EVENTS_SUBJECTS, f"{DEAD_LETTER_PREFIX}.>", f"{REPLAY_PREFIX}.>"],
    storage=StorageType.FILE,
    retention=RetentionPolicy.LIMITS,
    discard=DiscardPolicy.OLD,
    max_age=30 * 24 * 3600,  # seconds: a month of replay for WebSocket resume and rebuilds
    max_bytes=8 * 1024**3,
    duplicate_window=300,  # seconds in which a republished Nats-Msg-Id is dropped
    # Every live-feed subscription was a consumer of its own (ADR 0331), beside the services'
    # durables; nats-server 2.15 caps a stream that names no limit at 1,000 consumers, which
    # the sockets of a few dozen members reached, and past the cap no socket subscribed and no
    # service created a durable. Named, so the bound is ours and well above 1,000 (ADR 0352).
    # Now a gateway worker holds one, and a resume one while it replays (ADR 0362).
    max_consumers=10_000,
)

# Durable consumers no service runs any more, removed at start-up so that nothing keeps their
# state on the server or reports their lag. "sensors-alerts": domain-api's alert evaluation,
# now the analytics-worker's "analytics-sensors" (ADR 0290).
RETIRED_CONSUMERS = ("sensors-alerts",)


def message_attributes(
    operation: str, subject: str, extra: Mapping[str, str | int]
) -> dict[str, str | int]:
    """OpenTelemetry's messaging attributes for one ``operation`` ("send", "process") on a
    message of ``subject``, plus what that operation knows (``extra``)."""
    return {
        "messaging.system": "nats",
        "messaging.operation.type": operation,
        "messaging.destination.name": subject,
        **extra,
    }


async def connect(url: str, *, name: str) -> Client:
    """Connect with unbounded reconnects: a NATS outage must pause, not kill, a service."""
    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
    )


async def ensure_stream(js: JetStreamContext) -> int:
    """Create the stream, or update it to the declared config (safe from every replica); its
    ``max_bytes``, which it returns, is kept where an operator raised it on the server
    (``nats stream edit``): the organizations' event budget follows it (ADR 0340)."""
    declared = STREAM_CONFIG.max_bytes or 0
    try:
        info = await js.stream_info(EVENTS_STREAM)
    except NotFoundError:
        await js.add_stream(STREAM_CONFIG)
        max_bytes = declared
    else:
        max_bytes = max(declared, info.config.max_bytes or 0)
        await js.update_stream(dataclasses.replace(STREAM_CONFIG, max_bytes=max_bytes))
    for durable in RETIRED_CONSUMERS:
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(EVENTS_STREAM, durable)
    return max_bytes
