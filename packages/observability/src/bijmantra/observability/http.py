"""Litestar wiring shared by gateway and identity: the OTel plugin, RED metrics, /metrics.

Uses Litestar's own OpenTelemetry and Prometheus plugins; this module only fixes the
choices (route templates as labels, probes and scrapes left out of traces).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bijmantra.observability.http_metrics import red_metrics
from bijmantra.observability.tracing import parse_traceparent
from bijmantra.observability.tracing_setup import Tracing
from litestar.enums import ScopeType
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.plugins.prometheus import PrometheusController
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE

UNTRACED_PATHS = ["^/health/", "^/metrics$"]
_SUPPRESSED = otel_context._SUPPRESS_INSTRUMENTATION_KEY


class MetricsController(PrometheusController):
    """``GET /metrics`` in the Prometheus text format; public like the health probes."""

    opt = {"public": True}


def method_only_span_details(scope: Scope) -> tuple[str, dict[str, str]]:
    """The server span's first name: the method alone, never the raw URL (ids in span names
    mean unbounded cardinality in every tracing backend). ``name_span_by_route`` completes it
    once Litestar has routed the request."""
    return str(scope.get("method") or scope.get("type", "")).strip(), {}


def name_span_by_route(app: ASGIApp) -> ASGIApp:
    """Rename the server span ``GET /brapi/v2/germplasm/{db_id}`` and set ``http.route``.

    Runs as Litestar middleware, i.e. after routing, where ``path_template`` is known.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        span = trace.get_current_span()
        route = scope.get("path_template")
        if route and span.is_recording():
            span.update_name(f"{scope.get('method', '')} {route}".strip())
            span.set_attribute(HTTP_ROUTE, route)
        await app(scope, receive, send)

    return middleware


@dataclass
class HttpObservability:
    route_handlers: list[Any] = field(default_factory=list)
    middleware: list[Any] = field(default_factory=list)
    plugins: list[Any] = field(default_factory=list)


def http_observability(service: str, tracing: Tracing) -> HttpObservability:
    """``http_requests_total`` / ``http_request_duration_seconds`` by method, route, status
    (HTTP requests only: a WebSocket session is no request to time, and the middleware would
    otherwise wrap every frame the live feed sends)."""
    plugins: list[Any] = []
    if tracing.enabled:
        plugins.append(
            OpenTelemetryPlugin(
                OpenTelemetryConfig(
                    exclude=UNTRACED_PATHS,
                    exclude_spans=["receive", "send"],
                    scope_span_details_extractor=method_only_span_details,
                )
            )
        )
    middleware = [red_metrics(service), *([name_span_by_route] if tracing.enabled else [])]
    return HttpObservability(
        route_handlers=[MetricsController], middleware=middleware, plugins=plugins
    )


def _traceparent(scope: Scope) -> trace.SpanContext | None:
    """The caller's ``traceparent`` (W3C, version 00) if it is well formed."""
    for key, value in scope["headers"]:
        if key == b"traceparent":
            return parse_traceparent(value.decode("latin-1"))
    return None


def head_sampled(app: Any, ratio: float, tracer: trace.Tracer | None = None) -> None:
    """Decide each HTTP request's sampling before any instrumentation runs (ADR 0080, 0255).

    Litestar wraps its whole router in the OpenTelemetry ASGI middleware, which builds
    attribute dictionaries, starts a span, wraps ``send`` and ``receive`` and records metrics
    for every request. Here no request goes through it: a sampled request (the caller's
    ``traceparent`` says so, or a new trace falls in ``ratio``) gets one server span started
    here — method, status, and the route once routed (``name_span_by_route``); the others go
    to the router with only a non-recording span context attached, which downstream calls
    propagate as "not sampled" and the log context still reads its trace id from.
    """
    instrumented = app.asgi_handler
    plain = getattr(instrumented, "app", None)
    if plain is None:  # not the OpenTelemetry middleware: tracing is off
        return
    # The SDK's own ids, and its ratio rule: a new trace is sampled when the low 64 bits of
    # its id fall under the ratio's bound, as every ``TraceIdRatioBased`` sampler decides.
    ids, bound = RandomIdGenerator(), TraceIdRatioBased(ratio).bound
    spans = tracer or trace.get_tracer(__name__)

    async def traced(scope: Scope, receive: Receive, send: Send, parent: Any) -> None:
        method = str(scope.get("method", ""))
        context = otel_context.Context() if parent is None else _remote(parent)
        attributes = {"http.request.method": method, "url.scheme": str(scope.get("scheme", ""))}
        with spans.start_as_current_span(
            method, context=context, kind=trace.SpanKind.SERVER, attributes=attributes
        ) as span:

            async def send_with_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                    if message["status"] >= 500:
                        span.set_status(trace.StatusCode.ERROR)
                await send(message)

            await plain(scope, receive, send_with_status)

    async def gate(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await instrumented(scope, receive, send)
            return
        parent = _traceparent(scope)
        if parent is None:
            trace_id = ids.generate_trace_id()
            sampled = trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < bound
            unsampled = trace.SpanContext(
                trace_id, ids.generate_span_id(), False, trace.TraceFlags(0)
            )
        else:
            sampled, unsampled = parent.trace_flags.sampled, parent
        if sampled:
            await traced(scope, receive, send, parent)
            return
        # Automatic instrumentation (Redis, SQL) would only start non-recording spans here.
        context = trace.set_span_in_context(trace.NonRecordingSpan(unsampled))
        token = otel_context.attach(otel_context.set_value(_SUPPRESSED, True, context))
        try:
            await plain(scope, receive, send)
        finally:
            otel_context.detach(token)

    app.asgi_handler = gate


def _remote(parent: trace.SpanContext) -> otel_context.Context:
    return trace.set_span_in_context(trace.NonRecordingSpan(parent))
