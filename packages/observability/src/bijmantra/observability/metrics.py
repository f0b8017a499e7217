"""Prometheus metrics shared by the services (one registry per process).

Names follow the Prometheus conventions the Grafana dashboard (deployments/grafana) charts:
RED per gRPC method, database pool use, consumer lag and redeliveries, and how long event
handlers and analysis jobs take. Every metric here has labels, so a process exports only
the series it records; the unlabelled outbox gauges live in domain-api, which owns the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

GRPC_SERVER_STARTED = Counter(
    "grpc_server_started", "RPCs started on the server.", ["grpc_service", "grpc_method"]
)
GRPC_SERVER_HANDLED = Counter(
    "grpc_server_handled",
    "RPCs completed on the server, by status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
GRPC_SERVER_HANDLING = Histogram(
    "grpc_server_handling_seconds",
    "Time to handle an RPC on the server.",
    ["grpc_service", "grpc_method"],
)
PAGE_CACHE_REQUESTS = Counter(
    "gateway_page_cache_requests",
    "BrAPI list requests answered from a kept, still current page (hit) or read afresh (miss).",
    ["result"],
)
DB_POOL_IN_USE = Gauge(
    "db_pool_connections_in_use", "Connections checked out of the pool.", ["pool"]
)
DB_POOL_IDLE = Gauge("db_pool_connections_idle", "Connections idle in the pool.", ["pool"])
DB_POOL_SIZE = Gauge("db_pool_size", "Configured pool size (without overflow).", ["pool"])
CONSUMER_PENDING = Gauge(
    "consumer_pending_messages",
    "Stream messages not yet delivered to the durable consumer.",
    ["consumer"],
)
CONSUMER_ACK_PENDING = Gauge(
    "consumer_ack_pending_messages",
    "Messages delivered to the consumer and not yet acknowledged.",
    ["consumer"],
)
CONSUMER_REDELIVERIES = Counter(
    "consumer_redeliveries",
    "Messages received again after a failed or timed-out delivery.",
    ["consumer"],
)
CONSUMER_DEAD_LETTERS = Gauge(
    "consumer_dead_letters",
    "Dead letters of the consumer held on the stream now, waiting to be replayed (ADR 0372).",
    ["consumer"],
)
CONSUMER_DEAD_LETTERED = Counter(
    "consumer_dead_lettered",
    "Messages the consumer set aside as dead letters, by reason: undecodable, process_died, "
    "or the type of the exception its handler raised on its last delivery (ADR 0372).",
    ["consumer", "reason"],
)
EVENT_HANDLING = Histogram(
    "consumer_handle_duration_seconds",
    "Time a consumer spends on one event, by outcome (ok, retry, dead_letter).",
    ["consumer", "event_type", "outcome"],
)
QUOTA_REFUSALS = Counter(
    "quota_refusals",
    "Writes refused because their organization's day of a resource was used up (ADR 0340).",
    ["resource"],
)
STORAGE_REFUSALS = Counter(
    "storage_refusals",
    "Writes refused because their organization stores its cap of a resource (ADR 0343).",
    ["resource"],
)
CONTENDED_TRANSACTIONS = Counter(
    "contended_transactions",
    "Transactions PostgreSQL gave up under concurrency, answered 503 (ADR 0355), by SQLSTATE.",
    ["sqlstate"],
)
ANALYSIS_JOB_DURATION = Histogram(
    "analysis_job_duration_seconds",
    "Wall time of one analysis job, by analysis and outcome.",
    ["analysis", "outcome"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)


def watch_pool(name: str, pool: Any) -> None:
    """Read a SQLAlchemy ``QueuePool``'s counters at scrape time (no polling task needed)."""
    DB_POOL_IN_USE.labels(name).set_function(pool.checkedout)
    DB_POOL_IDLE.labels(name).set_function(pool.checkedin)
    DB_POOL_SIZE.labels(name).set_function(pool.size)


# (interval in seconds, task): what a service runs with ``sample_every`` beside its work.
Periodic = tuple[float, Callable[[], Awaitable[None]]]


async def sample_every(
    interval: float, stop: asyncio.Event, sample: Callable[[], Awaitable[None]]
) -> None:
    """Run ``sample`` until ``stop``; a failing sample is logged and retried next time."""
    while not stop.is_set():
        try:
            await sample()
        except Exception:  # a metrics sample must never take the service down
            log.warning("metrics sample failed", exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


def serve_metrics(port: int, host: str) -> Any:
    """``/metrics`` on its own plaintext listener, never on the public or the mutual-TLS
    port (scrapers reach it inside the cluster); port 0: not served. With several granian
    workers the first binds it; the others' requests are then not counted there (as
    before, when a scrape reached one worker at random)."""
    if not port:
        return None
    try:
        server, _ = start_http_server(port, addr=host)
    except OSError as exc:
        log.warning("metrics port %s taken, not served by this worker: %s", port, exc)
        return None
    return server
