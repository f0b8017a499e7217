"""The gateway's composition root over fakes alone: its token verifier, event feed, console
session store and protection stores are the testkit's, and the domain-api it calls is
domain-api's own composition root over fakes (no PostgreSQL, NATS, Redis or identity)."""

from __future__ import annotations

import html
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import grpc
import httpx
import pytest
from bijmantra.application.brapi.name_search import MAX_SEARCH_TERM
from bijmantra.application.console.sessions import ConsoleSession, secret_key
from bijmantra.application.protection.ratelimit import RateLimiter
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
from bijmantra.kernel import Principal
from bijmantra.observability.tracing_setup import Tracing
from bijmantra.testkit.console_fakes import FakeConsoleSessionStore, FakeTokenVerifier
from bijmantra.testkit.event_fakes import FakeEventFeed
from bijmantra.testkit.protection_fakes import FakeIdempotencyStore, FakeRateLimiter
from bijmantra.testkit.servers import free_port
from bijmantra.testkit.service_fakes import DomainFakes
from litestar import Litestar

NOWHERE = "127.0.0.1:9"  # identity is never reached: the verifier and console are fakes


@dataclass
class GatewayOnFakes:
    app: Litestar
    client: httpx.AsyncClient  # the app in this event loop (the gRPC channels live in it)
    fakes: DomainFakes  # domain-api's
    sessions: FakeConsoleSessionStore
    idempotency: FakeIdempotencyStore
    domain_target: str = ""  # domain-api's gRPC address (its worker services too)
    stop_domain: Callable[[], Awaitable[object]] | None = None  # domain-api unreachable from then
    rpcs: list[str] = field(default_factory=list)  # the gateway's gRPC calls to domain-api

    def signed_in(self, principal: Principal, token: str, csrf: str = "csrf") -> dict[str, str]:
        """The cookies of a console session of ``principal`` holding ``token``, valid for
        three days of the fakes' clock (tests move it past a day's cap)."""
        far = self.fakes.clock.now() + timedelta(days=3)
        self.sessions.sessions[secret_key("browser-secret")] = ConsoleSession(
            principal.subject, principal.tenant_id, token, "refresh", far, csrf, far
        )
        return {COOKIE: "browser-secret"}

    async def brapi(
        self, token: str, path: str, key: str, documents: list[dict[str, Any]]
    ) -> list[str]:
        """The ``key`` DbIds of ``documents`` made through BrAPI ``/<path>`` with ``token``."""
        auth = {"Authorization": f"Bearer {token}"}
        made = await self.client.post(f"/brapi/v2/{path}", json=documents, headers=auth)
        assert made.status_code == 200, made.text
        return [str(d[key]) for d in made.json()["result"]["data"]]

    async def pages_of_thirty(self, cookies: dict[str, str], path: str) -> None:
        """``/app/<path>``, holding 30 records, lists 25 then the other 5 on page 2."""
        first, second = [
            (await self.client.get(f"/app/{path}?page={n}", cookies=cookies)).text for n in (0, 1)
        ]
        assert "30 in all" in first
        listed = [set(re.findall(rf'<a href="/app/{path}/([^"]+)"', t)) for t in (first, second)]
        assert [len(ids) for ids in listed] == [25, 5]
        assert not listed[0] & listed[1]

    async def shows_nothing_of(
        self, cookies: dict[str, str], path: str, db_id: str, name: str, secrets: tuple[str, ...]
    ) -> None:
        """Another organization's record ``/app/<path>/<db_id>`` is the console's 404 page
        with none of ``secrets``, and the list searched for its ``name`` finds nothing."""
        page = await self.client.get(f"/app/{path}/{db_id}", cookies=cookies)
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        for secret in secrets:
            assert secret not in page.text
        listed = await self.client.get(f"/app/{path}", params={"q": name}, cookies=cookies)
        assert listed.status_code == 200
        assert f'href="/app/{path}/' not in listed.text
        assert "0 in all" in listed.text

    async def odd_searches_find_nothing(
        self, cookies: dict[str, str], path: str, near: str
    ) -> None:
        """Markup, SQL and wildcards find nothing on ``/app/<path>`` (a ``%`` or ``_`` means
        itself, ADR 0385) and the box shows the term; a term past the box's bound, even one
        starting with ``near`` (a name listed there), is a 400 page that says so."""
        odd = "<script>alert(1)</script>%' OR 1=1 --\u202e名\U0001f33d"
        for term in (odd, "%", "_", "*"):
            found = await self.client.get(
                f"/app/{path}", params={"q": term, "page": "-1"}, cookies=cookies
            )
            assert found.status_code == 200, term[:40]
            assert "0 in all" in found.text
            assert "<script>alert" not in found.text
            [kept] = re.findall(r'<input id="q" name="q" type="search" value="([^"]*)"', found.text)
            assert html.unescape(kept) == term
        for term in (odd * 500, near + " " * 5000 + "x"):
            found = await self.client.get(f"/app/{path}", params={"q": term}, cookies=cookies)
            assert found.status_code == 400, term[:40]
            assert f"at most {MAX_SEARCH_TERM} characters" in found.text
            assert "<script>alert" not in found.text

    async def partner(self, token: str, name: str = "KARI", country: str = "KE") -> str:
        """A new research-institute partner with one contact, through the API; its id."""
        partner = {
            "name": name,
            "country": country,
            "type": "research_institute",
            "contacts": [{"name": "W", "email": f"seeds@{name.lower()}.example"}],
        }
        auth = {"Authorization": f"Bearer {token}"}
        made = await self.client.post("/api/v1/partners", json=partner, headers=auth)
        assert made.status_code == 201, made.text
        partner_id: str = made.json()["data"]["id"]
        return partner_id


