"""What crosses the sensors boundary: request bodies (msgspec) and response documents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from bijmantra.application.json_input import check_shape, unreadable
from bijmantra.domain.sensors import Device, DeviceProfile
from bijmantra.kernel import FieldError, ValidationFailed


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


def decode(body: bytes, kind: type[Any], what: str) -> Any:
    """A request body as ``kind``, or a 422 naming what is wrong (400 if it is not JSON at
    all); no change is made."""
    check_shape(body)  # nesting depth, before the decoder recurses
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(f"Invalid {what}", [FieldError("body", str(exc))]) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise unreadable(exc, "JSON") from None


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


def device_document(device: Device, now: datetime) -> dict[str, Any]:
    return {
        "deviceId": device.device_id,
        "name": device.name,
        "profileId": device.profile_id,
        "locationDbId": device.placement.location_db_id,
        "studyDbId": device.placement.study_db_id,
        "seedStore": device.placement.seed_store,
        "state": device.state.value,
        "status": "online" if device.online(now) else "offline",
        "createdAt": iso_time(device.created_at),
        "claimExpiresAt": iso_time(device.claim_expires_at),
        "claimedAt": iso_time(device.claimed_at),
        "commissionedAt": iso_time(device.commissioned_at),
        "revokedAt": iso_time(device.revoked_at),
        "lastSeenAt": iso_time(device.last_seen_at),
    }
