"""What tracing at 10 % adds to a request, counted in one process (issue 17, ADR 0255).

The stack's fixed-rate run (``bench_protections.py``, ``BENCH_PARTS=tracing``) measures a
whole request's CPU, but rounds on this shared host swing by ±15 %, three times the 5 %
target. Here each piece tracing puts on a request's path runs N times in this process beside
the same call without it, in interleaved rounds, timed with this process's own CPU clock:
microsecond loops that other tenants of the host barely reach. The nine requests in ten
that are not sampled pay:

- the gateway's head-sampling gate (``http.head_sampled``): header scan, a random trace id,
  a non-recording span context attached and detached, against calling the router directly;
- the gRPC client call (``SampledChannel``): the sampled check and the ``traceparent`` it
  adds, against calling the plain channel;
- domain-api's ``HeadSampledServer``: reading the ``traceparent`` and attaching the
  suppressed context, against no interceptor;
- a pooled transaction on an instrumented engine (SQLite in memory) with instrumentation
  suppressed, against an engine without it (and, per route, each statement through
  SQLAlchemy's ``execute``: the single GET reads through the driver and has none);
- one log line's trace ids (``_add_correlation``) with a span context, against none.

The sampled tenth pays its three spans instead (gateway server, gRPC client, domain-api
server), through the SDK and the trace file's exporter, plus the same transaction and log
line. At 10 %: 0.9 x unsampled + 0.1 x sampled; the stack's CPU per request with tracing off
(``bench/results/protections.json``) turns it into a share. JSON goes to
bench/results/tracing_cost.json.
"""

from __future__ import annotations

import contextvars
import json
import os
import statistics
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
CALLS = int(os.environ.get("BENCH_CALLS", "20000"))
# The single GET (one document by id) reads through the driver, not SQLAlchemy's execute:
# its statements fire no cursor events. Other routes: BENCH_STATEMENTS=N.
STATEMENTS_PER_REQUEST = int(os.environ.get("BENCH_STATEMENTS", "0"))
LOG_LINES_PER_REQUEST = int(os.environ.get("BENCH_LOG_LINES", "1"))


HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"python-httpx/0.28.1"),
    (b"accept", b"*/*"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"connection", b"keep-alive"),
    (b"authorization", b"Bearer " + b"x" * 600),
]
SCOPE = {"type": "http", "method": "GET", "scheme": "http", "headers": HEADERS}
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
METADATA = (("authorization", "Bearer " + "x" * 600), ("x-request-id", "r" * 32))


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Drive a coroutine that never suspends, without an event loop's own cost."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the coroutine suspended")


# Flushes of the sampled pieces' span processor: each timed loop ends with them.
FLUSH_AFTER_LOOP: list[Callable[[], Any]] = []


def cpu_per_call(call: Callable[[], Any]) -> float:
    """Microseconds of this process's CPU per call, over CALLS calls in a fresh context."""

    def loop() -> float:
        start = time.process_time_ns()
        for _ in range(CALLS):
            call()
        for flush in FLUSH_AFTER_LOOP:
            flush()
        return (time.process_time_ns() - start) / CALLS / 1000

    return contextvars.copy_context().run(loop)


def gate_pair() -> tuple[Callable[[], Any], Callable[[], Any]]:
    from bijmantra.observability.http import head_sampled

    async def router(scope: Any, receive: Any, send: Any) -> None:
        return None

    app = SimpleNamespace(asgi_handler=SimpleNamespace(app=router))
    head_sampled(app, 0.0)  # every new trace unsampled: the nine in ten
    gate = app.asgi_handler
    return (lambda: run(router(SCOPE, None, None)), lambda: run(gate(SCOPE, None, None)))


def unsampled_span() -> trace.NonRecordingSpan:
    return trace.NonRecordingSpan(trace.SpanContext(1 << 100, 1 << 50, False, trace.TraceFlags(0)))


def client_pair() -> tuple[Callable[[], Any], Callable[[], Any]]:
    from bijmantra.observability.grpc_sampling import _Pick

    def plain(request: Any, *, metadata: Any = None) -> Any:
        return metadata

    pick = _Pick(plain, plain, "/bijmantra.Germplasm/Get")
    span = unsampled_span()

    def sampled_check() -> Any:
        with trace.use_span(span):  # the gate's context, as at the gateway
            return pick(None, metadata=METADATA)

    def direct() -> Any:
        with trace.use_span(span):
            return plain(None, metadata=METADATA)

    return direct, sampled_check


