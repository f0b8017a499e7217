"""gRPC client calls that pay for tracing only when their request is sampled.

grpc.aio runs a channel's client interceptors on every call (an intercepted call is an
extra task and a wrapper per call), sampled or not. ``SampledChannel`` holds two channels
to the same target: calls made inside a recording span go through the traced one (client
span, context injected by the OpenTelemetry interceptor); the rest go through the plain one
with only a ``traceparent`` added, so the server follows the "not sampled" decision.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace


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
