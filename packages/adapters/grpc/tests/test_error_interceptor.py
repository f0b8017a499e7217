"""Errors across a real gRPC server: bounded details, and a catch-all that says INTERNAL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from bijmantra.adapters.grpc import ErrorInterceptor, error_from_rpc
from bijmantra.adapters.grpc.errors import DETAILS_KEY, MAX_DETAILS_BYTES
from bijmantra.kernel import FieldError, Internal, Unavailable, ValidationFailed


def _identity(data: bytes) -> bytes:
    return data


async def _many_problems(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    problems = [FieldError(f"body[{i}].germplasmName", "expected str " * 5) for i in range(10_000)]
    raise ValidationFailed("10000 invalid Germplasm field(s)", problems)


async def _bug(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise KeyError("a bug")


async def _streamed_bug(
    request: bytes,
    context: grpc.aio.ServicerContext,
) -> AsyncIterator[bytes]:
    yield b"first"
    raise ZeroDivisionError


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    handlers = {
        "Many": grpc.unary_unary_rpc_method_handler(_many_problems, _identity, _identity),
        "Bug": grpc.unary_unary_rpc_method_handler(_bug, _identity, _identity),
        "StreamBug": grpc.unary_stream_rpc_method_handler(_streamed_bug, _identity, _identity),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.T", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    await server.stop(None)


async def _fail(channel: grpc.aio.Channel, method: str) -> grpc.aio.AioRpcError:
    call = channel.unary_unary(f"/t.T/{method}", _identity, _identity)
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call(b"")
    return failed.value


async def test_ten_thousand_field_errors_arrive_as_invalid_argument_not_exhaustion(
    channel: grpc.aio.Channel,
) -> None:
    failure = await _fail(channel, "Many")
    assert failure.code() is grpc.StatusCode.INVALID_ARGUMENT  # was RESOURCE_EXHAUSTED -> 429
    [details] = [v for k, v in failure.trailing_metadata() or () if k == DETAILS_KEY]
    assert len(details) <= MAX_DETAILS_BYTES
    error = error_from_rpc(failure)
    assert isinstance(error, ValidationFailed)
    assert error.details[0] == FieldError("body[0].germplasmName", "expected str " * 5)
    assert error.details[-1].message.startswith("and ")
    shown = len(error.details) - 1
    assert error.details[-1].message == f"and {10_000 - shown} more problems"


async def test_an_unexpected_exception_is_internal_and_logged(
    channel: grpc.aio.Channel, capsys: pytest.CaptureFixture[str]
) -> None:
    failure = await _fail(channel, "Bug")
    assert failure.code() is grpc.StatusCode.INTERNAL
    assert isinstance(error_from_rpc(failure), Internal)
    assert "KeyError" in capsys.readouterr().out
    stream = channel.unary_stream("/t.T/StreamBug", _identity, _identity)(b"")
    assert await stream.read() == b"first"
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await stream.read()
    assert failed.value.code() is grpc.StatusCode.INTERNAL


async def test_exhaustion_without_our_details_is_not_a_rate_limit(
    channel: grpc.aio.Channel,
) -> None:
    """A message over the peer's cap: the transport's RESOURCE_EXHAUSTED, not a 429."""
    call = channel.unary_unary("/t.T/Many", _identity, _identity)
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call(b"x" * (5 << 20))  # over the server's 4 MiB default
    assert failed.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert isinstance(error_from_rpc(failed.value), Unavailable)
