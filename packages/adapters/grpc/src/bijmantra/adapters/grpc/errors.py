"""One codec for errors crossing gRPC: status code from the kernel table, details as JSON."""

from __future__ import annotations

import inspect
from typing import Any, NoReturn

import msgspec
from bijmantra.kernel import BijmantraError, FieldError, Unavailable
from bijmantra.kernel.errors import GRPC_STATUS_NAMES, ErrorCode, error_for
from bijmantra.observability.grpc_interceptors import wrap_behavior

import grpc

DETAILS_KEY = "bijmantra-error-bin"


class _Details(msgspec.Struct):
    code: str
    message: str
    details: list[tuple[str, str]]


_STATUS_TO_CODE = {name: code for code, name in GRPC_STATUS_NAMES.items()}


def rpc_error_metadata(error: BijmantraError) -> tuple[tuple[str, bytes], ...]:
    payload = _Details(
        error.code.value, error.message, [(d.location, d.message) for d in error.details]
    )
    return ((DETAILS_KEY, msgspec.json.encode(payload)),)


async def abort_with(context: grpc.aio.ServicerContext, error: BijmantraError) -> NoReturn:
    context.set_trailing_metadata(rpc_error_metadata(error))
    await context.abort(grpc.StatusCode[GRPC_STATUS_NAMES[error.code]], error.message)
    raise AssertionError("abort() raises")  # pragma: no cover


class ErrorTranslation(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    """Every RPC of a server: a kernel error raised by a use case leaves as its gRPC status,
    with the error's details in the trailing metadata (one place instead of a decorator per
    method). Anything else is left to the server, which answers UNKNOWN."""

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        return None if handler is None else wrap_behavior(handler, _translating)


def _translating(behavior: Any) -> Any:
    if inspect.isasyncgenfunction(behavior):

        async def streamed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                async for response in behavior(request, context):
                    yield response
            except BijmantraError as error:
                await abort_with(context, error)

        return streamed

    async def awaited(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behavior(request, context)
        except BijmantraError as error:
            await abort_with(context, error)

    return awaited


def error_from_rpc(exc: grpc.aio.AioRpcError) -> BijmantraError:
    """Rebuild the typed error a servicer raised; transport failures become ``unavailable``."""
    for key, value in exc.trailing_metadata() or ():
        if key == DETAILS_KEY:
            decoded = msgspec.json.decode(value, type=_Details)
            return error_for(
                decoded.code, decoded.message, [FieldError(*d) for d in decoded.details]
            )
    code = _STATUS_TO_CODE.get(exc.code().name)
    if code is None or code is ErrorCode.UNAVAILABLE:
        return Unavailable(f"upstream service unavailable ({exc.code().name})")
    return error_for(code, exc.details() or code.value)
