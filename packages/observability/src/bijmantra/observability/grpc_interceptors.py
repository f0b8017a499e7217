"""grpc.aio interceptors shared by the services: RED metrics and request-id forwarding."""

from __future__ import annotations

import asyncio
import time
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
    """RED metrics per RPC for grpc.aio servers (unary responses; streams count at open)."""

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        service, _, method = details.method.lstrip("/").rpartition("/")
        inner = handler.unary_unary

        async def measured(request: Any, context: grpc.aio.ServicerContext) -> Any:  # type: ignore[type-arg]
            GRPC_SERVER_STARTED.labels(service, method).inc()
            started = time.perf_counter()
            code = grpc.StatusCode.UNKNOWN
            try:
                response = await inner(request, context)
                code = context.code() or grpc.StatusCode.OK
                return response
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except BaseException:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            finally:
                GRPC_SERVER_HANDLING.labels(service, method).observe(time.perf_counter() - started)
                GRPC_SERVER_HANDLED.labels(service, method, _code_name(code)).inc()

        return grpc.unary_unary_rpc_method_handler(
            measured,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _code_name(code: Any) -> str:
    """``OK``, ``NOT_FOUND``, … as Prometheus labels; servicer code may set an int or an enum."""
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return next((c.name for c in grpc.StatusCode if c.value[0] == code), "UNKNOWN")


class RequestIdClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Forward the request id bound in the log context, so both services log the same id."""

    async def intercept_unary_unary(
        self, continuation: Any, call_details: Any, request: Any
    ) -> Any:
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        if request_id:
            metadata = grpc.aio.Metadata(*(call_details.metadata or ()))
            metadata.add(REQUEST_ID_METADATA, str(request_id))
            call_details = call_details._replace(metadata=metadata)
        return await continuation(call_details, request)
