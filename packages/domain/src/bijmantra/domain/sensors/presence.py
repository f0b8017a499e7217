"""Whether a device is reporting: one offline transition per silence, one online on return.

The analytics-worker decides (``seen``, ``check``): a silence of ``offline_after`` raises
``sensors.device.offline`` once and the next reading raises ``sensors.device.online`` once.
Time comes from the readings (``seen``) and from the kernel ``Clock`` (``check``); a reading
older than the last one seen changes nothing, so a redelivered batch is harmless. The device
document's status is the last change the worker reported (``device_status``), so the
document and the live feed never disagree (ADR 0306).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

# How long a device may stay silent before it is offline (the worker's
# ``DEVICE_OFFLINE_AFTER_SECONDS`` by default).
OFFLINE_AFTER = timedelta(minutes=15)


class PresenceChange(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


def device_status(last_seen_at: datetime | None, reported: PresenceChange | None) -> PresenceChange:
    """The status a device document shows: the last change reported for it; a device never
    heard from is offline, one heard from and never reported offline is online."""
    if last_seen_at is None:
        return PresenceChange.OFFLINE
    return reported or PresenceChange.ONLINE


@dataclass(frozen=True, slots=True)
class Presence:
    """What the offline check remembers about one device."""

    last_seen_at: datetime | None = None
    offline: bool = False


def seen(presence: Presence, at: datetime) -> tuple[Presence, PresenceChange | None]:
    """A reading taken at ``at``; online again when an offline was reported before it."""
    if presence.last_seen_at is not None and at <= presence.last_seen_at:
        return presence, None
    change = PresenceChange.ONLINE if presence.offline else None
    return Presence(last_seen_at=at, offline=False), change


def check(
    presence: Presence, now: datetime, expected: timedelta = OFFLINE_AFTER
) -> tuple[Presence, PresenceChange | None]:
    """Offline once, when nothing arrived within ``expected`` of the last reading."""
    due = presence_due(presence, expected)
    if due is None or now < due:
        return presence, None
    return replace(presence, offline=True), PresenceChange.OFFLINE


def presence_due(presence: Presence, expected: timedelta = OFFLINE_AFTER) -> datetime | None:
    """When the device turns offline if nothing arrives (None: already reported or never seen)."""
    if presence.last_seen_at is None or presence.offline:
        return None
    return presence.last_seen_at + expected
