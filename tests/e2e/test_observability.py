"""Traces, logs and metrics of the four real services, read back from what they export.

The stack runs with the file span exporter (``BIJMANTRA_TRACE_FILE``), one JSON-lines file
per service, so the test sees exactly what an OTLP collector would receive.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bijmantra.devstack.stack import DevStack, running_stack
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.e2e]
SERVICES = ("gateway", "identity", "domain-api", "analytics-worker")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    workdir = tmp_path_factory.mktemp("observed-stack")
    env = {
        "BIJMANTRA_TRACE_FILE": str(workdir / "traces" / "{service}.jsonl"),
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds: export soon after a span ends
    }
    with running_stack(workdir, env=env) as stack:
        yield stack


@pytest.fixture(scope="module")
def created(stack: DevStack) -> dict[str, str]:
    """One BrAPI write through the gateway; its event travels outbox -> NATS -> worker."""
    token = stack.login()
    request_id = f"obs-{uuid.uuid4().hex}"
    body = [
        {
            "germplasmName": "OBS-1",
            "germplasmPUI": f"doi:obs/{request_id}",
            "commonCropName": "Sorghum",
        }
    ]
    response = httpx.post(
        f"{stack.gateway_url}/brapi/v2/germplasm",
        json=body,
        headers={"Authorization": f"Bearer {token}", "x-request-id": request_id},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    [document] = response.json()["result"]["data"]
    return {"request_id": request_id, "germplasm_db_id": document["germplasmDbId"], "token": token}


def _spans(stack: DevStack, service: str) -> list[dict[str, Any]]:
    path = stack.workdir / "traces" / f"{service}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _wait_for(predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def _write_trace_id(stack: DevStack) -> str:
    """The trace the gateway started for ``created``'s write: its one root germplasm POST (the
    sampling test's writes come with a caller's traceparent, so their spans have a parent,
    whichever test ran first)."""
    [server_span] = [
        s
        for s in _spans(stack, "gateway")
        if s["kind"] == "SpanKind.SERVER"
        and s["name"] == "POST /brapi/v2/germplasm"
        and s["parent_id"] is None  # the gateway starts the trace
    ]
    return str(server_span["context"]["trace_id"])


def test_one_write_is_one_trace_across_gateway_domain_api_and_worker(
    stack: DevStack, created: dict[str, str]
) -> None:
    consumed = _wait_for(
        lambda: [s for s in _spans(stack, "analytics-worker") if s["kind"] == "SpanKind.CONSUMER"]
    )
    assert consumed, "the worker recorded no CONSUMER span"
    _wait_for(lambda: any(s["kind"] == "SpanKind.SERVER" for s in _spans(stack, "gateway")))
    trace_id = _write_trace_id(stack)
    by_service = {
        name: [s for s in _spans(stack, name) if s["context"]["trace_id"] == trace_id]
        for name in SERVICES
    }
    gateway, domain, worker = (
        by_service["gateway"],
        by_service["domain-api"],
        by_service["analytics-worker"],
    )

    [rpc_client] = [
        s for s in gateway if s["kind"] == "SpanKind.CLIENT" and "CreateResources" in s["name"]
    ]
    [rpc_server] = [
        s for s in domain if s["kind"] == "SpanKind.SERVER" and "CreateResources" in s["name"]
    ]
    assert rpc_server["parent_id"] == rpc_client["context"]["span_id"], (
        "gRPC metadata carried the context"
    )
    assert any(s["attributes"].get("db.system") == "postgresql" for s in domain), (
        "SQL spans in the request"
    )

    [publish] = [s for s in domain if s["kind"] == "SpanKind.PRODUCER"]
    assert (
        publish["attributes"]["messaging.destination.name"] == "bijmantra.events.germplasm.created"
    )
    domain_span_ids = {s["context"]["span_id"] for s in domain}
    assert publish["parent_id"] in domain_span_ids, "the outbox row carried the request's context"

    [process] = [s for s in worker if s["kind"] == "SpanKind.CONSUMER"]
    assert process["parent_id"] == publish["context"]["span_id"], "NATS headers carried the context"
    worker_sql = [s for s in worker if s["attributes"].get("db.system") == "postgresql"]
    assert worker_sql, "SQL spans in the worker's handler"
    assert all(s["parent_id"] is not None for s in worker_sql)
    assert {s["resource"]["attributes"]["service.name"] for s in gateway + domain + worker} == {
        "gateway",
        "domain-api",
        "analytics-worker",
    }


def test_every_log_line_carries_the_correlation_keys_and_the_trace_reaches_the_worker_logs(
    stack: DevStack, created: dict[str, str]
) -> None:
    _wait_for(
        lambda: any(s["kind"] == "SpanKind.CONSUMER" for s in _spans(stack, "analytics-worker"))
    )
    trace_id = _write_trace_id(stack).removeprefix("0x")  # the SDK's JSON writes ids as 0x…
    assert stack.log_dir is not None
    records = [(name, r) for name in SERVICES for r in _json_lines(stack.log_dir / f"{name}.log")]
    assert {name for name, _ in records} >= {"identity", "domain-api", "analytics-worker"}
    for name, record in records:
        assert {"trace_id", "span_id", "request_id", "tenant_id"} <= record.keys(), (name, record)
    processed = _wait_for(
        lambda: [
            r
            for r in _json_lines(stack.log_dir / "analytics-worker.log")
            if r.get("event") == "event processed" and r["trace_id"] == trace_id
        ]
    )
    assert processed, "the worker's log line for the event carries the request's trace id"
    assert processed[0]["tenant_id"] is not None


def _json_lines(path: Path) -> list[dict[str, Any]]:
    records = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records


def _scrape(url: str) -> dict[str, list[Any]]:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def _value(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    matching = [s.value for s in samples.get(name, []) if labels.items() <= s.labels.items()]
    assert matching, (
        f"{name}{labels} not exported; have {[s.labels for s in samples.get(name, [])]}"
    )
    return float(sum(matching))


def test_metrics_on_every_service_after_traffic(stack: DevStack, created: dict[str, str]) -> None:
    fetched = httpx.get(
        f"{stack.gateway_url}/brapi/v2/germplasm/{created['germplasm_db_id']}",
        headers={"Authorization": f"Bearer {created['token']}"},
        timeout=30,
    )
    assert fetched.status_code == 200
    missing = httpx.get(
        f"{stack.gateway_url}/brapi/v2/germplasm/{uuid.uuid4()}",
        headers={"Authorization": f"Bearer {created['token']}"},
        timeout=30,
    )
    assert missing.status_code == 404
    unrouted = httpx.get(f"{stack.gateway_url}/no/such/{uuid.uuid4()}", timeout=30)
    assert unrouted.status_code == 404

    assert httpx.get(f"{stack.gateway_url}/metrics", timeout=30).status_code in (401, 404)
    gateway = _scrape(f"http://127.0.0.1:{stack.ports.gateway_metrics}/metrics")
    route = "/brapi/v2/germplasm/{db_id}"  # the route template, not the URL
    assert _value(gateway, "http_requests_total", path=route, method="GET", status_code="200") >= 1
    assert _value(gateway, "http_requests_total", path=route, method="GET", status_code="404") >= 1
    assert _value(gateway, "http_requests_total", path="/brapi/v2/germplasm", method="POST") >= 1
    assert _value(gateway, "http_request_duration_seconds_count", path=route) >= 2
    assert "outbox_pending_events" not in gateway, "each service exports only what it owns"

    identity = _scrape(f"http://127.0.0.1:{stack.ports.identity_metrics}/metrics")
    assert (
        _value(identity, "http_requests_total", path="/api/v1/auth/login", status_code="200") >= 1
    )
    assert _value(identity, "grpc_server_handled_total", grpc_code="OK") >= 1
    assert _value(identity, "db_pool_connections_in_use", pool="identity") >= 0

    domain = _scrape(f"http://127.0.0.1:{stack.ports.domain_metrics}/metrics")
    assert (
        _value(domain, "grpc_server_handled_total", grpc_method="GetResource", grpc_code="OK") >= 1
    )
    assert (
        _value(
            domain, "grpc_server_handled_total", grpc_method="GetResource", grpc_code="NOT_FOUND"
        )
        >= 1
    )
    assert (
        _value(domain, "grpc_server_handled_total", grpc_method="CreateResources", grpc_code="OK")
        >= 1
    )
    assert _value(domain, "grpc_server_handling_seconds_count", grpc_method="CreateResources") >= 1
    assert _value(domain, "db_pool_size", pool="domain-api") > 0
    _value(domain, "db_pool_connections_in_use", pool="domain-api")
    # Sampled every few seconds by the relay's side task: everything got published.
    assert _wait_for(
        lambda: (
            "outbox_pending_events"
            in _scrape(f"http://127.0.0.1:{stack.ports.domain_metrics}/metrics")
        )
    )
    domain = _scrape(f"http://127.0.0.1:{stack.ports.domain_metrics}/metrics")
    assert _value(domain, "outbox_pending_events") == 0
    _value(domain, "outbox_lag_seconds")

    worker_url = f"http://127.0.0.1:{stack.ports.worker_health}/metrics"
    worker = _wait_for(
        lambda: (s := _scrape(worker_url)) and "consumer_pending_messages" in s and s
    )
    consumer = "analytics-germplasm"
    assert _value(worker, "consumer_pending_messages", consumer=consumer) == 0
    assert _value(worker, "consumer_redeliveries_total", consumer=consumer) == 0
    assert (
        _value(
            worker,
            "consumer_handle_duration_seconds_count",
            consumer=consumer,
            event_type="germplasm.created",
            outcome="ok",
        )
        >= 1
    )
    _value(worker, "db_pool_connections_in_use", pool="analytics-worker")


def test_server_spans_are_named_by_route_never_by_url(
    stack: DevStack, created: dict[str, str]
) -> None:
    db_id = created["germplasm_db_id"]
    response = httpx.get(
        f"{stack.gateway_url}/brapi/v2/germplasm/{db_id}",
        headers={"Authorization": f"Bearer {created['token']}"},
        timeout=30,
    )
    assert response.status_code == 200
    route = "/brapi/v2/germplasm/{db_id}"
    named = _wait_for(lambda: [s for s in _spans(stack, "gateway") if s["name"] == f"GET {route}"])
    assert named, "the GET's server span is named by its route template"
    assert named[0]["attributes"]["http.route"] == route
    assert not [s["name"] for s in _spans(stack, "gateway") if db_id in s["name"]]


def test_domain_api_traces_a_sampled_write_and_nothing_of_an_unsampled_one(
    stack: DevStack, created: dict[str, str]
) -> None:
    """The caller's sampling flag decides across every hop (ADR 0141): an unsampled write
    leaves no span in any service (outbox, relay and worker included); a sampled one is
    traced in domain-api, SQL included, under the caller's trace."""
    unsampled, sampled = uuid.uuid4().hex, uuid.uuid4().hex
    for trace_id, flags in ((unsampled, "00"), (sampled, "01")):
        response = httpx.post(
            f"{stack.gateway_url}/brapi/v2/germplasm",
            json=[
                {
                    "germplasmName": f"OBS-{flags}",
                    "germplasmPUI": f"doi:obs/{trace_id}",
                    "commonCropName": "Sorghum",
                }
            ],
            headers={
                "Authorization": f"Bearer {created['token']}",
                "traceparent": f"00-{trace_id}-b7ad6b7169203331-{flags}",
            },
            timeout=30,
        )
        assert response.status_code == 200, response.text

    def of(trace_id: str, service: str) -> list[dict[str, Any]]:
        return [s for s in _spans(stack, service) if s["context"]["trace_id"] == f"0x{trace_id}"]

    worker = _wait_for(lambda: of(sampled, "analytics-worker"))
    assert worker, "the sampled write reached the worker's trace"
    domain = of(sampled, "domain-api")
    assert [s for s in domain if s["kind"] == "SpanKind.SERVER" and "CreateResources" in s["name"]]
    assert any(s["attributes"].get("db.system") == "postgresql" for s in domain)
    # Exported in order by the same processors: the unsampled write, earlier, would be there.
    assert not [s for service in SERVICES for s in of(unsampled, service)]