def _now_ms() -> float:
    return time.monotonic() * 1000


class _CountedCalls(grpc.aio.UnaryUnaryClientInterceptor):
    """Notes each unary call's method name, so a test can say how many a page made."""

    def __init__(self, called: list[str]) -> None:
        self.called = called

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        method = client_call_details.method
        self.called.append(method.decode() if isinstance(method, bytes) else method)
        return await continuation(client_call_details, request)


@asynccontextmanager
async def _gateway_on_fakes(
    tokens: dict[str, Principal],
    limiter: RateLimiter | None = None,
    domain: dict[str, Any] | None = None,
    **configured: Any,
) -> AsyncIterator[GatewayOnFakes]:
    """Both composition roots, the gateway's lifespan included; ``tokens`` are the bearer
    tokens the fake verifier knows, ``limiter`` the rate limits' store (a fresh fake by
    default), ``domain`` settings of domain-api and ``configured`` of the gateway
    (``rate_limits=…``)."""
    verifier = FakeTokenVerifier(tokens)
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
            **(domain or {}),
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
        **configured,
    )
    feed = FakeEventFeed()

    async def open_feed() -> tuple[FakeEventFeed, object]:
        async def close() -> None:
            return None

        return feed, close

    rpcs: list[str] = []
    domain_channel = grpc.aio.insecure_channel(
        settings.domain_api_target, interceptors=[_CountedCalls(rpcs)]
    )
    identity_channel = grpc.aio.insecure_channel(NOWHERE)
    sessions = FakeConsoleSessionStore()
    console = Console.over(
        settings, verifier, sessions, httpx.AsyncClient(base_url=settings.identity_url), fakes.clock
    )
    limiter = limiter or FakeRateLimiter(_now_ms)
    idempotency = FakeIdempotencyStore(_now_ms)
    adapters = GatewayAdapters(
        domain_channel=domain_channel,
        identity_channel=identity_channel,
        verifier=verifier,
        open_feed=open_feed,
        console=console,
        identity_http=IdentityProxy(settings.identity_url, parse_networks("")),
        protections=protections_over(settings, limiter, idempotency),
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
            yield GatewayOnFakes(
                app,
                client,
                fakes,
                sessions,
                idempotency,
                settings.domain_api_target,
                lambda: domain.server.stop(None),
                rpcs,
            )
    finally:
        await domain.server.stop(None)


@pytest.fixture
def gateway_on_fakes() -> Callable[
    [dict[str, Principal]], AbstractAsyncContextManager[GatewayOnFakes]
]:
    """``async with gateway_on_fakes({token: principal}) as on: on.client.get(...)``."""
    return _gateway_on_fakes
