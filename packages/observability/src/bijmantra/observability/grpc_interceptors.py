"""grpc.aio interceptors shared by the services: RED metrics and request-id forwarding."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import structlog
from bijmantra.observability.metrics import (
    GRPC_SERVER_HANDLED,
    GRPC_SERVER_HANDLING,
    GRPC_SERVER_STARTED,
)

REQUEST_ID_METADATA = "x-request-id"


class GrpcServerMetrics(grpc.aio.ServerInterceptor):
    """RED metrics per RPC for grpc.aio servers, unary and streaming alike.

    A streaming RPC is timed from its start until its last message (or its failure).
    """

    def __init__(self) -> None:
        self._handlers = WrappedHandlers(_measured_handler)

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        return None if handler is None else self._handlers.get(details.method, handler)


def _measured_handler(method: str, handler: Any) -> Any:
    service, _, name = method.lstrip("/").rpartition("/")
    return wrap_behavior(handler, lambda behavior: _measured(behavior, service, name))


class WrappedHandlers:
    """The handlers an interceptor builds around the handler below it, one per method, kept
    while the handler below is the same object (ADR 0357).

    grpc.aio asks every interceptor for a handler on every call. A handler that depends on
    nothing but its method (metrics, error answers, authentication reading the call's own
    metadata) is built once instead of per call: two closures, the ``inspect`` checks and a
    new ``RpcMethodHandler`` per interceptor and call. A layer below that builds a handler
    per call (a sampled trace) is wrapped afresh, as before."""

    def __init__(self, wrap: Callable[[str, Any], Any]) -> None:
        self._wrap = wrap
        self._by_method: dict[str, tuple[Any, Any]] = {}

    def get(self, method: str, handler: Any) -> Any:
        kept = self._by_method.get(method)
        if kept is not None and kept[0] is handler:
            return kept[1]
        wrapped = self._wrap(method, handler)
        self._by_method[method] = (handler, wrapped)
        return wrapped


def wrap_behavior(handler: Any, wrap: Callable[[Any], Any]) -> Any:
    """The same RPC handler with its async behavior replaced by ``wrap(behavior)``.

    Server interceptors that act around every RPC (metrics, error translation) share this;
    ``wrap`` must keep an async generator an async generator."""
    kind = next(k for k in RPC_KINDS if getattr(handler, k) is not None)
    behavior = getattr(handler, kind)
    if not (inspect.iscoroutinefunction(behavior) or inspect.isasyncgenfunction(behavior)):
        return handler  # a synchronous handler (none of ours): left as it is
    make_handler = getattr(grpc, f"{kind}_rpc_method_handler")
    return make_handler(
        wrap(behavior),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


RPC_KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


def _measured(behavior: Any, service: str, method: str) -> Any:
    """The same behavior, counted and timed; async generators stay async generators."""
    if inspect.isasyncgenfunction(behavior):

        async def streamed(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            with _observed(service, method, context):
                async for response in behavior(request, context):
                    yield response

        return streamed

    async def awaited(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        with _observed(service, method, context):
            return await behavior(request, context)

    return awaited


@contextlib.contextmanager
def _observed(service: str, method: str, context: Any) -> Iterator[None]:
    GRPC_SERVER_STARTED.labels(service, method).inc()
    started = time.perf_counter()
    code = grpc.StatusCode.UNKNOWN
    try:
        yield
        code = context.code() or grpc.StatusCode.OK
    except asyncio.CancelledError:
        code = grpc.StatusCode.CANCELLED
        raise
    except BaseException:
        code = context.code() or grpc.StatusCode.UNKNOWN
        raise
    finally:
        GRPC_SERVER_HANDLING.labels(service, method).observe(time.perf_counter() - started)
        GRPC_SERVER_HANDLED.labels(service, method, _code_name(code)).inc()


def _code_name(code: Any) -> str:
    """``OK``, ``NOT_FOUND``, … as Prometheus labels; servicer code may set an int or an enum."""
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return next((c.name for c in grpc.StatusCode if c.value[0] == code), "UNKNOWN")


def request_id_metadata() -> tuple[tuple[str, str], ...]:
    """The request id bound in the log context, as gRPC metadata, so both services log the
    same id. Given per call: a client interceptor would wrap every call in one more task."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    return ((REQUEST_ID_METADATA, str(request_id)),) if request_id else ()
