"""Head sampling at the gateway and the sampled gRPC channel: who takes which path."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from bijmantra.observability.grpc_sampling import SampledChannel, traceparent_metadata
from bijmantra.observability.http import head_sampled
from bijmantra.observability.tracing_setup import head_ratio
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-{flags}"


def test_head_ratio_follows_the_standard_sampler_variables() -> None:
    assert head_ratio({}) == 1.0
    assert head_ratio({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"}) == 1.0
    env = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
    assert head_ratio(env) == 0.1
    assert head_ratio({"OTEL_TRACES_SAMPLER": "always_off"}) == 0.0
    with pytest.raises(ValueError, match="unsupported"):
        head_ratio({"OTEL_TRACES_SAMPLER": "jaeger_remote"})


suppressed: list[bool] = []


def gated(ratio: float) -> tuple[Any, list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []
    suppressed.clear()

    async def plain(scope: Any, receive: Any, send: Any) -> None:
        span = trace.get_current_span()
        if not span.is_recording():
            suppressed.append(not is_instrumentation_enabled())
        seen.append(("traced" if span.is_recording() else "plain", span.get_span_context()))

    async def instrumented(scope: Any, receive: Any, send: Any) -> None:
        seen.append(("otel middleware", None))

    instrumented.app = plain
    app = SimpleNamespace(asgi_handler=instrumented)
    head_sampled(app, ratio, TracerProvider().get_tracer("test"))
    return app.asgi_handler, seen


def http(traceparent: str | None = None) -> dict[str, Any]:
    headers = [(b"traceparent", traceparent.encode())] if traceparent else []
    return {"type": "http", "headers": headers}


async def test_new_traces_are_sampled_at_the_ratio_before_any_instrumentation() -> None:
    gate, seen = gated(0.1)
    for _ in range(2000):
        await gate(http(), None, None)
    traced = sum(1 for path, _ in seen if path == "traced")
    assert 120 <= traced <= 290  # 10 % of 2,000, with room for chance
    assert traced + sum(1 for path, _ in seen if path == "plain") == 2000, "no OTel middleware"
    unsampled = [context for path, context in seen if path == "plain"]
    assert all(c.is_valid and not c.trace_flags.sampled for c in unsampled)
    assert suppressed == [True] * len(unsampled), "no Redis or SQL spans for those requests"
    assert len({c.trace_id for c in unsampled}) == len(unsampled)
    assert trace.get_current_span() is trace.INVALID_SPAN  # the context was detached


async def test_the_callers_decision_is_followed() -> None:
    gate, seen = gated(0.0)
    await gate(http(PARENT.format(flags="01")), None, None)
    await gate(http(PARENT.format(flags="00")), None, None)
    await gate(http("garbage"), None, None)
    assert [path for path, _ in seen] == ["traced", "plain", "plain"]
    sampled = seen[0][1]
    assert f"{sampled.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c", "the caller's trace"
    followed = seen[1][1]
    assert f"{followed.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert not followed.trace_flags.sampled


class Channel:
    """A channel whose unary calls record (channel name, metadata) and answer ``reply``."""

    def __init__(self, name: str, calls: list[tuple[str, Any]]) -> None:
        self.name, self.calls = name, calls

    def unary_unary(self, method: str, **kwargs: Any) -> Any:
        async def call(request: bytes, metadata: Any = None, **kw: Any) -> bytes:
            self.calls.append((self.name, metadata))
            return b"reply"

        return call


def test_unsampled_calls_carry_the_decision_and_skip_the_interceptors() -> None:
    calls: list[tuple[str, Any]] = []
    channel = SampledChannel(Channel("plain", calls), Channel("traced", calls))
    call = channel.unary_unary("/svc/Method")
    unsampled = trace.SpanContext(7, 9, False, trace.TraceFlags(0))
    with trace.use_span(trace.NonRecordingSpan(unsampled)):
        asyncio.run(call(b"", metadata=(("authorization", "Bearer t"),)))
    assert calls == [
        ("plain", (("authorization", "Bearer t"), ("traceparent", f"00-{7:032x}-{9:016x}-00")))
    ]
    assert traceparent_metadata(None) is None  # no span at all: nothing to add


def test_a_sampled_unary_call_gets_its_own_client_span_and_passes_it_on() -> None:
    calls: list[tuple[str, Any]] = []
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = provider.get_tracer("test")
    call = SampledChannel(Channel("plain", calls), Channel("traced", calls), tracer).unary_unary(
        "/pkg.Svc/Get"
    )
    with tracer.start_as_current_span("request"):
        assert asyncio.run(call(b"", metadata=(("authorization", "Bearer t"),))) == b"reply"
    [client] = [s for s in exported.get_finished_spans() if s.kind == trace.SpanKind.CLIENT]
    assert client.name == "/pkg.Svc/Get"
    assert client.attributes is not None
    assert (client.attributes["rpc.service"], client.attributes["rpc.method"]) == ("pkg.Svc", "Get")
    [(channel, metadata)] = calls
    assert channel == "plain", "no interceptor: the span is ours"
    name, value = metadata[-1]
    version, trace_id, span_id, flags = value.split("-")
    assert (name, version) == ("traceparent", "00")
    assert (trace_id, span_id) == (
        f"{client.context.trace_id:032x}",
        f"{client.context.span_id:016x}",
    )
    assert int(flags, 16) & 1, "the server is told the call is sampled"