def server_pair() -> tuple[Callable[[], Any], Callable[[], Any]]:
    from bijmantra.observability.grpc_sampling import HeadSampledServer

    handler = object()

    async def continuation(details: Any) -> Any:
        return handler

    details = SimpleNamespace(
        method="/bijmantra.Germplasm/Get",
        invocation_metadata=(*METADATA, ("traceparent", TRACEPARENT)),
    )
    server = HeadSampledServer(traced=None)

    def intercepted() -> Any:
        # grpc.aio: each RPC in its own task, so its own context (the attach ends with it).
        return contextvars.copy_context().run(
            lambda: run(server.intercept_service(continuation, details))
        )

    def direct() -> Any:
        return contextvars.copy_context().run(lambda: run(continuation(details)))

    return direct, intercepted


def sql_pairs() -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """An instrumented engine (SQLite in memory) against a plain one, instrumentation
    suppressed as on an unsampled request: a transaction whose statement goes to the driver
    directly (as the unit of work and the document reads do), and a statement through
    SQLAlchemy (``execute``), where the engine's cursor events fire."""
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import QueuePool

    plain = create_engine("sqlite://", poolclass=QueuePool)
    instrumented = create_engine("sqlite://", poolclass=QueuePool)
    SQLAlchemyInstrumentor().instrument(engine=instrumented, skip_dep_check=True)
    statement = text("SELECT 1")
    suppressed = otel_context.set_value(
        otel_context._SUPPRESS_INSTRUMENTATION_KEY,
        True,
        trace.set_span_in_context(unsampled_span()),
    )

    def suppressing(work: Callable[[], Any]) -> Callable[[], Any]:
        def call() -> Any:
            token = otel_context.attach(suppressed)
            try:
                return work()
            finally:
                otel_context.detach(token)

        return call

    def transaction(engine: Any) -> Callable[[], Any]:
        def work() -> Any:
            with engine.connect() as connection, connection.begin():
                return connection.connection.driver_connection.execute("SELECT 1").fetchone()

        return suppressing(work)

    connections = plain.connect(), instrumented.connect()

    def sqlalchemy_statement(connection: Any) -> Callable[[], Any]:
        return suppressing(lambda: connection.execute(statement).scalar())

    return {
        "sql_transaction": (transaction(plain), transaction(instrumented)),
        "sql_statement": (
            sqlalchemy_statement(connections[0]),
            sqlalchemy_statement(connections[1]),
        ),
    }


def log_pair() -> tuple[Callable[[], Any], Callable[[], Any]]:
    from bijmantra.observability.logging import _add_correlation

    span = unsampled_span()

    def without() -> Any:
        return _add_correlation(None, "info", {"event": "request"})

    def with_ids() -> Any:
        with trace.use_span(span):
            return _add_correlation(None, "info", {"event": "request"})

    def baseline() -> Any:
        with trace.use_span(trace.INVALID_SPAN):
            return without()

    return baseline, with_ids


def sampled_pairs() -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """The sampled request's own spans, through the SDK and the trace file's exporter (to
    /dev/null) as the services configure them: the gateway's server span, the gRPC client
    span and domain-api's server span. Each timed loop ends with a flush, so the exporter's
    work (on its own thread, counted in this process's CPU) falls inside the loop."""
    import grpc
    from bijmantra.observability.grpc_sampling import HeadSampledServer, _Pick
    from bijmantra.observability.http import head_sampled
    from bijmantra.observability.tracing_setup import JsonLinesSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

    provider = TracerProvider(sampler=ParentBased(ALWAYS_ON))
    # A queue that holds a whole loop: the default (2,048) would drop spans and their cost.
    processor = BatchSpanProcessor(
        JsonLinesSpanExporter(open(os.devnull, "w", encoding="utf-8")),  # noqa: SIM115
        max_queue_size=4 * CALLS,
    )
    provider.add_span_processor(processor)
    tracer = provider.get_tracer(__name__)

    FLUSH_AFTER_LOOP.append(processor.force_flush)

    async def router(scope: Any, receive: Any, send: Any) -> None:
        return None

    app = SimpleNamespace(asgi_handler=SimpleNamespace(app=router))
    head_sampled(app, 1.0, tracer)
    gate = app.asgi_handler

    async def unary(request: Any, *, metadata: Any = None) -> Any:
        return metadata

    pick = _Pick(unary, unary, "/bijmantra.Germplasm/Get", tracer)
    recording = tracer.start_span("request")

    def client_call() -> Any:
        with trace.use_span(recording):
            return run(pick(None, metadata=METADATA))

    async def behavior(request: Any, context: Any) -> Any:
        return request

    handler: Any = grpc.unary_unary_rpc_method_handler(behavior)

    async def continuation(details: Any) -> Any:
        return handler

    sampled = TRACEPARENT[:-2] + "01"
    details = SimpleNamespace(
        method="/bijmantra.Germplasm/Get",
        invocation_metadata=(*METADATA, ("traceparent", sampled)),
    )
    server = HeadSampledServer(traced=None, tracer=tracer)
    servicer_context = SimpleNamespace(code=lambda: None)

    async def served() -> Any:
        wrapped = await server.intercept_service(continuation, details)
        return await wrapped.unary_unary(None, servicer_context)

    async def plain_served() -> Any:
        found = await continuation(details)
        return await found.unary_unary(None, servicer_context)

    return {
        "sampled_gateway_span": (
            lambda: run(router(SCOPE, None, None)),
            lambda: run(gate(SCOPE, None, None)),
        ),
        "sampled_grpc_client_span": (
            lambda: run(unary(None, metadata=METADATA)),
            client_call,
        ),
        "sampled_grpc_server_span": (lambda: run(plain_served()), lambda: run(served())),
    }


