"""The identity service's HTTP endpoints, reachable through the gateway (ADR 0038).

External HTTP enters only through the gateway, so it forwards the OAuth/OIDC endpoints,
the login and session endpoints and the platform API that identity owns. It is a plain
reverse proxy at the ASGI level: method, path, query, body and headers go through
unchanged (cookies, ``Location`` and ``WWW-Authenticate`` included), except hop-by-hop
headers and the client-address chain: the gateway decides who the client is
(``X-Forwarded-For`` believed only from its own trusted proxies) and tells identity with a
single-entry ``X-Forwarded-For``, which identity trusts because it comes from the gateway.

Bearer-authenticated paths (organizations, users/me) are also verified here first, like
every other ``/api/v1`` route; identity then checks the permission in its use cases.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import msgspec
from bijmantra.edge.client_address import Network, client_address
from bijmantra.edge.envelopes import platform_error_body
from bijmantra.gateway.protection.request_body import BodyTooLarge, body_chunks
from bijmantra.gateway.protection.responses import http_method, send_whole
from bijmantra.kernel import NotFound, Unavailable, ValidationFailed
from litestar import asgi
from litestar.types import Receive, Scope, Send

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"forwarded",
    }
)
MAX_BODY = 1024 * 1024
PUBLIC_PREFIXES = ("/oauth", "/.well-known", "/userinfo", "/api/v1/auth")
BEARER_PREFIXES = ("/api/v1/organizations", "/api/v1/users/me")


class IdentityProxy:
    def __init__(
        self,
        base_url: str,
        trusted_proxies: tuple[Network, ...],
        *,
        timeout: float = 10.0,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        # ``verify``: our client certificate and the internal CA (mutual TLS, ADR 0176).
        self._client = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, follow_redirects=False, verify=verify
        )
        self._trusted = trusted_proxies

    async def close(self) -> None:
        await self._client.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _climbs(scope["path"]):
            await _send_error(send, scope, NotFound("Not Found"), 404)
            return
        headers = list(scope["headers"])
        try:
            body = await _read_body(receive)
        except ValidationFailed as error:
            await _send_error(send, scope, error, 413)
            return
        peer_address = scope.get("client")
        peer = peer_address[0] if peer_address else None
        forwarded = (
            ", ".join(v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for") or None
        )
        outgoing = [(k, v) for k, v in headers if k not in HOP_BY_HOP]
        client = client_address(peer, forwarded, self._trusted)
        if client:
            outgoing.append((b"x-forwarded-for", client.encode()))
        outgoing.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
        request_id = scope.get("state", {}).get("request_id")
        if request_id:
            outgoing = [(k, v) for k, v in outgoing if k != b"x-request-id"]
            outgoing.append((b"x-request-id", request_id.encode()))
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        target = path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        try:
            response = await self._client.request(
                http_method(scope), target, headers=outgoing, content=body
            )
        except httpx.HTTPError:
            await _send_error(send, scope, Unavailable("Identity service unavailable"), 503)
            return
        reply = [
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in response.headers.multi_items()
            if k.lower().encode("latin-1") not in HOP_BY_HOP and k.lower() != "content-encoding"
        ]
        reply.append((b"content-length", str(len(response.content)).encode()))
        await send_whole(send, response.status_code, reply, response.content)


def _climbs(path: str) -> bool:
    """A ``.`` or ``..`` segment (``%2e`` decoded): the raw path is sent on and httpx resolves
    them, so ``/oauth/../health/ready`` would reach a path the gateway never routed to
    identity, past the checks of the route it did (ADR 0348)."""
    return any(segment in (".", "..") for segment in path.split("/"))


async def _read_body(receive: Receive) -> bytes:
    try:
        return b"".join([chunk async for chunk in body_chunks(receive, MAX_BODY)])
    except BodyTooLarge:
        raise ValidationFailed("Request body too large") from None


async def _send_error(send: Send, scope: Scope, error: Any, status: int) -> None:
    body = msgspec.json.encode(platform_error_body(error, scope.get("state", {}).get("request_id")))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send_whole(send, status, headers, body)


def identity_routes(proxy: IdentityProxy) -> list[Any]:
    """Mount the proxy on identity's path prefixes; the public ones skip bearer verification."""

    async def forward(scope: Scope, receive: Receive, send: Send) -> None:
        await proxy(scope, receive, send)

    public = asgi(
        list(PUBLIC_PREFIXES), is_mount=True, opt={"public": True}, name="identity-public"
    )(forward)
    bearer = asgi(list(BEARER_PREFIXES), is_mount=True, name="identity-bearer")(forward)
    return [public, bearer]
