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


def parse_traceparent(traceparent: str) -> trace.SpanContext | None:
    """The caller's span from a ``traceparent`` (W3C version 00), or None when it is not well
    formed. Read by the server-side samplers, which decide before any propagator runs."""
    parts = traceparent.strip().split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16 or len(parts[3]) != 2:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    return trace.SpanContext(trace_id, span_id, is_remote=True, trace_flags=trace.TraceFlags(flags))


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
