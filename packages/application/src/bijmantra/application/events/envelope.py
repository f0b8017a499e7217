"""The wire format of a domain event on NATS, and how old versions are read.

Versioning rule (ADR 0005): ``schema_version`` is per event type and starts at 1. A change
that removes, renames or retypes a field of ``data`` bumps it, and the same change
registers ``UPCASTERS[(type, old_version)]``, a pure function from data at ``old_version``
to data at ``old_version + 1``. ``decode_envelope`` applies the chain, so a consumer only
ever handles the newest version it knows, while the stream (and audit log) keep the bytes
that were published. Adding an optional field needs no bump (msgspec ignores unknown
fields; readers default missing ones).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from bijmantra.domain import DomainEvent
from bijmantra.kernel import FieldError, ValidationFailed

CURRENT_SCHEMA_VERSION = 1
SUBJECT_PREFIX = "bijmantra.events"
BULK_SUFFIX = ".bulk"  # ``<type>.bulk``: many documents' events in one (events.bulk)


class EventEnvelope(msgspec.Struct, kw_only=True, frozen=True):
    """id (UUIDv7), ``<context>.<event>`` type, source service, tenant, aggregate (subject),
    time, schema version, data, actor, and the W3C ``traceparent`` of the causing request."""

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


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """An event as an outbox row holds it: the encoded envelope plus what routing needs.

    The relay publishes ``payload`` byte for byte; it never decodes or re-encodes it.
    """

    id: str
    type: str
    tenant_id: str
    payload: bytes
    traceparent: str | None = None

    @classmethod
    def of(cls, envelope: EventEnvelope) -> OutboxRecord:
        return cls(
            envelope.id,
            envelope.type,
            envelope.tenant_id,
            encode_envelope(envelope),
            envelope.traceparent,
        )


# (type, from_version) -> function that returns data at from_version + 1
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("germplasm.created", 1): _camel_keys,
}

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(EventEnvelope)


def subject_for(event_type: str) -> str:
    return f"{SUBJECT_PREFIX}.{event_type}"


def envelope_for(
    event: DomainEvent, *, source: str, traceparent: str | None = None
) -> EventEnvelope:
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


# An event travels as one NATS message, and NATS refuses a message over ``max_payload``
# (1 MiB, the server's default and ours), headers included: ids and trace, a few hundred
# bytes, for which 16 KiB is ample room.
MAX_EVENT_BYTES = 1024 * 1024 - 16 * 1024


def publishable_envelopes(envelopes: Sequence[EventEnvelope]) -> list[bytes]:
    """The envelopes encoded, or ``ValidationFailed`` (400) if one could not be published.

    Checked where the outbox row is written, inside the write's transaction, so the write
    is refused and nothing is stored: an event that cannot be sent would otherwise stay
    first in its outbox partition, and the relay, retrying it, would hold back every
    organization's events behind it (ADR 0335). A bulk event's parts are already cut
    to ``MAX_BULK_BYTES``; only one large document can make an event this large."""
    payloads = [_encoder.encode(e) for e in envelopes]
    largest = max(map(len, payloads), default=0)
    if largest > MAX_EVENT_BYTES:
        raise ValidationFailed(
            f"A document of this write is too large to store ({largest} bytes as an event)",
            [FieldError("body", f"a document's event is at most {MAX_EVENT_BYTES} bytes")],
        )
    return payloads


def upcast(
    envelope: EventEnvelope, upcasters: dict[tuple[str, int], Upcaster] | None = None
) -> EventEnvelope:
    """Bring ``data`` to the newest version registered for the event type (a bulk event's
    items, each, by the upcasters of its item type)."""
    table = UPCASTERS if upcasters is None else upcasters
    data, version = envelope.data, envelope.schema_version
    event_type = envelope.type.removesuffix(BULK_SUFFIX)
    bulk = event_type != envelope.type
    while (step := table.get((event_type, version))) is not None:
        data = {**data, "items": [step(item) for item in data["items"]]} if bulk else step(data)
        version += 1
    if version == envelope.schema_version:
        return envelope
    return msgspec.structs.replace(envelope, data=data, schema_version=version)


def decode_envelope(payload: bytes, *, upcasting: bool = True) -> EventEnvelope:
    """Decode and (unless a consumer keeps events as published) upcast to the newest version."""
    envelope = _decoder.decode(payload)
    return upcast(envelope) if upcasting else envelope
