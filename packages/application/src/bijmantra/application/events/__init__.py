"""Event envelope and the outbox relay use case."""

from bijmantra.application.events.bulk import (
    MAX_BULK_BYTES,
    MAX_BULK_ITEMS,
    bulk_data,
    bulk_type,
    event_resources,
    is_bulk,
    item_type,
    matches_type,
    split_bulk,
)
from bijmantra.application.events.envelope import (
    CURRENT_SCHEMA_VERSION,
    UPCASTERS,
    EventEnvelope,
    OutboxRecord,
    Upcaster,
    decode_envelope,
    encode_envelope,
    envelope_for,
    publishable_envelopes,
    subject_for,
    upcast,
)
from bijmantra.application.events.relay import OutboxRelay

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "MAX_BULK_BYTES",
    "MAX_BULK_ITEMS",
    "UPCASTERS",
    "EventEnvelope",
    "OutboxRecord",
    "OutboxRelay",
    "Upcaster",
    "bulk_data",
    "bulk_type",
    "decode_envelope",
    "encode_envelope",
    "envelope_for",
    "event_resources",
    "is_bulk",
    "item_type",
    "matches_type",
    "publishable_envelopes",
    "split_bulk",
    "subject_for",
    "upcast",
]
