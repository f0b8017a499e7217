"""Every query parameter a ``/api/v1`` handler reads is in the published contract (ADR 0350).

Handlers read them only through ``bijmantra.edge.query`` (which refuses a name the route does
not declare, so an undeclared read fails any test that reaches it), nothing in the gateway's
platform modules reads the raw query string, and each declared parameter is checked before
the handler: a wrong value is the 422 ``validation`` the handlers' own checks answered. The
gateway runs on its composition root over fakes (domain-api's included)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import httpx
from bijmantra.domain_api.bootstrap import DomainAdapters
from bijmantra.domain_api.bootstrap import bootstrap as domain_bootstrap
from bijmantra.domain_api.config import Settings as DomainSettings
from bijmantra.edge import Query, declared
from bijmantra.edge.client_address import parse_networks
from bijmantra.gateway.bootstrap import GatewayAdapters, bootstrap
from bijmantra.gateway.config import Settings
from bijmantra.gateway.console import Console
from bijmantra.gateway.identity_proxy import IdentityProxy
from bijmantra.gateway.protection.wiring import protections_over
from bijmantra.kernel import Principal, TenantId
from bijmantra.observability.tracing_setup import Tracing
from bijmantra.testkit.console_fakes import FakeConsoleSessionStore, FakeTokenVerifier
from bijmantra.testkit.event_fakes import FakeEventFeed
from bijmantra.testkit.protection_fakes import FakeIdempotencyStore, FakeRateLimiter
from bijmantra.testkit.servers import free_port
from bijmantra.testkit.service_fakes import DomainFakes
from litestar import Litestar
from litestar.routes import HTTPRoute

ROOT = Path(__file__).resolve().parents[3]
GATEWAY = ROOT / "services" / "gateway" / "src" / "bijmantra" / "gateway"
COMMITTED = json.loads((ROOT / "api-contracts" / "openapi.json").read_text())
TOKEN = "admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOWHERE = "127.0.0.1:9"
# Modules that are not the platform API: BrAPI (its parameters come from the official spec),
# the console's pages (/app), and middleware that only scans the raw URL (NULs) or keys the
# whole request (Idempotency-Key).
NOT_PLATFORM = (
    "brapi.py",
    "console/",
    "edge.py",
    "identity_proxy.py",
    "page_cache.py",
    "protection/",
)
RAW_READS = re.compile(r"query_params|query_string|\bint_param\(|\bpage_request\(|\bquery_of\(")


def _now_ms() -> float:
    return time.monotonic() * 1000


@asynccontextmanager
async def gateway() -> AsyncIterator[tuple[Litestar, httpx.AsyncClient]]:
    verifier = FakeTokenVerifier(
        {
            TOKEN: Principal(
                subject="u1", tenant_id=TenantId(uuid.uuid4()), roles=frozenset({"admin"})
            )
        }
    )
    fakes = DomainFakes()
    port = free_port()
    domain = await domain_bootstrap(
        DomainSettings(
            database_url="postgresql://unused",
            nats_url="nats://unused",
            identity_target=NOWHERE,
            token_issuer="https://identity.test",
            token_audience="bijmantra",
            port=port,
        ),
        DomainAdapters(**fakes.ports(), verifier=verifier),
        Tracing(),
    )
    settings = Settings(
        domain_api_target=f"127.0.0.1:{port}",
        identity_target=NOWHERE,
        redis_url=None,
        token_issuer="https://identity.test",
        token_audience="bijmantra",
        metrics_port=0,
        identity_url=f"http://{NOWHERE}",
    )
    feed = FakeEventFeed()

    async def open_feed() -> tuple[FakeEventFeed, object]:
        async def close() -> None:
            return None

        return feed, close

    domain_channel = grpc.aio.insecure_channel(settings.domain_api_target)
    identity_channel = grpc.aio.insecure_channel(NOWHERE)
    console = Console.over(
        settings,
        verifier,
        FakeConsoleSessionStore(),
        httpx.AsyncClient(base_url=settings.identity_url),
        fakes.clock,
    )
    adapters = GatewayAdapters(
        domain_channel=domain_channel,
        identity_channel=identity_channel,
        verifier=verifier,
        open_feed=open_feed,
        console=console,
        identity_http=IdentityProxy(settings.identity_url, parse_networks("")),
        protections=protections_over(
            settings, FakeRateLimiter(_now_ms), FakeIdempotencyStore(_now_ms)
        ),
        closers=[domain_channel.close, identity_channel.close, console.close],
    )
    await domain.server.start()
    try:
        app = bootstrap(settings, adapters, Tracing())
        transport = httpx.ASGITransport(app=app)
        async with (
            app.lifespan(),
            httpx.AsyncClient(transport=transport, base_url="https://gateway.test") as client,
        ):
            yield app, client
    finally:
        await domain.server.stop(None)


def _bad_values(parameter: Query) -> list[str]:
    if parameter.kind == "boolean":
        return ["maybe"]
    if parameter.kind == "integer":
        bad = ["x1"]
        bad += [] if parameter.minimum is None else [str(parameter.minimum - 1)]
        bad += [] if parameter.maximum is None else [str(parameter.maximum + 1)]
        return bad
    return ["no-such-choice"] if parameter.enum else []


async def test_every_declared_parameter_is_checked_before_the_handler() -> None:
    """For every /api/v1 operation: each declared parameter given a wrong value, and each
    required one left out, is a 422 ``validation`` naming it (the envelope and status the
    handlers' own checks gave: ``GET /api/v1/analyses?limit=x`` was that before)."""
    checked = set()
    async with gateway() as (app, http):
        for route in app.routes:
            if not isinstance(route, HTTPRoute) or not route.path.startswith("/api/v1/"):
                continue
            path = re.sub(r"\{[^}]+\}", "x", route.path_format)
            for handler in route.route_handlers:
                parameters = declared(handler)
                required = {q.name: "a" for q in parameters if q.required}
                methods = sorted(handler.http_methods - {"HEAD", "OPTIONS"})
                if not methods:
                    continue  # Litestar's own OPTIONS answer
                method = methods[0]
                for parameter in parameters:
                    cases = [(parameter.name, v) for v in _bad_values(parameter)]
                    if parameter.required:
                        cases.append((parameter.name, ""))
                    for name, value in cases:
                        query = {**required, name: value}
                        answer = await http.request(method, path, params=query, headers=AUTH)
                        assert answer.status_code == 422, (method, path, query, answer.text)
                        error = answer.json()["error"]
                        assert error["code"] == "validation"
                        assert name in {d["location"] for d in error["details"]}, answer.text
                        checked.add((route.path_format, name))
    assert ("/api/v1/analyses", "limit") in checked
    assert ("/api/v1/devices/{device_id}/telemetry", "resolution") in checked
    assert ("/api/v1/dependencies", "predecessor_id") in checked
    assert len(checked) > 40


async def test_valid_queries_are_served_as_before() -> None:
    async with gateway() as (_, http):
        listed = await http.get("/api/v1/analyses?limit=5&active=TRUE", headers=AUTH)
        assert listed.status_code == 200, listed.text
        assert listed.json()["data"] == []
        board = await http.get("/api/v1/work-items?status=todo&page_size=10", headers=AUTH)
        assert board.status_code == 200, board.text
        # A filter the board does not have is refused naming it, as domain-api refused it.
        odd = await http.get("/api/v1/work-items?colour=red", headers=AUTH)
        assert odd.status_code == 422
        assert odd.json()["error"]["details"] == [
            {"location": "colour", "message": "unknown filter"}
        ]


def test_platform_handlers_read_the_query_only_through_their_declarations() -> None:
    offenders = []
    for module in sorted(GATEWAY.rglob("*.py")):
        relative = module.relative_to(GATEWAY).as_posix()
        if relative.startswith(NOT_PLATFORM):
            continue
        for number, line in enumerate(module.read_text().splitlines(), 1):
            if RAW_READS.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, (
        "read query parameters with bijmantra.edge.query_value & co:\n" + "\n".join(offenders)
    )


def _operation(path: str, method: str) -> dict[str, object]:
    operation: dict[str, object] = COMMITTED["paths"][path][method]
    return operation


def test_the_committed_contract_lists_what_the_handlers_read() -> None:
    listing = _operation("/api/v1/analyses", "get")["parameters"]
    assert listing == [
        {
            "description": "default 20",
            "in": "query",
            "name": "limit",
            "required": False,
            "schema": {"maximum": 100, "minimum": 1, "type": "integer"},
        },
        {
            "description": "true: queued and running only",
            "in": "query",
            "name": "active",
            "required": False,
            "schema": {"type": "boolean"},
        },
    ]
    paged = _operation("/api/v1/seasons", "get")["parameters"]
    assert isinstance(paged, list)
    assert [p["name"] for p in paged] == ["page", "page_size"]


def test_posts_that_take_no_body_declare_none() -> None:
    for path in (
        "/api/v1/analyses/{analysis_db_id}/delete",
        "/api/v1/devices/{device_id}/revoke",
        "/api/v1/devices/{device_id}/claim-code",
        "/api/v1/alerts/{alert_id}/clear",
        "/api/v1/alerts/{alert_id}/acknowledge",
        "/api/v1/invoices/{record_id}/credit-notes",
        "/api/v1/organization/exports",
    ):
        assert "requestBody" not in _operation(path, "post"), path
    assert "requestBody" in _operation("/api/v1/analyses", "post")
