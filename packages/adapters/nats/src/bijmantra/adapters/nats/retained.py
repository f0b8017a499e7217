"""The bound on what the device edge keeps of devices' retained MQTT publishes (ADR 0361).

The edge's NATS server keeps the last PUBLISH with the retain flag of every topic in the
``DEVICES`` account's ``$MQTT_rmsgs`` stream, up to ``max_payload`` (a batch's 4 MiB) each and
until replaced. Nothing reads them: a device may subscribe to nothing, and the platform reads
telemetry from the ``DEVICE_TELEMETRY`` stream (ADR 0371), which takes each publish as it
arrives and is never sent retained messages. The
stream's own ``max_msg_size`` is the one knob that bounds them: a retained publish larger than
it is not stored, while the server still acknowledges it (PUBACK), delivers it to the
telemetry subscriber and keeps the device connected; new devices still connect (measured
against nats-server 2.15.1, ``adapters/nats/tests/test_retained_bound.py``).

domain-api sets it when it connects to the edge, creating the stream with the server's own
settings if no device has connected yet (the server then finds it and uses it), and purges
what an earlier, larger bound let in. It also empties the stream as it starts and every
``PURGE_SECONDS``: a revoked device's last retained publish would otherwise stay for good, so
the stream holds at most the enrolled devices' and an hour's revoked ones'.
"""

from __future__ import annotations

import asyncio
import contextlib

from bijmantra.observability import get_logger

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

log = get_logger(__name__)
RETAINED_STREAM = "$MQTT_rmsgs"
RETAINED_SUBJECTS = "$MQTT.rmsgs.>"
# Bytes of one retained publish kept, its MQTT headers included (about 150 bytes): a status
# message of a few readings fits, a bulk batch does not. 1,000 devices of an organization
# (the default limit) hold at most 4 MiB of them.
MAX_RETAINED = 4096
PURGE_SECONDS = 3600.0


def _server_config(max_size: int) -> StreamConfig:
    """What nats-server creates for ``$MQTT_rmsgs`` on an account's first MQTT connection
    (one message per topic, file storage), with the bound."""
    return StreamConfig(
        name=RETAINED_STREAM,
        subjects=[RETAINED_SUBJECTS],
        retention=RetentionPolicy.LIMITS,
        max_msgs_per_subject=1,
        storage=StorageType.FILE,
        num_replicas=1,
        max_msg_size=max_size,
    )


async def bound_retained(js: JetStreamContext, max_size: int = MAX_RETAINED) -> bool:
    """Keep each retained publish on the edge to ``max_size`` bytes; True when this changed
    the stream (created it, or lowered or raised its bound and purged what it held)."""
    if max_size < 1:
        raise ValueError(f"a retained publish's bound is >= 1 byte, not {max_size}")
    for _ in range(2):  # the server may create the stream between our read and our create
        try:
            info = await js.stream_info(RETAINED_STREAM)
        except NotFoundError:
            try:
                await js.add_stream(_server_config(max_size))
            except BadRequestError:
                continue  # created meanwhile, with the server's settings: bound it below
            return True
        if info.config.max_msg_size == max_size:
            return False
        info.config.max_msg_size = max_size
        await js.update_stream(info.config)
        # What a larger bound (or none) let in; nothing reads retained publishes.
        await js.purge_stream(RETAINED_STREAM)
        return True
    raise RuntimeError(f"{RETAINED_STREAM} neither found nor created")


async def forget_retained(js: JetStreamContext) -> None:
    """Empty the stream (nothing reads it); none yet (no device connected): nothing to do."""
    with contextlib.suppress(NotFoundError):
        await js.purge_stream(RETAINED_STREAM)


async def forget_retained_every(
    js: JetStreamContext, stop: asyncio.Event, interval: float = PURGE_SECONDS
) -> None:
    """``forget_retained`` now, then every ``interval`` seconds until ``stop``; a failed purge
    (the edge restarting) is logged and tried at the next turn. Purging at the start too: a
    domain-api restarted within every hour (killed, rolled out) would otherwise never purge
    (ADR 0367)."""
    while not stop.is_set():
        try:
            await forget_retained(js)
        except Exception:  # the edge away for a moment must not end the loop
            log.warning("retained publishes not purged", exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
