"""The web console under ``/app``: server-rendered pages (Jinja2 + HTMX) over the same gRPC
clients as the REST handlers, behind a backend-for-frontend session (ADR 0060)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from bijmantra.application.console import ConsoleSessions
from bijmantra.application.console.sessions import ConsoleSessionStore
from bijmantra.application.ports import TokenVerifier
from bijmantra.application.protection.ratelimit import RateLimiter
from bijmantra.edge import Network, parse_networks
from bijmantra.gateway.config import Settings
from bijmantra.gateway.console import auth, live
from bijmantra.gateway.console.pages import (
    admin,
    analyses,
    core,
    dashboard,
    distribution,
    enrolment,
    exports,
    germplasm,
    invoicing,
    operations,
    partners,
    seed_lots,
    sensors,
    workbench,
)
from bijmantra.gateway.console.templating import template_config
from bijmantra.gateway.console.web import (
    FORM_BODY_LIMIT,
    PREFIX,
    PUBLIC,
    STATIC,
    console_error,
    console_headers,
    console_http_error,
    console_session_middleware,
    require_session,
)
from bijmantra.kernel import BijmantraError, Clock
from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import HTTPException
from litestar.static_files import create_static_files_router

# Page modules: add yours here (each exports ROUTES) and a line to nav.NAV.
PAGES = (
    auth,
    dashboard,
    germplasm,
    core,
    workbench,
    analyses,
    admin,
    exports,
    live,
    operations,
    enrolment,
    sensors,
    invoicing,
    distribution,
    partners,
    seed_lots,
)


@dataclass
class Console:
    """The console's adapters: its session store and identity's token and member endpoints."""

    sessions: ConsoleSessions
    tokens: auth.IdentityTokenEndpoint
    http: httpx.AsyncClient
    closers: list[Callable[[], Awaitable[object]]] = field(default_factory=list)
    trusted_proxies: tuple[Network, ...] = ()  # whose X-Forwarded-For names the client

    @classmethod
    def over(
        cls,
        settings: Settings,
        verifier: TokenVerifier,
        store: ConsoleSessionStore,
        http: httpx.AsyncClient,
        clock: Clock,
        sign_in_starts: RateLimiter | None = None,
    ) -> Console:
        """The console on ``store``, reaching identity through ``http``; sign-ins started
        per client address limited by ``sign_in_starts`` (none: unlimited)."""
        tokens = auth.IdentityTokenEndpoint(http)
        sessions = ConsoleSessions(
            store,
            tokens,
            verifier,
            clock,
            redirect_uri=f"{settings.public_url.rstrip('/')}{PREFIX}/auth/callback",
            starts=sign_in_starts,
        )
        return cls(sessions, tokens, http, [http.aclose], parse_networks(settings.trusted_proxies))

    def state(self) -> dict[str, Any]:
        return {
            "console_trusted_proxies": self.trusted_proxies,
            "console_sessions": self.sessions,
            "console_tokens": self.tokens,
            "console_members": admin.IdentityMembers(self.http),
        }

    async def close(self) -> None:
        for close in self.closers:
            await close()


def console_router() -> list[Any]:
    """The console's handlers: bearer authentication skipped (``public``), the session hook
    and HTML error pages instead."""
    handlers = [handler for module in PAGES for handler in module.ROUTES]
    pages = Router(
        path="/",
        route_handlers=handlers,
        opt={"public": True},
        before_request=require_session,
        request_max_body_size=FORM_BODY_LIMIT,
        exception_handlers={BijmantraError: console_error, HTTPException: console_http_error},
    )
    static = create_static_files_router(
        path=f"{PREFIX}/static",
        directories=[STATIC],
        opt={"public": True, PUBLIC: True},
        cache_control=CacheControlHeader(max_age=3600, public=True),
        name="console-static",
    )
    return [pages, static]


__all__ = [
    "Console",
    "console_headers",
    "console_router",
    "console_session_middleware",
    "template_config",
]
