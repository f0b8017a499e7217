"""What every outgoing call carries: the caller's token and, within a request, its id."""

from __future__ import annotations

import structlog
from bijmantra.adapters.grpc.auth import (
    IDEMPOTENCY_METADATA,
    KeyedCalls,
    bearer_metadata,
    keyed_calls,
)


def test_calls_carry_the_token_and_the_request_id_bound_by_the_edge() -> None:
    structlog.contextvars.clear_contextvars()
    assert bearer_metadata("tok") == (("authorization", "Bearer tok"),)
    with structlog.contextvars.bound_contextvars(request_id="req-1", tenant_id="t"):
        assert bearer_metadata("tok") == (
            ("authorization", "Bearer tok"),
            ("x-request-id", "req-1"),
        )
    assert bearer_metadata("tok") == (("authorization", "Bearer tok"),)


def test_a_read_asked_before_a_keyed_write_takes_none_of_its_call_keys() -> None:
    """The quota checks asked before a keyed upload (ADR 0340) leave the write its own key."""
    structlog.contextvars.clear_contextvars()
    keyed = keyed_calls.set(KeyedCalls("record"))
    try:
        assert bearer_metadata("tok", keyed=False) == (("authorization", "Bearer tok"),)
        assert bearer_metadata("tok")[-1] == (IDEMPOTENCY_METADATA, "record#1")
    finally:
        keyed_calls.reset(keyed)