SAMPLED_ONLY = ("sampled_gateway_span", "sampled_grpc_client_span", "sampled_grpc_server_span")
TEN_PERCENT = 0.1


def tracing_off_cpu_ms() -> float | None:
    """The stack's median CPU per single GET with tracing off, from the last fixed-rate run."""
    path = RESULTS / "protections.json"
    try:
        rounds = json.loads(path.read_text())["tracing"]["single_get"]["rounds"]["tracing_off"]
    except (OSError, KeyError, ValueError):
        return None
    return float(statistics.median(r["cpu_ms_per_request"] for r in rounds))


PER_REQUEST = {"sql_statement": STATEMENTS_PER_REQUEST, "log_line": LOG_LINES_PER_REQUEST}


def main() -> None:
    pairs = {
        "gateway_gate": gate_pair(),
        "grpc_client": client_pair(),
        "grpc_server": server_pair(),
        **sql_pairs(),
        "log_line": log_pair(),
        **sampled_pairs(),
    }
    added: dict[str, list[float]] = {name: [] for name in pairs}
    baselines: dict[str, list[float]] = {name: [] for name in pairs}
    for round_ in range(ROUNDS):
        for name, (baseline, traced) in pairs.items():
            # Alternate which side goes first, so a change in load falls on both.
            if round_ % 2:
                with_tracing, without = cpu_per_call(traced), cpu_per_call(baseline)
            else:
                without, with_tracing = cpu_per_call(baseline), cpu_per_call(traced)
            added[name].append(with_tracing - without)
            baselines[name].append(without)
    pieces = {
        name: {
            "added_us_median": round(statistics.median(values), 3),
            "added_us_rounds": [round(v, 3) for v in values],
            "baseline_us_median": round(statistics.median(baselines[name]), 3),
            "per_request": PER_REQUEST.get(name, 1),
        }
        for name, values in added.items()
    }
    median = {
        name: statistics.median(values) * PER_REQUEST.get(name, 1) for name, values in added.items()
    }
    unsampled_us = sum(v for name, v in median.items() if name not in SAMPLED_ONLY)
    # A sampled request pays its spans instead of the gate's and interceptors' unsampled
    # branches, and the same transaction and log line.
    sampled_us = sum(median[name] for name in (*SAMPLED_ONLY, "sql_transaction", "log_line"))
    ten_percent_us = (1 - TEN_PERCENT) * unsampled_us + TEN_PERCENT * sampled_us
    report: dict[str, Any] = {
        "meta": {
            "rounds": ROUNDS,
            "calls_per_round": CALLS,
            "load_average": os.getloadavg(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        "pieces": pieces,
        "unsampled_us_per_request": round(unsampled_us, 2),
        "sampled_us_per_request": round(sampled_us, 2),
        "ten_percent_us_per_request": round(ten_percent_us, 2),
    }
    off_ms = tracing_off_cpu_ms()
    if off_ms:
        report["tracing_off_cpu_ms_per_request"] = off_ms
        report["ten_percent_cpu_share"] = round(ten_percent_us / 1000 / off_ms, 4)
    for name, piece in pieces.items():
        print(
            f"  {name}: +{piece['added_us_median']:.2f} µs x {piece['per_request']} "
            f"(rounds {min(added[name]):.2f}-{max(added[name]):.2f})",
            flush=True,
        )
    print(
        f"  per request: unsampled {unsampled_us:.1f} µs, sampled {sampled_us:.1f} µs, "
        f"at 10 % {ten_percent_us:.1f} µs"
        + (
            f" = {report['ten_percent_cpu_share']:.2%} of {off_ms} ms (tracing off)"
            if off_ms
            else ""
        ),
        flush=True,
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tracing_cost.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
