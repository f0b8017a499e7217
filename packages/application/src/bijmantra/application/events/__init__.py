"""Event envelope and the outbox relay use case."""

from bijmantra.application.events.envelope import (
    CURRENT_SCHEMA_VERSION,
    UPCASTERS,
    EventEnvelope,
    OutboxRecord,
    Upcaster,
    decode_envelope,
    encode_envelope,
    envelope_for,
    subject_for,
    upcast,
)
from bijmantra.application.events.relay import OutboxRelay

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "UPCASTERS",
    "EventEnvelope",
    "OutboxRecord",
    "OutboxRelay",
    "Upcaster",
    "decode_envelope",
    "encode_envelope",
    "envelope_for",
    "subject_for",
    "upcast",
]
