"""structlog JSON logs carrying request, trace and tenant ids on every line."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from opentelemetry import trace

CORRELATION_KEYS = ("trace_id", "span_id", "request_id", "tenant_id")
MAX_FIELD_CHARS = 16 * 1024


def _bounded(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """No field of a line past ``MAX_FIELD_CHARS``: a failed statement's text, an exception
    message quoting input, a traceback. One 44 MB line once carried a whole bulk write."""
    for key, value in event.items():
        if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
            cut = len(value) - MAX_FIELD_CHARS
            event[key] = f"{value[:MAX_FIELD_CHARS]}… [{cut} characters cut]"
    return event


def _add_correlation(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Every line carries the same four keys (null when unknown), so queries never miss one."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    for key in CORRELATION_KEYS:
        event.setdefault(key, None)
    return event


def configure_logging(service: str, level: str = "INFO") -> None:
    """JSON lines on stdout for the service and for stdlib loggers (grpc, sqlalchemy, …)."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_correlation,
        lambda _, __, event: {**event, "service": service},
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            _bounded,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _bounded,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)


def bind_context(**values: Any) -> None:
    structlog.contextvars.bind_contextvars(**values)


def clear_context() -> None:
    structlog.contextvars.clear_contextvars()
