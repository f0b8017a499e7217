"""Logging and tracing helpers shared by every service (OpenTelemetry API only here)."""

from bijmantra.observability.logging import bind_context, clear_context, configure_logging, get_logger
from bijmantra.observability.shutdown import install_shutdown_handlers

__all__ = [
    "bind_context",
    "clear_context",
    "configure_logging",
    "get_logger",
    "install_shutdown_handlers",
]
