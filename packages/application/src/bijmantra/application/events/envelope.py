"""The wire format of a domain event on NATS.

Versioning rule: ``schema_version`` is per event type; a consumer upcasts older versions
with the functions in ``UPCASTERS`` before handling, so producers can move on first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from bijmantra.domain import DomainEvent

CURRENT_SCHEMA_VERSION = 1
SUBJECT_PREFIX = "bijmantra.events"


class EventEnvelope(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    type: str
    source: str
    tenant_id: str
    subject: str
    time: datetime
    schema_version: int
    data: dict[str, Any]
    actor: str | None = None
    traceparent: str | None = None


def _camel_keys(data: dict[str, Any]) -> dict[str, Any]:
    """germplasm.created v1 (the foundation's snake_case snapshot) -> v2 (the BrAPI document)."""
    special = {"germplasm_pui": "germplasmPUI", "documentation_url": "documentationURL"}

    def camel(key: str) -> str:
        head, *rest = key.split("_")
        return special.get(key, head + "".join(part.title() for part in rest))

    return {camel(k): v for k, v in data.items() if k != "tenant_id"}


# (type, from_version) -> function that returns data at from_version + 1
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("germplasm.created", 1): _camel_keys,
}

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(EventEnvelope)


def subject_for(event_type: str) -> str:
    return f"{SUBJECT_PREFIX}.{event_type}"


def envelope_for(event: DomainEvent, *, source: str, traceparent: str | None = None) -> EventEnvelope:
    return EventEnvelope(
        id=event.id,
        type=event.type,
        source=source,
        tenant_id=str(event.tenant_id),
        subject=event.aggregate_id,
        time=event.occurred_at,
        schema_version=event.schema_version,
        data=event.data,
        actor=event.actor,
        traceparent=traceparent,
    )


def encode_envelope(envelope: EventEnvelope) -> bytes:
    return _encoder.encode(envelope)


def decode_envelope(payload: bytes) -> EventEnvelope:
    """Decode and upcast to the newest schema version this code knows."""
    envelope = _decoder.decode(payload)
    data, version = envelope.data, envelope.schema_version
    while (upcast := UPCASTERS.get((envelope.type, version))) is not None:
        data, version = upcast(data), version + 1
    if version != envelope.schema_version:
        envelope = msgspec.structs.replace(envelope, data=data, schema_version=version)
    return envelope
