"""The gateway's own edge concerns: bearer authentication and per-route permissions.

Envelopes, statuses, request ids, the catch-all and security headers are the shared edge's
(``bijmantra.edge``), the same for identity."""

from __future__ import annotations

from typing import Any

from bijmantra.application.ports import TokenVerifier
from bijmantra.application.security import authorize
from bijmantra.edge import declared_query_parameters, single_valued_parameters
from bijmantra.gateway.protection.responses import send_error
from bijmantra.kernel import Malformed, Principal, Unauthorized
from bijmantra.observability import bind_context
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp, Receive, Scope, Send


class BearerAuthentication(AbstractAuthenticationMiddleware):
    """Verifies ``Authorization: Bearer`` against identity's keys; the token is kept to forward."""

    verifier: TokenVerifier

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Missing bearer token")
        principal = await self.verifier.verify(token.strip())
        bind_context(tenant_id=str(principal.tenant_id), subject=principal.subject)
        return AuthenticationResult(user=principal, auth=token.strip())


def authentication_middleware(verifier: TokenVerifier) -> type[BearerAuthentication]:
    return type("BoundBearerAuthentication", (BearerAuthentication,), {"verifier": verifier})


async def permission_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Each route declares the permission it needs (``opt['permission']``)."""
    needed = handler.opt.get("permission")
    if needed is not None:
        principal: Principal = connection.user
        authorize(principal, needed)


async def route_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Every route's checks, in this order: a repeated single-valued parameter (400), the
    route's permission (403), its declared query parameters (422). One guard, not three,
    because Litestar hands each guard its own copy of the route handler (some 70 slots
    copied per guard and request; ADR 0373)."""
    await single_valued_parameters(connection, handler)
    await permission_guard(connection, handler)
    await declared_query_parameters(connection, handler)


def nul_free_url_middleware(app: ASGIApp) -> ASGIApp:
    """A URL whose path or query holds a NUL (``%00``) is 400 ``malformed`` before any route:
    no id or filter can hold one (PostgreSQL text cannot), and ``/api/v1/devices/%00`` once
    reached the database and answered 500."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and (
            "\x00" in scope["path"] or b"%00" in scope["query_string"]
        ):
            await send_error(scope, send, Malformed("The URL must not contain NUL characters"))
            return
        await app(scope, receive, send)

    return middleware
