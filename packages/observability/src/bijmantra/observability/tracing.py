"""Trace propagation with the OpenTelemetry *API* only, safe to use from library code.

Without an SDK installed by a service bootstrap every call here is a cheap no-op, so
adapters can always propagate and never decide whether tracing is on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context

TRACEPARENT = "traceparent"


def get_tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def inject_headers(
    headers: MutableMapping[str, str], context: Context | None = None
) -> MutableMapping[str, str]:
    """Write the W3C trace context (``traceparent``, ``tracestate``, baggage) into ``headers``."""
    propagate.inject(headers, context=context)
    return headers


def context_from_headers(headers: Mapping[str, str] | None) -> Context:
    """The remote parent carried in message headers (empty context when there is none)."""
    return propagate.extract(dict(headers or {}))


def current_traceparent() -> str | None:
    """The current span as a ``traceparent`` value, to store beside work done later (outbox)."""
    return inject_headers({}).get(TRACEPARENT)


def context_from_traceparent(traceparent: str | None) -> Context:
    return context_from_headers({TRACEPARENT: traceparent} if traceparent else None)


@contextlib.contextmanager
def untraced() -> Iterator[None]:
    """Silence automatic instrumentation (SQL, gRPC, Redis) for background loops.

    A relay or health loop polling every second would otherwise open a root trace per
    poll. Tasks created inside inherit the setting; spans started explicitly still record.
    """
    token = otel_context.attach(
        otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True)
    )
    try:
        yield
    finally:
        otel_context.detach(token)
