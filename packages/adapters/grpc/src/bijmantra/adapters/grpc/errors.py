"""One codec for errors crossing gRPC: status code from the kernel table, details as JSON.

Details travel in trailing metadata, which peers cap (8 KiB by default): past the cap the
call fails with RESOURCE_EXHAUSTED instead, which once reached clients as 429 "retry
later" for a request with thousands of field errors. So the encoded details are bounded
(``MAX_DETAILS_BYTES``, each text cut to ``MAX_TEXT``), the rest summarised in a last entry.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import msgspec
from bijmantra.domain.tenancy.quotas import EarlyQuotaRefusal
from bijmantra.domain.tenancy.storage import StoredResource
from bijmantra.kernel import BijmantraError, FieldError, Unavailable
from bijmantra.kernel.errors import ErrorCode, Internal, error_for
from bijmantra.observability import get_logger
from bijmantra.observability.grpc_interceptors import WrappedHandlers, wrap_behavior
from bijmantra.observability.metrics import QUOTA_REFUSALS, STORAGE_REFUSALS

import grpc

DETAILS_KEY = "bijmantra-error-bin"
# gRPC status names per code (both sides of every internal call map through this table).
GRPC_STATUS_NAMES: dict[ErrorCode, str] = {
    ErrorCode.NOT_FOUND: "NOT_FOUND",
    ErrorCode.CONFLICT: "ALREADY_EXISTS",
    ErrorCode.GONE: "OUT_OF_RANGE",
    ErrorCode.PRECONDITION_FAILED: "ABORTED",  # gRPC's code for a failed optimistic check
    ErrorCode.MALFORMED: "INVALID_ARGUMENT",
    ErrorCode.METHOD_NOT_ALLOWED: "UNIMPLEMENTED",  # an HTTP edge's own; never sent, kept total
    ErrorCode.VALIDATION: "INVALID_ARGUMENT",
    ErrorCode.UNPROCESSABLE: "FAILED_PRECONDITION",
    ErrorCode.UNAUTHORIZED: "UNAUTHENTICATED",
    ErrorCode.FORBIDDEN: "PERMISSION_DENIED",
    ErrorCode.RATE_LIMITED: "RESOURCE_EXHAUSTED",
    ErrorCode.STORAGE_FULL: "FAILED_PRECONDITION",  # not retried until data is deleted
    ErrorCode.UNAVAILABLE: "UNAVAILABLE",
    ErrorCode.INTERNAL: "INTERNAL",
}
MAX_DETAILS_BYTES = 4096
MAX_TEXT = 300
log = get_logger(__name__)


class _Details(msgspec.Struct):
    code: str
    message: str
    details: list[tuple[str, str]]


# A bare UNIMPLEMENTED is a peer of another version, not a wrong HTTP method: unavailable;
# a bare FAILED_PRECONDITION stays unprocessable (storage_full always travels with details).
_STATUS_TO_CODE = {
    name: code
    for code, name in GRPC_STATUS_NAMES.items()
    if code not in (ErrorCode.METHOD_NOT_ALLOWED, ErrorCode.STORAGE_FULL)
}


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def rpc_error_metadata(error: BijmantraError) -> tuple[tuple[str, bytes], ...]:
    """The error as one metadata entry of at most about ``MAX_DETAILS_BYTES``."""
    details: list[tuple[str, str]] = []
    budget = MAX_DETAILS_BYTES - len(msgspec.json.encode(_cut(error.message))) - 64
    for index, detail in enumerate(error.details):
        entry = (_cut(detail.location), _cut(detail.message))
        budget -= len(msgspec.json.encode(entry)) + 1
        if budget < 0:
            details.append(("…", f"and {len(error.details) - index} more problems"))
            break
        details.append(entry)
    payload = _Details(error.code.value, _cut(error.message), details)
    return ((DETAILS_KEY, msgspec.json.encode(payload)),)


async def abort_with(
    context: grpc.aio.ServicerContext[Any, Any], error: BijmantraError
) -> NoReturn:
    context.set_trailing_metadata(rpc_error_metadata(error))
    if error.code is ErrorCode.STORAGE_FULL:  # before the work or at commit, every path
        STORAGE_REFUSALS.labels(_stored_resource(error)).inc()
    elif isinstance(error, EarlyQuotaRefusal):  # at commit: counted by the charge (ADR 0340)
        QUOTA_REFUSALS.labels(error.resource.value).inc()
    await context.abort(grpc.StatusCode[GRPC_STATUS_NAMES[error.code]], _cut(error.message))


def _stored_resource(error: BijmantraError) -> str:
    """The refused resource's name: one of the few ``StoredResource``s (a bounded label)."""
    named = next((d.message for d in error.details if d.location == "resource"), "")
    return named if named in {r.value for r in StoredResource} else "unknown"


