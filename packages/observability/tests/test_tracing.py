"""Tracing configuration from the environment, and W3C propagation through headers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bijmantra.observability import (
    context_from_headers,
    context_from_traceparent,
    current_traceparent,
    inject_headers,
    untraced,
)
from bijmantra.observability.tracing_setup import span_exporters
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, set_span_in_context


def test_tracing_is_off_without_an_exporter() -> None:
    assert span_exporters("gateway", {}) == []
    assert span_exporters("gateway", {"OTEL_EXPORTER_OTLP_ENDPOINT": ""}) == []  # chart default
    assert span_exporters("gateway", {"OTEL_TRACES_EXPORTER": "none"}) == []


def test_an_otlp_endpoint_alone_turns_on_otlp_over_grpc_or_http() -> None:
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}
    [grpc_exporter] = span_exporters("gateway", endpoint)
    assert isinstance(grpc_exporter, GrpcExporter)
    [http_exporter] = span_exporters(
        "gateway", {**endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    )
    assert isinstance(http_exporter, HttpExporter)
    for exporter in (grpc_exporter, http_exporter):
        exporter.shutdown()


def test_sdk_disabled_wins_and_unknown_choices_are_refused(tmp_path: Path) -> None:
    env = {
        "OTEL_SDK_DISABLED": "true",
        "OTEL_TRACES_EXPORTER": "otlp",
        "BIJMANTRA_TRACE_FILE": str(tmp_path / "t"),
    }
    assert span_exporters("gateway", env) == []
    with pytest.raises(ValueError, match="zipkin"):
        span_exporters("gateway", {"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(ValueError, match="grpc, http/protobuf"):
        span_exporters(
            "gateway", {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}
        )


def test_console_and_per_service_trace_files(tmp_path: Path) -> None:
    env = {
        "OTEL_TRACES_EXPORTER": "console",
        "BIJMANTRA_TRACE_FILE": str(tmp_path / "{service}.jsonl"),
    }
    console, to_file = span_exporters("domain-api", env)
    assert isinstance(console, ConsoleSpanExporter)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(to_file))
    with provider.get_tracer("test").start_as_current_span("outer"):
        provider.get_tracer("test").start_span("inner").end()
    provider.shutdown()
    lines = (tmp_path / "domain-api.jsonl").read_text().splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["inner", "outer"]


def test_headers_carry_the_trace_to_a_child_in_another_process() -> None:
    tracer = TracerProvider().get_tracer("test")
    parent = tracer.start_span("publish")
    headers = dict(inject_headers({"Nats-Msg-Id": "e1"}, set_span_in_context(parent)))
    assert headers["Nats-Msg-Id"] == "e1"
    child = tracer.start_span("process", context=context_from_headers(headers))
    assert child.get_span_context().trace_id == parent.get_span_context().trace_id
    assert child.parent is not None
    assert child.parent.span_id == parent.get_span_context().span_id
    stored = headers["traceparent"]  # what an outbox row keeps
    later = tracer.start_span("send", context=context_from_traceparent(stored))
    assert later.parent is not None
    assert later.parent.span_id == parent.get_span_context().span_id


def test_without_a_current_span_nothing_is_stored_or_extracted() -> None:
    assert current_traceparent() is None
    assert context_from_headers(None) == context_from_headers({})
    tracer = TracerProvider().get_tracer("test")
    assert tracer.start_span("root", context=context_from_traceparent(None)).parent is None


def test_untraced_silences_instrumentation_only_inside() -> None:
    assert is_instrumentation_enabled()
    with untraced():
        assert not is_instrumentation_enabled()
    assert is_instrumentation_enabled()


def test_the_trace_file_holds_what_the_sdks_own_json_says(tmp_path: Path) -> None:
    """The compact exporter writes the fields of ``span.to_json()``, values and all."""
    to_file = span_exporters("gateway", {"BIJMANTRA_TRACE_FILE": str(tmp_path / "{service}.jsonl")})
    kept = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "gateway"}))
    provider.add_span_processor(SimpleSpanProcessor(to_file[0]))
    provider.add_span_processor(SimpleSpanProcessor(kept))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("outer", kind=SpanKind.SERVER) as outer:
        outer.set_attribute("http.route", "/brapi/v2/germplasm/{db_id}")
        link = Link(outer.get_span_context(), {"why": "batch"})
        with tracer.start_as_current_span("inner", links=[link]) as inner:
            inner.add_event("retry", {"attempt": 2})
            inner.set_status(Status(StatusCode.ERROR, "gone"))
    provider.shutdown()
    written = [json.loads(line) for line in (tmp_path / "gateway.jsonl").read_text().splitlines()]
    assert written == [json.loads(span.to_json()) for span in kept.get_finished_spans()]
