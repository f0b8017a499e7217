"""The gateway's own edge concerns: bearer authentication and per-route permissions.

Envelopes, statuses, request ids, the catch-all and security headers are the shared edge's
(``bijmantra.edge``), the same for identity."""

from __future__ import annotations

from typing import Any

from bijmantra.application.ports import TokenVerifier
from bijmantra.application.security import authorize
from bijmantra.kernel import Principal, Unauthorized
from bijmantra.observability import bind_context
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult


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
