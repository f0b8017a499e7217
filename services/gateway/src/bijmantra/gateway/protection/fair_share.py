"""A fair share of each gateway worker per organization (ADR 0142).

Rate limits bound what an organization may spend per minute; they do not stop a flood
from filling the worker's event loop, its gRPC channel and domain-api's pool *now*, which
every other organization then waits behind. So each worker lets an organization have at
most ``limit`` requests in flight; the next ones wait in that organization's own queue
(first come, first served) and only ``queue`` of them may wait. A request past that is
refused at once with 429 and ``Retry-After: 1``, before any Redis or upstream work. Another
organization's requests never wait in that queue: they start as soon as they arrive.

WebSocket connections are not counted (they live for hours); uploads are, like any request.
Devices' telemetry batches carry no member token: they take a share of their own per
organization, the one their credential names (ADR 0348).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass, field

from bijmantra.application.sensors.credentials import CREDENTIAL_PREFIX, parse_secret
from bijmantra.gateway.protection.responses import header, send_error
from bijmantra.kernel import BijmantraError, Principal, RateLimited, TenantId
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

TELEMETRY = "/api/v1/telemetry"
# Whose share a request takes: its member's organization, or the organization a device's
# credential names (a share apart, so a forged credential cannot hold up its members).
ShareKey = TenantId | tuple[str, TenantId]


@dataclass
class _Share:
    in_flight: int = 0
    waiting: collections.deque[asyncio.Future[None]] = field(default_factory=collections.deque)


class OrganizationShares:
    """Per-organization admission for one worker (one event loop, so no locks)."""

    def __init__(self, limit: int, queue: int) -> None:
        if limit < 1 or queue < 0:
            raise ValueError("an organization needs at least one request in flight")
        self.limit, self.queue = limit, queue
        self._shares: dict[ShareKey, _Share] = {}

    def in_flight(self, tenant: ShareKey) -> int:
        share = self._shares.get(tenant)
        return 0 if share is None else share.in_flight

    def waiting(self, tenant: ShareKey) -> int:
        share = self._shares.get(tenant)
        return 0 if share is None else sum(not f.done() for f in share.waiting)

    async def enter(self, tenant: ShareKey) -> bool:
        """True once the request may run (call :meth:`leave` after); False: refuse it."""
        share = self._shares.setdefault(tenant, _Share())
        if share.in_flight < self.limit:
            share.in_flight += 1
            return True
        if self.waiting(tenant) >= self.queue:
            return False
        turn = asyncio.get_running_loop().create_future()
        share.waiting.append(turn)
        try:
            await turn  # resolved by leave(): the slot is handed over, in_flight unchanged
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.leave(tenant)  # handed a slot, then cancelled before using it
            raise
        return True

    def leave(self, tenant: ShareKey) -> None:
        share = self._shares[tenant]
        while share.waiting:
            turn = share.waiting.popleft()
            if not turn.done():  # a cancelled waiter is done: skip it
                turn.set_result(None)
                return
        share.in_flight -= 1
        if share.in_flight == 0:
            del self._shares[tenant]


def fair_share_middleware(shares: OrganizationShares) -> Callable[[ASGIApp], ASGIApp]:
    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            tenant = _share_key(scope)
            if tenant is None:
                await app(scope, receive, send)
                return
            if not await shares.enter(tenant):
                error = RateLimited(
                    "Too many requests of this organization in progress; retry after 1 s"
                )
                await send_error(scope, send, error, [(b"retry-after", b"1")])
                return
            try:
                await app(scope, receive, send)
            finally:
                shares.leave(tenant)

        return middleware

    return factory


def _share_key(scope: Scope) -> ShareKey | None:
    """A member's organization; for a device's batch, the organization its credential names
    (checked by domain-api; a malformed one is refused there at once, unshared). Before, a
    batch took no share: one organization's devices could fill the worker for everyone."""
    if scope["type"] != ScopeType.HTTP:
        return None
    principal = scope.get("user")
    if isinstance(principal, Principal):
        return principal.tenant_id
    if scope["path"] != TELEMETRY:
        return None
    _, _, credential = header(scope, b"authorization").partition(" ")
    try:
        return ("devices", parse_secret(credential, CREDENTIAL_PREFIX).tenant_id)
    except BijmantraError:
        return None