class ErrorTranslation(grpc.aio.ServerInterceptor):
    """Every RPC of a server: a kernel error raised by a use case leaves as its gRPC status,
    with the error's details in the trailing metadata (one place instead of a decorator per
    method). Anything else is not dressed up as a use-case error: the outer
    ``ErrorInterceptor`` logs it and answers INTERNAL."""

    def __init__(self) -> None:
        self._handlers = WrappedHandlers(lambda _, handler: wrap_behavior(handler, _translating))

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        return None if handler is None else self._handlers.get(details.method, handler)


OnError = Callable[[grpc.aio.ServicerContext[Any, Any], Exception], Awaitable[None]]


def _answering(behavior: Any, on_error: OnError) -> Any:
    """``behavior`` with ``on_error`` answering what it raises (an abort under way passes by);
    what ``on_error`` lets through propagates unchanged. Async generators stay generators."""
    if inspect.isasyncgenfunction(behavior):

        async def streamed(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            try:
                async for response in behavior(request, context):
                    yield response
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await on_error(context, exc)
                raise

        return streamed

    async def awaited(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await behavior(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await on_error(context, exc)
            raise

    return awaited


async def _abort_if_typed(context: grpc.aio.ServicerContext[Any, Any], exc: Exception) -> None:
    if isinstance(exc, BijmantraError):
        await abort_with(context, exc)


def _translating(behavior: Any) -> Any:
    return _answering(behavior, _abort_if_typed)


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """The catch-all of a gRPC server, outermost after metrics: what no layer inside turned
    into a status (a bug, in a servicer or in authentication) is logged with its traceback
    and leaves as INTERNAL with our details, never UNKNOWN. ``ErrorTranslation`` stays the
    one place typed errors become statuses; a typed error reaching here is translated too."""

    def __init__(self) -> None:
        self._handlers = WrappedHandlers(_answered_handler)

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        return None if handler is None else self._handlers.get(details.method, handler)


def _answered_handler(method: str, handler: Any) -> Any:
    async def fail(context: grpc.aio.ServicerContext[Any, Any], exc: Exception) -> NoReturn:
        if isinstance(exc, BijmantraError):
            await abort_with(context, exc)
        log.exception("unhandled error in gRPC method", method=method)
        await abort_with(context, Internal("Internal server error"))

    return wrap_behavior(handler, lambda behavior: _answering(behavior, fail))


def error_from_rpc(exc: grpc.aio.AioRpcError) -> BijmantraError:
    """Rebuild the typed error a servicer raised; transport failures become ``unavailable``."""
    for key, value in exc.trailing_metadata() or ():
        if key == DETAILS_KEY:
            decoded = msgspec.json.decode(value, type=_Details)
            return error_for(
                decoded.code, decoded.message, [FieldError(*d) for d in decoded.details]
            )
    code = _STATUS_TO_CODE.get(exc.code().name)
    # Without our details, RESOURCE_EXHAUSTED is the transport's (a message or metadata
    # over a cap), not a rate limit: answering 429 would invite the client to retry.
    if code is None or code in (ErrorCode.UNAVAILABLE, ErrorCode.RATE_LIMITED):
        return Unavailable(f"upstream service unavailable ({exc.code().name})")
    return error_for(code, exc.details() or code.value)
