"""gRPC client calls that pay for tracing only when their request is sampled.

grpc.aio runs a channel's client interceptors on every call (an intercepted call is an
extra task and a wrapper per call), sampled or not. ``SampledChannel`` holds two channels
to the same target: calls made inside a recording span go through the traced one (client
span, context injected by the OpenTelemetry interceptor); the rest go through the plain one
with only a ``traceparent`` added, so the server follows the "not sampled" decision.
``HeadSampledServer`` is the receiving end: it skips the server-side instrumentation for
those calls.
"""

from __future__ import annotations

from typing import Any

import grpc
from bijmantra.observability.tracing import TRACEPARENT
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


class _Pick:
    __slots__ = ("_plain", "_traced")

    def __init__(self, plain: Any, traced: Any) -> None:
        self._plain, self._traced = plain, traced

    def __call__(self, request: Any, *, metadata: Any = None, **kwargs: Any) -> Any:
        if trace.get_current_span().is_recording():
            return self._traced(request, metadata=metadata, **kwargs)
        return self._plain(request, metadata=traceparent_metadata(metadata), **kwargs)


class SampledChannel:
    """Enough of ``grpc.aio.Channel`` for generated stubs, health checks and shutdown."""

    def __init__(self, plain: Any, traced: Any) -> None:
        self._plain, self._traced = plain, traced

    def _pick(self, kind: str, *args: Any, **kwargs: Any) -> _Pick:
        return _Pick(
            getattr(self._plain, kind)(*args, **kwargs),
            getattr(self._traced, kind)(*args, **kwargs),
        )

    def unary_unary(self, *args: Any, **kwargs: Any) -> _Pick:
        return self._pick("unary_unary", *args, **kwargs)

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


def _unsampled_context(traceparent: str) -> Context | None:
    """The caller's "not sampled" span as a non-recording parent, with automatic
    instrumentation (SQL, Redis) suppressed; ``None`` when the caller asked for a sampled
    span or sent nothing we can read (the traced path then decides, as before)."""
    parts = traceparent.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16 or len(parts[3]) != 2:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    if flags & 1 or not trace_id or not span_id:
        return None
    parent = trace.NonRecordingSpan(
        trace.SpanContext(trace_id, span_id, is_remote=True, trace_flags=trace.TraceFlags(flags))
    )
    context = trace.set_span_in_context(parent)
    return otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True, context)


class HeadSampledServer(grpc.aio.ServerInterceptor):
    """Runs the OpenTelemetry server interceptor only for calls the caller sampled.

    The standard interceptor starts a (non-recording) span, builds its attributes and wraps
    the servicer context on every call, and SQLAlchemy/Redis instrumentation then start a
    span per statement — all for the 90 % of calls whose ``traceparent`` already says "not
    sampled". Those calls skip it: they run under the caller's span context (so logs and
    outbox rows keep the trace id and downstream hops receive "not sampled") with automatic
    instrumentation suppressed. Calls without a readable ``traceparent`` take the traced
    path, where the service's own sampler decides.
    """

    def __init__(self, traced: Any) -> None:
        self._traced = traced

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        context = None
        for key, value in details.invocation_metadata or ():
            if key == TRACEPARENT:
                context = _unsampled_context(value)
                break
        if context is None:
            return await self._traced.intercept_service(continuation, details)
        # grpc.aio runs each RPC in a task of its own and awaits the interceptors in it, so
        # the context attached here is the handler's and ends with the RPC: no wrapped
        # handler per call, and nothing to detach.
        otel_context.attach(context)
        return await continuation(details)
