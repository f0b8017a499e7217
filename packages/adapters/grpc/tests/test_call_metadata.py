"""What every outgoing call carries: the caller's token and, within a request, its id."""

from __future__ import annotations

import structlog
from bijmantra.adapters.grpc.auth import bearer_metadata


def test_calls_carry_the_token_and_the_request_id_bound_by_the_edge() -> None:
    structlog.contextvars.clear_contextvars()
    assert bearer_metadata("tok") == (("authorization", "Bearer tok"),)
    with structlog.contextvars.bound_contextvars(request_id="req-1", tenant_id="t"):
        assert bearer_metadata("tok") == (
            ("authorization", "Bearer tok"),
            ("x-request-id", "req-1"),
        )
    assert bearer_metadata("tok") == (("authorization", "Bearer tok"),)
