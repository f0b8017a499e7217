"""The gRPC server gate (``HeadSampledServer``) on a real grpc.aio server, with the real
OpenTelemetry gRPC and SQLAlchemy instrumentations: what a call costs in spans started."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any

import grpc
import pytest
import sqlalchemy
from bijmantra.observability.grpc_sampling import HeadSampledServer
from bijmantra.observability.tracing import current_traceparent
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler, SamplingResult

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT = f"00-{TRACE_ID}-b7ad6b7169203331-{{flags}}"
METHOD = "/bench.Echo/Get"


class CountingSampler(Sampler):
    """Every span the tracer is asked to start passes here, recording or not."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self._inner = ParentBased(ALWAYS_ON)

    def should_sample(
        self, parent_context: Any, trace_id: int, name: str, *args: Any, **kwargs: Any
    ) -> SamplingResult:
        self.asked.append(name)
        return self._inner.should_sample(parent_context, trace_id, name, *args, **kwargs)

    def get_description(self) -> str:
        return "counting"


@pytest.fixture
def world() -> Iterator[tuple[TracerProvider, CountingSampler, InMemorySpanExporter, Any]]:
    sampler = CountingSampler()
    provider = TracerProvider(sampler=sampler)
    exported = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    engine = sqlalchemy.create_engine("sqlite://")
    SQLAlchemyInstrumentor().instrument(
        engine=engine, tracer_provider=provider, skip_dep_check=True
    )
    try:
        yield provider, sampler, exported, engine
    finally:
        SQLAlchemyInstrumentor().uninstrument()
        engine.dispose()


async def call(provider: TracerProvider, engine: Any, metadata: Sequence[tuple[str, str]]) -> str:
    """One unary call to a real server whose handler runs a SQL statement; returns the
    ``traceparent`` the handler saw as current (what its outbox rows would carry)."""

    async def get(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("select 1"))
        return (current_traceparent() or "").encode()

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Get": grpc.unary_unary_rpc_method_handler(get)}
    )
    traced = aio_server_interceptor(tracer_provider=provider)
    server = grpc.aio.server(interceptors=[HeadSampledServer(traced, provider.get_tracer("t"))])
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = await channel.unary_unary(METHOD)(b"", metadata=tuple(metadata), timeout=10)
            return bytes(reply).decode()
    finally:
        await server.stop(None)


def test_an_unsampled_call_starts_no_span_and_keeps_the_callers_trace_id(world: Any) -> None:
    provider, sampler, exported, engine = world
    seen = asyncio.run(call(provider, engine, [("traceparent", PARENT.format(flags="00"))]))
    assert sampler.asked == [], "neither the gRPC nor the SQL instrumentation started a span"
    assert exported.get_finished_spans() == ()
    assert seen.split("-")[1] == TRACE_ID, "outbox rows and logs still carry the trace id"
    assert seen.endswith("-00"), "and pass the 'not sampled' decision on"


def test_a_sampled_call_is_fully_traced_under_the_callers_trace(world: Any) -> None:
    provider, _sampler, exported, engine = world
    seen = asyncio.run(call(provider, engine, [("traceparent", PARENT.format(flags="01"))]))
    spans = exported.get_finished_spans()
    [server] = [s for s in spans if s.kind == trace.SpanKind.SERVER]
    sql = [s for s in spans if s.kind == trace.SpanKind.CLIENT]
    assert [s.name for s in sql if "select" in s.name.lower()], "the statement has its span"
    assert {f"{s.context.trace_id:032x}" for s in spans} == {TRACE_ID}
    assert server.parent is not None
    assert f"{server.parent.span_id:016x}" == "b7ad6b7169203331"
    assert all(s.parent is not None and s.parent.span_id == server.context.span_id for s in sql)
    assert seen.endswith("-01")


@pytest.mark.parametrize(
    "metadata",
    [
        [],  # a new trace: the service's own sampler decides, as before
        [("traceparent", "garbage")],
        [("traceparent", f"00-{'0' * 32}-b7ad6b7169203331-00")],  # invalid trace id
        [("traceparent", f"00-{TRACE_ID}-b7ad6b7169203331-zz")],
    ],
)
def test_a_call_without_a_readable_unsampled_parent_takes_the_traced_path(
    world: Any, metadata: list[tuple[str, str]]
) -> None:
    provider, _sampler, exported, engine = world
    asyncio.run(call(provider, engine, metadata))
    assert any(s.kind == trace.SpanKind.SERVER for s in exported.get_finished_spans())
