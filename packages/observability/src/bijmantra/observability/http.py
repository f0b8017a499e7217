"""Litestar wiring shared by gateway and identity: the OTel plugin, RED metrics, /metrics.

Uses Litestar's own OpenTelemetry and Prometheus plugins; this module only fixes the
choices (route templates as labels, probes and scrapes left out of traces).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bijmantra.observability.tracing_setup import Tracing
from litestar.enums import ScopeType
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.types import ASGIApp, Receive, Scope, Send
from opentelemetry import trace
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE

UNTRACED_PATHS = ["^/health/", "^/metrics$"]


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
    """``http_requests_total`` / ``http_request_duration_seconds`` by method, route, status."""
    # HTTP requests only: a WebSocket session is no request to time, and the middleware
    # would otherwise wrap every frame the live feed sends (one more hop per event).
    metrics = PrometheusConfig(
        app_name=service,
        prefix="http",
        group_path=True,
        exclude=["^/metrics$"],
        scopes={ScopeType.HTTP},
    )
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
    middleware = [metrics.middleware, *([name_span_by_route] if tracing.enabled else [])]
    return HttpObservability(
        route_handlers=[MetricsController], middleware=middleware, plugins=plugins
    )
