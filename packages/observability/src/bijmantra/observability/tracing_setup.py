"""The OpenTelemetry SDK, configured once per process by a service bootstrap.

The only module outside the services allowed to import ``opentelemetry.sdk`` and the
instrumentation packages (an import-linter contract keeps it that way). Configuration
follows the standard ``OTEL_*`` variables; tracing stays off unless an exporter is asked
for, so a local run pays nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.sdk.util import ns_to_iso_str

TRACE_FILE_ENV = "BIJMANTRA_TRACE_FILE"


@dataclass
class Tracing:
    """What a bootstrap needs: whether to instrument, and how to flush on shutdown."""

    provider: TracerProvider | None = None
    # The share of new traces a head-sampling service starts (None: the SDK sampler decides).
    head_ratio: float | None = None

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def grpc_server_interceptors(self) -> list[Any]:
        if not self.enabled:
            return []
        from bijmantra.observability.grpc_sampling import HeadSampledServer
        from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

        health = filters.negate(filters.health_check())
        # opentelemetry-instrumentation-grpc ships no type information: called as untyped
        untyped_server: Callable[..., Any] = aio_server_interceptor
        traced = untyped_server(filter_=health)
        return [HeadSampledServer(traced)]

    def client_channel(self, factory: Callable[[list[Any]], Any]) -> Any:
        """A gRPC channel whose calls pay for the client interceptors only when the calling
        request is sampled (``factory(interceptors)`` builds one channel)."""
        plain = factory([])
        if not self.enabled:
            return plain
        from bijmantra.observability.grpc_sampling import SampledChannel

        return SampledChannel(plain, factory(self.grpc_client_interceptors()))

    def grpc_client_interceptors(self) -> list[Any]:
        if not self.enabled:
            return []
        from opentelemetry.instrumentation.grpc import aio_client_interceptors, filters

        health = filters.negate(filters.health_check())
        # opentelemetry-instrumentation-grpc ships no type information: called as untyped
        untyped_client: Callable[..., Any] = aio_client_interceptors
        return list(untyped_client(filter_=health))

    def instrument_sqlalchemy(self, engine: Any) -> None:
        """Spans for every statement on this (async) engine."""
        if self.enabled:
            from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

            # The instrumentation declares "sqlalchemy < 2.1" but only uses the stable engine
            # events API; tests/e2e/test_observability.py proves the spans on our version.
            SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, skip_dep_check=True)

    def instrument_redis(self) -> None:
        if self.enabled:
            from opentelemetry.instrumentation.redis import RedisInstrumentor

            RedisInstrumentor().instrument()

    def shutdown(self) -> None:
        """Flush queued spans; call it on the way out (atexit does not run in granian workers)."""
        if self.provider is not None:
            self.provider.shutdown()


def configure_tracing(
    service: str, env: Mapping[str, str] = os.environ, *, head_sampling: bool = False
) -> Tracing:
    """Install a global ``TracerProvider`` when the environment asks for any exporter.

    ``head_sampling``: the service (the gateway, where traces start) decides new traces
    itself before any instrumentation runs (``http.head_sampled``), at the ratio the
    standard ``OTEL_TRACES_SAMPLER`` variables ask for; the SDK then follows that decision.
    """
    exporters = span_exporters(service, env)
    if not exporters:
        return Tracing()
    attributes = {} if env.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    ratio = head_ratio(env) if head_sampling else None
    sampler = ParentBased(ALWAYS_ON) if ratio is not None else None  # None: from OTEL_* env
    provider = TracerProvider(resource=Resource.create(attributes), sampler=sampler)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return Tracing(provider, ratio)


def head_ratio(env: Mapping[str, str]) -> float:
    """The share of new traces ``OTEL_TRACES_SAMPLER`` / ``_ARG`` ask for (default: all)."""
    name = env.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    if name.endswith("always_on"):
        return 1.0
    if name.endswith("always_off"):
        return 0.0
    if name.endswith("traceidratio"):
        ratio = float(env.get("OTEL_TRACES_SAMPLER_ARG", "1.0") or "1.0")
        return min(1.0, max(0.0, ratio))
    raise ValueError(f"OTEL_TRACES_SAMPLER: unsupported sampler {name!r} for head sampling")


def span_exporters(service: str, env: Mapping[str, str]) -> list[SpanExporter]:
    """The exporters the environment asks for; an empty list means tracing stays off."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    if not names and (
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        names = ["otlp"]  # an endpoint alone means "export there", as operators expect
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "otlp":
            exporters.append(_otlp_exporter(env))
        elif name == "console":
            exporters.append(ConsoleSpanExporter(service_name=service))
        elif name != "none":
            raise ValueError(
                f"OTEL_TRACES_EXPORTER: unsupported exporter {name!r} (otlp, console, none)"
            )
    if trace_file := env.get(TRACE_FILE_ENV):
        exporters.append(
            json_lines_exporter(Path(trace_file.format(service=service, pid=os.getpid())))
        )
    return exporters


