"""Litestar wiring shared by gateway and identity: the OTel plugin, RED metrics, /metrics.

Uses Litestar's own OpenTelemetry and Prometheus plugins; this module only fixes the
choices (route templates as labels, probes and scrapes left out of traces).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bijmantra.observability.tracing_setup import Tracing
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

UNTRACED_PATHS = ["^/health/", "^/metrics$"]


class MetricsController(PrometheusController):
    """``GET /metrics`` in the Prometheus text format; public like the health probes."""

    opt = {"public": True}


@dataclass
class HttpObservability:
    route_handlers: list[Any] = field(default_factory=list)
    middleware: list[Any] = field(default_factory=list)
    plugins: list[Any] = field(default_factory=list)


def http_observability(service: str, tracing: Tracing) -> HttpObservability:
    """``http_requests_total`` / ``http_request_duration_seconds`` by method, route, status."""
    metrics = PrometheusConfig(
        app_name=service, prefix="http", group_path=True, exclude=["^/metrics$"]
    )
    plugins: list[Any] = []
    if tracing.enabled:
        plugins.append(
            OpenTelemetryPlugin(
                OpenTelemetryConfig(exclude=UNTRACED_PATHS, exclude_spans=["receive", "send"])
            )
        )
    return HttpObservability(
        route_handlers=[MetricsController], middleware=[metrics.middleware], plugins=plugins
    )
