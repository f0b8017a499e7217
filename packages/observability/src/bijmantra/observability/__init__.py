"""Logging, metrics and trace propagation shared by every service.

Library code may use this package's root, ``tracing`` and ``metrics`` (OpenTelemetry API and
prometheus-client only). The SDK lives in ``tracing_setup``, which only service bootstraps call.
"""

from bijmantra.observability.logging import (
    bind_context,
    clear_context,
    configure_logging,
    get_logger,
)
from bijmantra.observability.shutdown import install_shutdown_handlers
from bijmantra.observability.tracing import (
    context_from_headers,
    context_from_traceparent,
    current_traceparent,
    get_tracer,
    inject_headers,
    untraced,
)

__all__ = [
    "bind_context",
    "clear_context",
    "configure_logging",
    "context_from_headers",
    "context_from_traceparent",
    "current_traceparent",
    "get_logger",
    "get_tracer",
    "inject_headers",
    "install_shutdown_handlers",
    "untraced",
]
