"""One server interceptor turns every use-case error into its gRPC status and details."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from bijmantra.adapters.grpc.errors import ErrorTranslation, error_from_rpc
from bijmantra.domain.tenancy.quotas import DayStanding, Resource, early_refusal, quota_refusal
from bijmantra.kernel import FieldError, NotFound, RateLimited, StorageFull, ValidationFailed
from prometheus_client import REGISTRY


async def missing(request: bytes, context: Any) -> bytes:
    raise NotFound("germplasm g1 not found")


async def invalid_after_two(request: bytes, context: Any) -> AsyncIterator[bytes]:
    yield b"one"
    yield b"two"
    raise ValidationFailed("bad rows", [FieldError("[2].x", "is required")])


async def full(request: bytes, context: Any) -> bytes:
    raise StorageFull("cap reached", [FieldError("resource", "stored_upload_bytes")])


NOW = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)


async def used_up_early(request: bytes, context: Any) -> bytes:
    """What ``refuse_used_up`` raises before a heavy write does its work (ADR 0340)."""
    refusal = early_refusal(DayStanding(Resource.UPLOAD_BYTES, 10, 10), NOW)
    assert refusal is not None
    raise refusal


async def used_up_at_commit(request: bytes, context: Any) -> bytes:
    """What the commit's failed charge becomes (``usage.quota_or``, which counted it)."""
    raise quota_refusal(Resource.UPLOAD_BYTES, 10, NOW)


async def admitted(request: bytes, context: Any) -> bytes:
    """An early check with room left: answered, nothing refused."""
    assert early_refusal(DayStanding(Resource.UPLOAD_BYTES, 5, 10), NOW, 5) is None
    return b""


async def crashes(request: bytes, context: Any) -> bytes:
    raise RuntimeError("a bug, not a use-case error")


def passthrough(data: bytes) -> bytes:
    return data


async def drain(messages: AsyncIterator[bytes], into: list[bytes]) -> None:
    async for message in messages:
        into.append(message)


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    handlers = {
        "Missing": grpc.unary_unary_rpc_method_handler(missing, passthrough, passthrough),
        "Stream": grpc.unary_stream_rpc_method_handler(invalid_after_two, passthrough, passthrough),
        "Crash": grpc.unary_unary_rpc_method_handler(crashes, passthrough, passthrough),
        "Full": grpc.unary_unary_rpc_method_handler(full, passthrough, passthrough),
        "Early": grpc.unary_unary_rpc_method_handler(used_up_early, passthrough, passthrough),
        "Late": grpc.unary_unary_rpc_method_handler(used_up_at_commit, passthrough, passthrough),
        "Admitted": grpc.unary_unary_rpc_method_handler(admitted, passthrough, passthrough),
    }
    server = grpc.aio.server(interceptors=[ErrorTranslation()])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.Svc", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as open_channel:
        yield open_channel
    await server.stop(None)


async def test_a_unary_use_case_error_arrives_as_its_status_and_type(
    channel: grpc.aio.Channel,
) -> None:
    call = channel.unary_unary("/t.Svc/Missing", passthrough, passthrough)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(b"")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    rebuilt = error_from_rpc(raised.value)
    assert isinstance(rebuilt, NotFound)
    assert rebuilt.message == "germplasm g1 not found"


async def test_a_full_organization_arrives_as_storage_full_not_as_a_rate_limit(
    channel: grpc.aio.Channel,
) -> None:
    """A standing cap (ADR 0343) is FAILED_PRECONDITION (do not retry as is), and crosses
    back as ``storage_full`` with its details; a bare FAILED_PRECONDITION stays unprocessable."""
    call = channel.unary_unary("/t.Svc/Full", passthrough, passthrough)
    labels = {"resource": "stored_upload_bytes"}
    before = REGISTRY.get_sample_value("storage_refusals_total", labels) or 0.0
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(b"")
    assert REGISTRY.get_sample_value("storage_refusals_total", labels) == before + 1
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    rebuilt = error_from_rpc(raised.value)
    assert isinstance(rebuilt, StorageFull)
    assert rebuilt.details == [FieldError("resource", "stored_upload_bytes")]


async def test_an_early_quota_refusal_is_counted_once_where_it_leaves_the_service(
    channel: grpc.aio.Channel,
) -> None:
    """``quota_refusals_total{resource}`` (ADR 0340): a heavy write refused before its work
    (``CheckImport``, ``CheckContent``, an analysis request) is counted as it leaves, once; a
    refusal at commit was counted by the failed charge and is not counted again here; an early
    check that finds room counts nothing. Each reaches the client as the same 429."""
    labels = {"resource": "upload_bytes"}

    def counted() -> float:
        return REGISTRY.get_sample_value("quota_refusals_total", labels) or 0.0

    before = counted()
    for method in ("Early", "Late"):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await channel.unary_unary(f"/t.Svc/{method}", passthrough, passthrough)(b"")
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        rebuilt = error_from_rpc(raised.value)
        assert isinstance(rebuilt, RateLimited)
        assert FieldError("quota", "upload_bytes") in rebuilt.details
    assert await channel.unary_unary("/t.Svc/Admitted", passthrough, passthrough)(b"") == b""
    assert counted() == before + 1  # the early refusal only


async def test_a_stream_keeps_what_it_sent_and_ends_with_the_error_and_its_details(
    channel: grpc.aio.Channel,
) -> None:
    call = channel.unary_stream("/t.Svc/Stream", passthrough, passthrough)
    received: list[bytes] = []
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await drain(call(b""), received)
    assert received == [b"one", b"two"]
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    rebuilt = error_from_rpc(raised.value)
    assert isinstance(rebuilt, ValidationFailed)
    assert [(d.location, d.message) for d in rebuilt.details] == [("[2].x", "is required")]


async def test_anything_else_is_not_dressed_up_as_a_use_case_error(
    channel: grpc.aio.Channel,
) -> None:
    call = channel.unary_unary("/t.Svc/Crash", passthrough, passthrough)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(b"")
    assert raised.value.code() == grpc.StatusCode.UNKNOWN