def _otlp_exporter(env: Mapping[str, str]) -> SpanExporter:
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    )
    # endpoint, headers, timeout, TLS: each exporter reads them from OTEL_EXPORTER_OTLP_*
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http import trace_exporter as http_exporter

        return http_exporter.OTLPSpanExporter()
    raise ValueError(
        f"OTEL_EXPORTER_OTLP_PROTOCOL: unsupported protocol {protocol!r} (grpc, http/protobuf)"
    )


def json_lines_exporter(path: Path) -> SpanExporter:
    """One span per line as OTLP-like JSON: for debugging and for tests that read traces back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return JsonLinesSpanExporter(path.open("a", encoding="utf-8"))


class JsonLinesSpanExporter(SpanExporter):
    """The SDK's ``span.to_json()`` fields, written compactly with one write per batch.

    ``to_json`` pretty-prints through an ordered dict and re-encodes the resource with every
    span; the exporter runs on the service's own CPU, so with traces on it cost more than
    creating the spans (about 55 µs a span against 24)."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._resources: dict[int, dict[str, Any]] = {}

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [json.dumps(self._document(span), separators=(",", ":")) for span in spans]
        self._out.write("\n".join(lines) + "\n")
        self._out.flush()
        return SpanExportResult.SUCCESS

    def _document(self, span: ReadableSpan) -> dict[str, Any]:
        context, parent, status = span.get_span_context(), span.parent, span.status
        return {
            "name": span.name,
            "context": _context(context) if context is not None else None,
            "kind": str(span.kind),
            "parent_id": None if parent is None else f"0x{parent.span_id:016x}",
            "start_time": None if span.start_time is None else ns_to_iso_str(span.start_time),
            "end_time": None if span.end_time is None else ns_to_iso_str(span.end_time),
            "status": {"status_code": status.status_code.name}
            | ({"description": status.description} if status.description else {}),
            "attributes": dict(span.attributes or {}),
            "events": [
                {
                    "name": e.name,
                    "timestamp": ns_to_iso_str(e.timestamp),
                    "attributes": dict(e.attributes or {}),
                }
                for e in span.events
            ],
            "links": [
                {"context": _context(link.context), "attributes": dict(link.attributes or {})}
                for link in span.links
            ],
            "resource": self._resource(span.resource),
        }

    def _resource(self, resource: Resource) -> dict[str, Any]:
        found = self._resources.get(id(resource))
        if found is None:
            found = {"attributes": dict(resource.attributes), "schema_url": resource.schema_url}
            self._resources[id(resource)] = found
        return found

    def shutdown(self) -> None:
        self._out.close()


def _context(context: trace.SpanContext) -> dict[str, str]:
    return {
        "trace_id": f"0x{context.trace_id:032x}",
        "span_id": f"0x{context.span_id:016x}",
        "trace_state": repr(context.trace_state),
    }
