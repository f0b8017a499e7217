"""What crosses the sensors boundary: request bodies (msgspec) and response documents.

The ``*Document`` structs declare what the builders below answer, for the published contract
(ADR 0250); a unit test decodes every builder's output strictly into its struct."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

import msgspec
from bijmantra.domain.sensors import Device, DeviceProfile, EnrolmentState, Resolution


class MetricBody(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    unit: str
    minimum: float
    maximum: float


class ProfileBody(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    metrics: list[MetricBody]


class DeviceBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    name: str
    profile_id: str
    location_db_id: str
    study_db_id: str | None = None
    seed_store: str | None = None


class ClaimBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    claim_code: str


class ReadingBody(msgspec.Struct, frozen=True, gc=False):
    """A batch item as decoded; the domain's rules read it as it is (``ReadingLike``)."""

    metric: str
    at: datetime = msgspec.field(name="time")
    value: float


class TelemetryBody(msgspec.Struct):
    readings: list[msgspec.Raw]


class WholeTelemetryBody(msgspec.Struct):
    """A batch whose every item parses: decoded in one pass."""

    readings: list[ReadingBody]


def _camel(name: str) -> str:
    """The wire name of a field: camelCase, except the few that are Python keywords or
    types (``from``, ``to``, ``date``)."""
    special = {"start": "from", "end": "to", "day": "date"}
    head, *rest = name.split("_")
    return special.get(name, head + "".join(part.title() for part in rest))


class _Out(msgspec.Struct, rename=_camel, kw_only=True, forbid_unknown_fields=True):
    pass


class ProfileDocument(_Out):
    profile_id: str
    name: str
    metrics: list[MetricBody]
    created_at: datetime


class DeviceDocument(_Out):
    """``status`` is derived: online when the device was seen recently."""

    device_id: str
    name: str
    profile_id: str
    location_db_id: str
    study_db_id: str | None
    seed_store: str | None
    state: EnrolmentState
    status: Literal["online", "offline"]
    created_at: datetime
    claim_expires_at: datetime | None
    claimed_at: datetime | None
    commissioned_at: datetime | None
    revoked_at: datetime | None
    last_seen_at: datetime | None


class ClaimCodeDocument(DeviceDocument):
    """The device with its one-time claim code, shown only in this answer."""

    claim_code: str


class ClaimedDocument(_Out):
    """What a device gets for its claim code: its own credential, shown once."""

    device_id: str
    profile_id: str
    credential: str


class RejectedReading(_Out):
    index: int
    reason: str


class IngestReport(_Out):
    device_id: str
    accepted: int
    stored: int
    duplicates: int
    rejected: list[RejectedReading]


class HistoryPoint(_Out):
    """A raw reading (``time``, ``value``) or a bucket (``min``/``max``/``mean`` null when
    it is a gap, ``count`` 0)."""

    time: datetime
    value: float | msgspec.UnsetType = msgspec.UNSET
    min: float | msgspec.UnsetType | None = msgspec.UNSET
    max: float | msgspec.UnsetType | None = msgspec.UNSET
    mean: float | msgspec.UnsetType | None = msgspec.UNSET
    count: int | msgspec.UnsetType = msgspec.UNSET


class HistoryDocument(_Out):
    device_id: str
    metric: str
    unit: str
    resolution: Resolution
    start: datetime
    end: datetime
    points: list[HistoryPoint]


class EnvironmentDay(_Out):
    """Gaps (no readings that day) are null."""

    day: date
    t_min: float | None
    t_max: float | None
    t_mean: float | None
    gdd: float | None
    cumulative_gdd: float | None
    rainfall: float | None
    cumulative_rainfall: float | None


class EnvironmentDocument(_Out):
    study_db_id: str
    device_ids: list[str]
    gdd_base: float
    days: list[EnvironmentDay]


def iso_time(value: datetime | None) -> str | None:
    """ISO 8601, or None for a step not taken yet."""
    return None if value is None else value.isoformat()


def profile_document(profile: DeviceProfile) -> dict[str, Any]:
    return {
        "profileId": profile.profile_id,
        "name": profile.name,
        "metrics": [
            {"name": m.name, "unit": m.unit, "minimum": m.minimum, "maximum": m.maximum}
            for m in profile.metrics
        ],
        "createdAt": iso_time(profile.created_at),
    }


def device_document(device: Device) -> dict[str, Any]:
    return {
        "deviceId": device.device_id,
        "name": device.name,
        "profileId": device.profile_id,
        "locationDbId": device.placement.location_db_id,
        "studyDbId": device.placement.study_db_id,
        "seedStore": device.placement.seed_store,
        "state": device.state.value,
        "status": device.status.value,
        "createdAt": iso_time(device.created_at),
        "claimExpiresAt": iso_time(device.claim_expires_at),
        "claimedAt": iso_time(device.claimed_at),
        "commissionedAt": iso_time(device.commissioned_at),
        "revokedAt": iso_time(device.revoked_at),
        "lastSeenAt": iso_time(device.last_seen_at),
    }
