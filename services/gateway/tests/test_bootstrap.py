"""The gateway's composition root wired to fakes alone: its token verifier, event feed,
console session store and protection stores are the testkit's, and the domain-api it calls
is domain-api's own composition root over fakes (no PostgreSQL, NATS, Redis or identity).
A BrAPI write and read go through every middleware, the gRPC client and the use cases."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import grpc
import httpx
from bijmantra.application.console.sessions import ConsoleSession, secret_key
from bijmantra.domain_api.bootstrap import DomainAdapters
from bijmantra.domain_api.bootstrap import bootstrap as domain_bootstrap
from bijmantra.domain_api.config import Settings as DomainSettings
from bijmantra.edge.client_address import parse_networks
from bijmantra.gateway.bootstrap import GatewayAdapters, bootstrap
from bijmantra.gateway.config import Settings
from bijmantra.gateway.console import Console
from bijmantra.gateway.console.web import COOKIE
from bijmantra.gateway.identity_proxy import IdentityProxy
from bijmantra.gateway.protection.wiring import protections_over
from bijmantra.kernel import Principal, TenantId
from bijmantra.observability.tracing_setup import Tracing
from bijmantra.testkit.console_fakes import FakeConsoleSessionStore, FakeTokenVerifier
from bijmantra.testkit.event_fakes import FakeEventFeed
from bijmantra.testkit.protection_fakes import FakeIdempotencyStore, FakeRateLimiter
from bijmantra.testkit.servers import free_port
from bijmantra.testkit.service_fakes import DomainFakes

TOKEN = "breeder-token"
NOWHERE = "127.0.0.1:9"  # identity is never reached: the verifier and console are fakes


def _now_ms() -> float:
    return time.monotonic() * 1000


async def test_a_brapi_write_and_read_through_gateway_and_domain_on_fakes() -> None:
    tenant = TenantId(uuid.uuid4())
    verifier = FakeTokenVerifier(
        {TOKEN: Principal(subject="u1", tenant_id=tenant, roles=frozenset({"breeder"}))}
    )
    fakes = DomainFakes()
    domain_port = free_port()
    domain = await domain_bootstrap(
        DomainSettings(
            database_url="postgresql://unused",
            nats_url="nats://unused",
            identity_target=NOWHERE,
            token_issuer="https://identity.test",
            token_audience="bijmantra",
            port=domain_port,
        ),
        DomainAdapters(**fakes.ports(), verifier=verifier),
        Tracing(),
    )
    settings = Settings(
        domain_api_target=f"127.0.0.1:{domain_port}",
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
    sessions = FakeConsoleSessionStore()
    far = fakes.clock.now() + timedelta(hours=1)
    sessions.sessions[secret_key("browser-secret")] = ConsoleSession(
        "u1", tenant, TOKEN, "refresh", far, "csrf", far
    )
    console = Console.over(
        settings,
        verifier,
        sessions,
        httpx.AsyncClient(base_url=settings.identity_url),
        fakes.clock,
    )
    limiter, store = FakeRateLimiter(_now_ms), FakeIdempotencyStore(_now_ms)
    adapters = GatewayAdapters(
        domain_channel=domain_channel,
        identity_channel=identity_channel,
        verifier=verifier,
        open_feed=open_feed,
        console=console,
        identity_http=IdentityProxy(settings.identity_url, parse_networks("")),
        protections=protections_over(settings, limiter, store),
        closers=[domain_channel.close, identity_channel.close, console.close],
    )
    await domain.server.start()
    try:
        app = bootstrap(settings, adapters, Tracing())
        # In this loop (the gRPC channels live in it), lifespan included.
        transport = httpx.ASGITransport(app=app)
        async with (
            app.lifespan(),
            httpx.AsyncClient(transport=transport, base_url="https://gateway.test") as gateway,
        ):
            auth = {"Authorization": f"Bearer {TOKEN}"}
            germplasm = {
                "germplasmName": "IR64",
                "germplasmPUI": "p:IR64",
                "commonCropName": "Rice",
            }
            created = await gateway.post(
                "/brapi/v2/germplasm", json=[germplasm], headers={**auth, "Idempotency-Key": "k1"}
            )
            assert created.status_code == 200, created.text
            [item] = created.json()["result"]["data"]
            read = await gateway.get(f"/brapi/v2/germplasm/{item['germplasmDbId']}", headers=auth)
            assert read.json()["result"]["germplasmName"] == "IR64"
            anonymous = await gateway.get("/brapi/v2/germplasm")
            assert anonymous.status_code == 401
            # Console answers the framework or the edge gives before the console's own code
            # (unknown page or method, a NUL in the URL) carry its headers too (ADR 0326).
            for method, path in (
                ("GET", "/app/no-such-page"),
                ("PUT", "/app/"),
                ("GET", "/app/germplasm?q=%00"),
            ):
                answer = await gateway.request(method, path)
                assert answer.status_code in (400, 404, 405), (path, answer.status_code)
                assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
                assert answer.headers["x-frame-options"] == "DENY"
                assert answer.headers["x-content-type-options"] == "nosniff"
                assert answer.headers["cache-control"] == "no-store"
            # A console page counts against its organization's rate limits and fair share
            # like the API (ADR 0348): its member is found before the protections run.
            page = await gateway.get("/app/", cookies={COOKIE: "browser-secret"})
            assert page.status_code == 200, page.text
            assert "ratelimit" in page.headers
            unrouted = await gateway.get("/api/v1/no-such-route", headers=auth)
            assert unrouted.headers["x-content-type-options"] == "nosniff"
            # A wrong method is 405 with its own code and the served methods (was validation).
            for path in ("/api/v1/devices", "/brapi/v2/germplasm", "/app/"):
                wrong = await gateway.request("PATCH", path, headers=auth)
                assert wrong.status_code == 405, (path, wrong.text)
                assert "GET" in wrong.headers["allow"].split(", "), path
            wrong = await gateway.delete("/api/v1/devices", headers=auth)
            assert wrong.json()["error"]["code"] == "method_not_allowed"
            assert wrong.json()["error"]["details"] == [
                {"location": "allow", "message": wrong.headers["allow"]}
            ]
            assert {"GET", "POST"} <= set(wrong.headers["allow"].split(", "))
            # A single-valued parameter given twice is 400 naming it (ADR 0314); paging read
            # the first value and the operations filters the last. BrAPI filters still repeat.
            for path in ("/api/v1/devices", "/brapi/v2/germplasm", "/api/v1/work-items"):
                query = {"page": ["0", "1"], "status": ["open", "done"]}
                twice = await gateway.get(path, params=query, headers=auth)
                assert twice.status_code == 400, (path, twice.text)
                named = ("page", "status", "given 2 times; give it once")
                assert all(text in twice.text for text in named), (path, twice.text)
            ids = {"germplasmDbId": [item["germplasmDbId"], "other"], "page": "0"}
            either = await gateway.get("/brapi/v2/germplasm", params=ids, headers=auth)
            assert either.status_code == 200, either.text
            assert len(either.json()["result"]["data"]) == 1
    finally:
        await domain.server.stop(None)
    assert len(fakes.database.outbox) == 1  # one write, one event
    assert store.records  # the Idempotency-Key was claimed in the fake store
