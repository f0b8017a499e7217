"""Which protections a gateway runs, from its settings: the per-organization share of the
worker (in memory, ADR 0142) first, then rate limits and Idempotency-Key (Redis, shared by
replicas, ADR 0140)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bijmantra.adapters.redis.client import redis_client
from bijmantra.adapters.redis.idempotency import RedisIdempotencyStore
from bijmantra.adapters.redis.rate_limiter import RedisRateLimiter
from bijmantra.application.protection.idempotency import IdempotencyPolicy, IdempotencyStore
from bijmantra.application.protection.ratelimit import RateLimiter, parse_policy
from bijmantra.application.protection.refusals import RememberedRefusals
from bijmantra.gateway.config import Settings
from bijmantra.gateway.protection.fair_share import OrganizationShares, fair_share_middleware
from bijmantra.gateway.protection.idempotency import idempotency_middleware
from bijmantra.gateway.protection.rate_limit import rate_limit_middleware
from litestar.types import ASGIApp
from redis.asyncio import Redis


@dataclass
class Protections:
    """The middleware to install after authentication, and the Redis client to close."""

    middleware: list[Callable[[ASGIApp], ASGIApp]] = field(default_factory=list)
    redis: Redis | None = None

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


def protections(settings: Settings) -> Protections:
    """The production protections: shared state in Redis (none without ``REDIS_URL``)."""
    rate_limits = settings.rate_limits.strip().lower() != "off"
    if settings.redis_url is None or not (rate_limits or settings.idempotency):
        return protections_over(settings, None, None)
    redis = redis_client(settings.redis_url)  # each command bounded (ADR 0317)
    built = protections_over(settings, RedisRateLimiter(redis), RedisIdempotencyStore(redis))
    built.redis = redis
    return built


def protections_over(
    settings: Settings, limiter: RateLimiter | None, store: IdempotencyStore | None
) -> Protections:
    """The protections ``settings`` ask for, over these stores (None: that one is off)."""
    middleware = []
    if settings.organization_in_flight > 0:
        shares = OrganizationShares(settings.organization_in_flight, settings.organization_queue)
        middleware.append(fair_share_middleware(shares))
    if limiter is not None and settings.rate_limits.strip().lower() != "off":
        policy = parse_policy(settings.rate_limits, settings.rate_limit_window)
        middleware.append(rate_limit_middleware(RememberedRefusals(limiter), policy))
    if store is not None and settings.idempotency:
        middleware.append(idempotency_middleware(store, IdempotencyPolicy()))
    return Protections(middleware)
