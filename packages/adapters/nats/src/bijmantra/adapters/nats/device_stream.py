"""The device edge's telemetry streams: what devices publish is kept on the edge until
domain-api has stored it (ADR 0371), in a stream of each organization's own (ADR 0386).

A batch a device publishes with QoS 1 is acknowledged by the edge when the edge has it; a
plain subscription lost it whenever domain-api was away, restarting or behind. Each
organization's device topics (``bijmantra.t.<organization>.*``) go to its own stream,
``DEVICE_TELEMETRY_<organization>``, made before the callout lets its first device in
(``OrganizationStreams``); domain-api consumes each through a durable pull consumer that
acknowledges a batch only after its transaction committed. ``DEVICE_TELEMETRY`` keeps the
dead letters and their replays. An organization's stream is reclaimed, freeing its
reserved share, once it holds nothing and no device of the organization can connect
(``reclaim_unused_streams``): its devices retired, or the organization erased.

Bounds, each a setting of domain-api applied at every start and to every stream:

* ``max_bytes_per_organization`` with ``discard: new``: when an organization's stream is
  full its new batches are refused; no other organization's stream is touched, and no batch
  stored earlier is deleted to make room. The server enforces it, with domain-api away;
* ``max_msgs_per_subject`` per device (a subject is one device's topic): past it the device's
  own oldest waiting batch goes, so a loud device crowds out only itself;
* ``max_age``: a batch nobody stored within it goes;
* ``max_msg_size``: a batch's bound (``MAX_PAYLOAD``) plus room for headers;
* ``max_bytes``: the shared stream of dead letters and replays.

Work-queue retention: a batch leaves its stream when it is acknowledged, so the bounds count
only batches not yet stored.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bijmantra.adapters.nats.devices import MAX_PAYLOAD
from bijmantra.adapters.nats.stream import DEAD_LETTER_PREFIX, REPLAY_PREFIX
from bijmantra.kernel import Unavailable
from bijmantra.observability import get_logger

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamState,
)
from nats.js.errors import NotFoundError

log = get_logger(__name__)

DEVICE_STREAM = "DEVICE_TELEMETRY"
ORGANIZATION_STREAM_PREFIX = f"{DEVICE_STREAM}_"
DEVICE_DURABLE = "device-telemetry"
DEVICE_DEAD_LETTERS = f"{DEAD_LETTER_PREFIX}.{DEVICE_DURABLE}"
DEVICE_REPLAY = f"{REPLAY_PREFIX}.{DEVICE_DURABLE}"
# Headers a batch gains on its way (MQTT's own, a dead letter's reasons) beside its body.
HEADER_ROOM = 4096
# Seconds between sweeps for streams of organizations that no longer have devices (ADR 0386)
RECLAIM_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class DeviceStreamBounds:
    """What the edge keeps of batches not yet stored. Defaults (the domain-api chart's too):
    64 MiB per organization (16 of the largest batches, some 30,000 of 2 KB: 100 devices'
    batch a minute for 5 hours), a device's 500 newest batches, three days (a long
    weekend's outage), and 512 MiB of dead letters. JetStream reserves each stream's bytes
    on the edge's volume when it makes it: the volume holds ``max_bytes`` plus one share per
    organization with devices, about 96 on the default 10 GiB (ADR 0386)."""

    max_bytes: int = 512 * 1024**2
    max_per_device: int = 500
    max_age_seconds: int = 3 * 24 * 3600
    max_bytes_per_organization: int = 64 * 1024**2

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_bytes_per_organization"):
            if getattr(self, name) < MAX_PAYLOAD + HEADER_ROOM:
                raise ValueError(f"a device stream must hold one batch: {name} too small")
        if self.max_per_device < 1 or self.max_age_seconds < 1:
            raise ValueError("the device stream keeps at least one batch per device, 1 s")


def organization_stream(tenant: str) -> str:
    """The stream of one organization's device topics (an id: letters, digits, hyphens)."""
    return f"{ORGANIZATION_STREAM_PREFIX}{tenant}"


def organization_subjects(tenant: str) -> str:
    return f"bijmantra.t.{tenant}.*"


def device_stream_config(bounds: DeviceStreamBounds) -> StreamConfig:
    return _config(DEVICE_STREAM, [DEVICE_DEAD_LETTERS, DEVICE_REPLAY], bounds.max_bytes, bounds)


def organization_stream_config(tenant: str, bounds: DeviceStreamBounds) -> StreamConfig:
    return _config(
        organization_stream(tenant),
        [organization_subjects(tenant)],
        bounds.max_bytes_per_organization,
        bounds,
    )


def _config(name: str, subjects: list[str], size: int, bounds: DeviceStreamBounds) -> StreamConfig:
    return StreamConfig(
        name=name,
        subjects=subjects,
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        discard=DiscardPolicy.NEW,
        max_bytes=size,
        max_msgs_per_subject=bounds.max_per_device,
        max_age=bounds.max_age_seconds,
        max_msg_size=MAX_PAYLOAD + HEADER_ROOM,
        num_replicas=1,
        # seconds: a replayed dead letter sent twice is stored once (at most ``max_age``)
        duplicate_window=min(120, bounds.max_age_seconds),
    )


async def ensure_device_stream(js: JetStreamContext, bounds: DeviceStreamBounds) -> None:
    """Create the shared stream, or update it and every organization's stream to ``bounds``
    (safe from every replica, every start)."""
    await _ensure(js, device_stream_config(bounds))
    for tenant in await organizations_with_streams(js):
        await _ensure(js, organization_stream_config(tenant, bounds))


async def ensure_organization_stream(
    js: JetStreamContext, tenant: str, bounds: DeviceStreamBounds
) -> None:
    await _ensure(js, organization_stream_config(tenant, bounds))


async def _ensure(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.stream_info(str(config.name))
    except NotFoundError:
        await js.add_stream(config)
    else:
        await js.update_stream(config)


async def organizations_with_streams(js: JetStreamContext) -> list[str]:
    """The organizations whose stream the edge has."""
    return [tenant for tenant, _ in await _organization_streams(js)]


async def _organization_streams(js: JetStreamContext) -> list[tuple[str, int]]:
    """Each organization stream's tenant and the batches it holds."""
    found: list[tuple[str, int]] = []
    offset = 0
    while True:
        page = await js.streams_info(offset)
        found += [
            (info.config.name.removeprefix(ORGANIZATION_STREAM_PREFIX), info.state.messages)
            for info in page
            if info.config.name and info.config.name.startswith(ORGANIZATION_STREAM_PREFIX)
        ]
        offset += len(page)
        if not page:
            return found


class OrganizationStreams:
    """Each organization's stream, made before its first device is let in (the callout's
    ``admit``): a device may publish only once its batches have somewhere to wait. Made
    again at the next connect when it was reclaimed (``reclaim_unused_streams``, by any
    replica); ``made`` is told of each making (the bridge follows it). A device
    of an organization whose stream has no room for another of the largest batches is
    refused at connect: MQTT's listener acknowledges a publish its stream refused (ADR
    0371), so a connected device would not know; a refused one keeps its readings."""

    def __init__(
        self,
        js: JetStreamContext,
        bounds: DeviceStreamBounds,
        made: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._js, self._bounds, self._made = js, bounds, made
        self._lock = asyncio.Lock()

    async def admit(self, tenant: str) -> None:
        try:
            state = await self._state(tenant)
        except nats.errors.Error as error:  # the volume has no room for another share
            log.error("no device stream for an organization", tenant=tenant, error=str(error))
            raise Unavailable(
                "The device edge has no room for this organization's telemetry buffer"
            ) from error
        if state.bytes + MAX_PAYLOAD + HEADER_ROOM > self._bounds.max_bytes_per_organization:
            raise Unavailable(
                "This organization's telemetry buffer on the device edge is full until the "
                "platform has stored what it holds; connect again later"
            )

    async def _state(self, tenant: str) -> StreamState:
        """The organization's stream as it stands, made first when there is none (its first
        device, or its first since the stream was reclaimed)."""
        name = organization_stream(tenant)
        try:
            return (await self._js.stream_info(name)).state
        except NotFoundError:
            pass
        async with self._lock:
            try:
                return (await self._js.stream_info(name)).state
            except NotFoundError:
                await ensure_organization_stream(self._js, tenant, self._bounds)
        if self._made is not None:
            await self._made(tenant)
        return (await self._js.stream_info(name)).state


async def reclaim_if_empty(js: JetStreamContext, tenant: str) -> bool:
    """Delete the organization's stream, freeing its share of the volume, if it holds no
    batch; True when there is no stream any more."""
    try:
        if (await js.stream_info(organization_stream(tenant))).state.messages:
            return False
        await js.delete_stream(organization_stream(tenant))
    except NotFoundError:
        pass
    return True


# tenant, and the deletion to run while no device of the tenant can become able to connect
Release = Callable[[str, Callable[[], Awaitable[bool]]], Awaitable[bool]]


async def reclaim_unused_streams(js: JetStreamContext, release: Release) -> list[str]:
    """Reclaim the stream of each organization with nothing waiting and no device able to
    connect (none claimed or commissioned: its devices retired, or the organization erased).
    ``release`` asks the device registry and, while it holds the organization's devices and
    registrations still (a claim waits), deletes the stream if it is still empty: a device
    claimed meanwhile connects after the deletion, and ``admit`` makes the stream again."""
    reclaimed: list[str] = []
    for tenant, waiting in await _organization_streams(js):
        if waiting == 0 and await release(tenant, functools.partial(reclaim_if_empty, js, tenant)):
            reclaimed.append(tenant)
    if reclaimed:
        log.info("device streams reclaimed", organizations=len(reclaimed))
    return reclaimed


async def erase_organization_stream(url: str, tenant: str) -> int:
    """Delete an erased organization's stream on the edge at ``url`` with the batches still
    waiting in it, and say how many there were (0: no stream). They belong to nobody now,
    and the sweep reclaims only empty streams: they would sit there until their age ran out.
    ``Unavailable`` when the edge does not answer (one attempt: an operator's command)."""
    try:
        nc = await nats.connect(
            url,
            name="bijmantra-tenant",
            allow_reconnect=False,
            max_reconnect_attempts=1,
            error_cb=_reported_by_the_caller,
        )
    except (OSError, nats.errors.Error) as error:
        raise Unavailable(f"The device edge did not answer: {error}") from error
    try:
        js, name = nc.jetstream(), organization_stream(tenant)
        try:
            waiting = (await js.stream_info(name)).state.messages
            await js.delete_stream(name)
        except NotFoundError:
            return 0
        return int(waiting)
    finally:
        await nc.close()


async def _reported_by_the_caller(error: Exception) -> None:
    """The connection's errors: the one that matters is raised as ``Unavailable``."""
