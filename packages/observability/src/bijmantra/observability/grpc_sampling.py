"""gRPC client calls that pay for tracing only when their request is sampled.

grpc.aio runs a channel's client interceptors on every call (an intercepted call is an
extra task and a wrapper per call), sampled or not. ``SampledChannel`` holds two channels
to the same target: calls made inside a recording span go through the traced one (client
span, context injected by the OpenTelemetry interceptor); the rest go through the plain one
with only a ``traceparent`` added, so the server follows the "not sampled" decision.
A sampled unary call gets its client span started here rather than by the interceptor.
``HeadSampledServer`` is the receiving end: it skips the server-side instrumentation for
unsampled calls and starts one lean server span for sampled ones.
"""

from __future__ import annotations

import inspect
from typing import Any

import grpc
from bijmantra.observability.grpc_interceptors import wrap_behavior
from bijmantra.observability.tracing import TRACEPARENT, parse_traceparent
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context


def traceparent_metadata(metadata: Any) -> Any:
    """``metadata`` plus the current (non-recording) span's ``traceparent``."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return metadata
    value = f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
    return (*(metadata or ()), ("traceparent", value))


def _rpc_attributes(method: str) -> dict[str, str]:
    service, _, name = method.lstrip("/").rpartition("/")
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}


async def _spanned_unary(
    tracer: trace.Tracer, call: Any, method: str, request: Any, metadata: Any, **kwargs: Any
) -> Any:
    """A unary call of a sampled request with a client span of its own, started here: the
    interceptor path costs an intercepted call object and task per call."""
    attributes = _rpc_attributes(method)
    with tracer.start_as_current_span(method, kind=trace.SpanKind.CLIENT, attributes=attributes):
        try:
            return await call(request, metadata=traceparent_metadata(metadata), **kwargs)
        except grpc.aio.AioRpcError as error:
            trace.get_current_span().set_attribute("rpc.grpc.status_code", error.code().value[0])
            raise


class _Pick:
    __slots__ = ("_method", "_plain", "_traced", "_tracer")

    def __init__(
        self, plain: Any, traced: Any, method: str | None = None, tracer: Any = None
    ) -> None:
        self._plain, self._traced, self._method, self._tracer = plain, traced, method, tracer

    def __call__(self, request: Any, *, metadata: Any = None, **kwargs: Any) -> Any:
        if trace.get_current_span().is_recording():
            if self._method is not None:  # unary-unary: our own client span
                tracer = self._tracer or trace.get_tracer(__name__)
                return _spanned_unary(
                    tracer, self._plain, self._method, request, metadata, **kwargs
                )
            return self._traced(request, metadata=metadata, **kwargs)
        return self._plain(request, metadata=traceparent_metadata(metadata), **kwargs)


class SampledChannel:
    """Enough of ``grpc.aio.Channel`` for generated stubs, health checks and shutdown."""

    def __init__(self, plain: Any, traced: Any, tracer: trace.Tracer | None = None) -> None:
        self._plain, self._traced, self._tracer = plain, traced, tracer

    def _pick(self, kind: str, *args: Any, **kwargs: Any) -> _Pick:
        return _Pick(
            getattr(self._plain, kind)(*args, **kwargs),
            getattr(self._traced, kind)(*args, **kwargs),
        )

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> _Pick:
        plain = self._plain.unary_unary(method, *args, **kwargs)
        traced = self._traced.unary_unary(method, *args, **kwargs)
        return _Pick(plain, traced, method, self._tracer)

    def unary_stream(self, *args: Any, **kwargs: Any) -> _Pick:
        return self._pick("unary_stream", *args, **kwargs)

    def stream_unary(self, *args: Any, **kwargs: Any) -> _Pick:
        return self._pick("stream_unary", *args, **kwargs)

    def stream_stream(self, *args: Any, **kwargs: Any) -> _Pick:
        return self._pick("stream_stream", *args, **kwargs)

    async def channel_ready(self) -> None:
        await self._plain.channel_ready()

    def get_state(self, try_to_connect: bool = False) -> Any:
        return self._plain.get_state(try_to_connect)

    async def close(self, grace: float | None = None) -> None:
        await self._plain.close(grace)
        await self._traced.close(grace)


def _unsampled_context(parent: trace.SpanContext) -> Context:
    """The caller's "not sampled" span as a non-recording parent, with automatic
    instrumentation (SQL, Redis) suppressed."""
    context = trace.set_span_in_context(trace.NonRecordingSpan(parent))
    return otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True, context)


def _server_spanned(behavior: Any, tracer: trace.Tracer, method: str, parent: Context) -> Any:
    """The behavior inside a server span under the caller's (sampled) span; streams too."""
    attributes = _rpc_attributes(method)

    def span() -> Any:
        return tracer.start_as_current_span(
            method, context=parent, kind=trace.SpanKind.SERVER, attributes=attributes
        )

    def ended(context: Any) -> None:
        code = context.code()
        if code is not None and code != grpc.StatusCode.OK:
            current = trace.get_current_span()
            current.set_attribute("rpc.grpc.status_code", getattr(code, "value", (code,))[0])
            current.set_status(trace.StatusCode.ERROR)

    if inspect.isasyncgenfunction(behavior):

        async def streamed(request: Any, context: Any) -> Any:
            with span():
                async for response in behavior(request, context):
                    yield response
                ended(context)

        return streamed

    async def awaited(request: Any, context: Any) -> Any:
        with span():
            response = await behavior(request, context)
            ended(context)
            return response

    return awaited


class HeadSampledServer(grpc.aio.ServerInterceptor):
    """Server-side tracing that follows the caller's sampling decision cheaply.

    The standard OpenTelemetry interceptor starts a span, builds its attributes and wraps the
    servicer context on every call, sampled or not. Here a call whose ``traceparent`` says
    "not sampled" runs under the caller's span context (logs and outbox rows keep the trace
    id; downstream hops receive "not sampled") with automatic instrumentation suppressed, and
    nothing is wrapped. A call the caller sampled gets one server span started here (its SQL
    statements are then traced under it). Calls without a readable ``traceparent`` take the
    standard interceptor, where the service's own sampler decides.
    """

    def __init__(self, traced: Any, tracer: trace.Tracer | None = None) -> None:
        self._traced = traced
        self._tracer = tracer or trace.get_tracer(__name__)

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        parent = None
        for key, value in details.invocation_metadata or ():
            if key == TRACEPARENT:
                parent = parse_traceparent(value)
                break
        if parent is None:
            return await self._traced.intercept_service(continuation, details)
        if not parent.trace_flags.sampled:
            # grpc.aio runs each RPC in a task of its own and awaits the interceptors in it,
            # so the context attached here is the handler's and ends with the RPC: no
            # wrapped handler per call, and nothing to detach.
            otel_context.attach(_unsampled_context(parent))
            return await continuation(details)
        handler = await continuation(details)
        if handler is None:
            return None
        context = trace.set_span_in_context(trace.NonRecordingSpan(parent))
        method = details.method
        return wrap_behavior(
            handler, lambda behavior: _server_spanned(behavior, self._tracer, method, context)
        )
