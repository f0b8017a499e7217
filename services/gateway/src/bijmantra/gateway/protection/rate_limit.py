"""Per-organization and per-client rate limits (ADR 0140).

Every authenticated HTTP request is charged to its route class's two buckets in Redis (one
round trip, shared by every replica). A refused request gets 429 with ``Retry-After``; every
answer carries the IETF draft's ``RateLimit-Policy`` and ``RateLimit`` fields for the bucket
the client should pace itself by. If Redis cannot be reached the request passes (fail
open): limits protect capacity, they are not an authorization decision.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from bijmantra.application.protection.ratelimit import (
    Decision,
    RateLimiter,
    RateLimitPolicy,
    RouteClass,
    classify,
)
from bijmantra.gateway.protection.responses import header, send_error
from bijmantra.kernel import Principal, RateLimited, Unavailable
from bijmantra.observability import get_logger
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = get_logger(__name__)


def policy_header(policy: RateLimitPolicy, route_class: RouteClass) -> bytes:
    quotas = policy.quotas[route_class]
    items = [("organization", quotas.organization), ("client", quotas.client)]
    return ", ".join(
        f'"{name}";q={quota.limit};w={math.ceil(quota.window_seconds)}' for name, quota in items
    ).encode()


def state_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    state = decision.tightest
    value = f'"{state.bucket.policy}";r={state.remaining};t={math.ceil(state.reset_seconds)}'
    return [(b"ratelimit", value.encode())]


def rate_limit_middleware(
    limiter: RateLimiter, policy: RateLimitPolicy
) -> Callable[[ASGIApp], ASGIApp]:
    policy_headers = {c: policy_header(policy, c) for c in RouteClass}

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            principal = scope.get("user")
            if scope["type"] != ScopeType.HTTP or not isinstance(principal, Principal):
                await app(scope, receive, send)  # public routes: nobody to charge
                return
            route_class = classify(scope["method"], scope["path"], header(scope, b"content-type"))
            buckets = policy.buckets(route_class, principal.tenant_id, principal.subject)
            try:
                decision = await limiter.acquire(buckets)
            except Unavailable:
                log.warning("rate limiter unavailable; request passes", route_class=route_class)
                await app(scope, receive, send)
                return
            added = [(b"ratelimit-policy", policy_headers[route_class]), *state_headers(decision)]
            if not decision.allowed:
                retry = str(max(1, math.ceil(decision.retry_after_seconds))).encode()
                error = RateLimited(
                    f"Too many {route_class.value} requests for this "
                    f"{decision.tightest.bucket.policy}; retry after {retry.decode()} s"
                )
                await send_error(scope, send, error, [(b"retry-after", retry), *added])
                return

            async def send_with_state(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), *added]
                await send(message)

            await app(scope, receive, send_with_state)

        return middleware

    return factory
