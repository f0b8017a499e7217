"""The interceptor chain over a real gRPC server: each call is judged by its own metadata.

The interceptors keep one handler per method (ADR 0357), so these calls alternate callers,
tokens and request ids on the same method: a handler built for one call must never answer
another with that call's token, and the metrics still count every call."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
import structlog
from bijmantra.adapters.grpc import ErrorInterceptor
from bijmantra.domain_api.grpc_api import (
    AuthInterceptor,
    current_keyed_request,
    current_principal,
)
from bijmantra.kernel import Principal, TenantId
from bijmantra.observability.grpc_interceptors import GrpcServerMetrics
from bijmantra.observability.metrics import GRPC_SERVER_HANDLED
from bijmantra.testkit.console_fakes import FakeTokenVerifier

ALICE = Principal("alice", TenantId(uuid.uuid4()))
BOB = Principal("bob", TenantId(uuid.uuid4()))
WORKER = Principal("worker", TenantId(uuid.uuid4()), roles=frozenset({"analysis-worker"}))


def _identity(data: bytes) -> bytes:
    return data


async def _who(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    principal = current_principal()
    request_id = structlog.contextvars.get_contextvars().get("request_id", "-")
    keyed = current_keyed_request()
    return f"{principal.subject} {principal.tenant_id} {request_id} {keyed}".encode()


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    verifier = FakeTokenVerifier({"a": ALICE, "b": BOB, "w": WORKER})
    server = grpc.aio.server(
        interceptors=[
            GrpcServerMetrics(),
            ErrorInterceptor(),
            AuthInterceptor(verifier, service_roles={"t.Worker": "analysis-worker"}),
        ]
    )
    handlers = {"Who": grpc.unary_unary_rpc_method_handler(_who, _identity, _identity)}
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler("t.Data", handlers),
            grpc.method_handlers_generic_handler("t.Worker", handlers),
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    await server.stop(None)


def _handled(code: str) -> float:
    value = GRPC_SERVER_HANDLED.labels("t.Data", "Who", code)._value.get()
    return float(value)


async def test_calls_on_one_method_are_each_judged_by_their_own_token(
    channel: grpc.aio.Channel,
) -> None:
    who = channel.unary_unary("/t.Data/Who", _identity, _identity)
    ok, refused = _handled("OK"), _handled("UNAUTHENTICATED")
    for round_ in range(3):
        alice = await who(
            b"", metadata=(("authorization", "Bearer a"), ("x-request-id", f"r{round_}"))
        )
        assert alice.decode() == f"alice {ALICE.tenant_id} r{round_} None"
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await who(b"", metadata=(("authorization", "Bearer nobody"),))
        assert unknown.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await who(b"")
        assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
        bob = await who(b"", metadata=(("authorization", "Bearer b"), ("x-idempotency-key", "k1")))
        subject, tenant, request_id, keyed = bob.decode().split(" ", 3)
        assert (subject, tenant, request_id) == ("bob", str(BOB.tenant_id), "-")
        assert "k1" in keyed
    assert _handled("OK") - ok == 6
    assert _handled("UNAUTHENTICATED") - refused == 6


async def test_service_roles_are_checked_per_call_and_per_service(
    channel: grpc.aio.Channel,
) -> None:
    data = channel.unary_unary("/t.Data/Who", _identity, _identity)
    worker = channel.unary_unary("/t.Worker/Who", _identity, _identity)
    for _ in range(2):
        assert (await worker(b"", metadata=(("authorization", "Bearer w"),))).startswith(b"worker")
        with pytest.raises(grpc.aio.AioRpcError) as user_on_worker:
            await worker(b"", metadata=(("authorization", "Bearer a"),))
        assert user_on_worker.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as worker_on_data:
            await data(b"", metadata=(("authorization", "Bearer w"),))
        assert worker_on_data.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert (await data(b"", metadata=(("authorization", "Bearer a"),))).startswith(b"alice")
