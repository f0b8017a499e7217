"""The device edge's telemetry stream: what devices publish is kept on the edge until
domain-api has stored it (ADR 0371).

A batch a device publishes with QoS 1 is acknowledged by the edge when the edge has it; a
plain subscription lost it whenever domain-api was away, restarting or behind. The stream
captures every device topic in the ``DEVICES`` account, and domain-api consumes it through
one durable pull consumer that acknowledges a batch only after its transaction committed.

Bounds, each a setting of domain-api applied at every start (``ensure_device_stream``):

* ``max_bytes`` in all, with ``discard: new``: when the whole stream is full, new batches are
  refused rather than stored batches of other devices deleted to make room;
* ``max_msgs_per_subject`` per device (a subject is one device's topic): past it the device's
  own oldest waiting batch goes, so a loud device crowds out only itself;
* ``max_age``: a batch nobody stored within it goes;
* ``max_msg_size``: a batch's bound (``MAX_PAYLOAD``) plus room for headers.

Work-queue retention: a batch leaves the stream when it is acknowledged, so the bounds count
only batches not yet stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from bijmantra.adapters.nats.devices import DEVICE_SUBJECTS, MAX_PAYLOAD
from bijmantra.adapters.nats.stream import DEAD_LETTER_PREFIX, REPLAY_PREFIX

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

DEVICE_STREAM = "DEVICE_TELEMETRY"
DEVICE_DURABLE = "device-telemetry"
DEVICE_DEAD_LETTERS = f"{DEAD_LETTER_PREFIX}.{DEVICE_DURABLE}"
DEVICE_REPLAY = f"{REPLAY_PREFIX}.{DEVICE_DURABLE}"
# Headers a batch gains on its way (MQTT's own, a dead letter's reasons) beside its body.
HEADER_ROOM = 4096


@dataclass(frozen=True, slots=True)
class DeviceStreamBounds:
    """What the edge keeps of batches not yet stored. Defaults (the domain-api chart's too):
    4 GiB in all (the device-edge chart's 10 GiB volume holds it beside MQTT's own state), a
    device's 500 newest batches (at most 2 GiB of the largest batches: half the stream), and
    three days (a long weekend's outage)."""

    max_bytes: int = 4 * 1024**3
    max_per_device: int = 500
    max_age_seconds: int = 3 * 24 * 3600

    def __post_init__(self) -> None:
        if self.max_bytes < MAX_PAYLOAD + HEADER_ROOM:
            raise ValueError(f"the device stream must hold one batch: {self.max_bytes} bytes")
        if self.max_per_device < 1 or self.max_age_seconds < 1:
            raise ValueError("the device stream keeps at least one batch per device, 1 s")


def device_stream_config(bounds: DeviceStreamBounds) -> StreamConfig:
    return StreamConfig(
        name=DEVICE_STREAM,
        subjects=[DEVICE_SUBJECTS, DEVICE_DEAD_LETTERS, DEVICE_REPLAY],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        discard=DiscardPolicy.NEW,
        max_bytes=bounds.max_bytes,
        max_msgs_per_subject=bounds.max_per_device,
        max_age=bounds.max_age_seconds,
        max_msg_size=MAX_PAYLOAD + HEADER_ROOM,
        num_replicas=1,
        # seconds: a replayed dead letter sent twice is stored once (at most ``max_age``)
        duplicate_window=min(120, bounds.max_age_seconds),
    )


async def ensure_device_stream(js: JetStreamContext, bounds: DeviceStreamBounds) -> None:
    """Create the stream, or update it to ``bounds`` (safe from every replica, every start)."""
    config = device_stream_config(bounds)
    try:
        await js.stream_info(DEVICE_STREAM)
    except NotFoundError:
        await js.add_stream(config)
    else:
        await js.update_stream(config)
