"""Sign-in, refresh and sign-out of console sessions: identity's code + PKCE flow, server-side.

Why here and not in the gateway: which secret binds what, when a token is refreshed and what
"sign out" ends are security rules; the gateway only moves cookies and forms.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

from bijmantra.application.ports import TokenVerifier
from bijmantra.application.protection.ratelimit import Bucket, Quota, RateLimiter
from bijmantra.kernel import (
    BijmantraError,
    Clock,
    FieldError,
    Principal,
    RateLimited,
    TenantId,
    Unauthorized,
    Unavailable,
)

REFRESH_MARGIN = timedelta(seconds=60)  # refresh an access token this long before it expires
SIGN_IN_TTL = 600  # seconds a started sign-in may take at identity's login page
# The longest page a sign-in returns to: an anonymous sign-in start keeps it in Redis for
# SIGN_IN_TTL, so its size is ours to bound, not the server's URL limit (ADR 0335).
MAX_RETURN_TO = 2048
# Sign-ins one client address may start: each keeps a pending entry in Redis for SIGN_IN_TTL
# before anyone has signed in, so an anonymous flood is bounded per address (ADR 0335). A
# person needs a few; a browser test suite signs in well under this from one address.
SIGN_IN_STARTS = Quota(120, 60.0)
REFRESH_WAIT = 5.0  # seconds a request waits for another request's refresh of its session


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    refresh_token: str
    expires_in: int


class TokenEndpoint(Protocol):
    """identity's ``/oauth/token`` and ``/oauth/revoke`` for the console's public client."""

    async def redeem(self, code: str, verifier: str, redirect_uri: str) -> TokenGrant: ...

    async def refresh(self, refresh_token: str) -> TokenGrant: ...

    async def revoke(self, refresh_token: str) -> None: ...

    async def end_sign_ins(self, access_token: str) -> None:
        """End identity's own sign-in of this token's user in every browser (otherwise, in
        another browser, signing in again is one click on the consent page). Raises
        ``Unavailable`` when identity could not end them."""
        ...


@dataclass(frozen=True)
class PendingSignIn:
    """A started sign-in: the PKCE verifier, bound to the browser that started it."""

    verifier: str
    browser_key: str  # hex SHA-256 of the secret in the browser's sign-in cookie
    return_to: str


@dataclass(frozen=True)
class ConsoleSession:
    subject: str
    tenant_id: TenantId
    access_token: str
    refresh_token: str
    access_expires_at: datetime
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class SignOut:
    """What a sign-out everywhere ended: console sessions, and identity's sign-ins or not."""

    sessions: int
    identity_ended: bool


@dataclass(frozen=True)
class SignedIn:
    """A usable session: the verified principal of its current access token."""

    session: ConsoleSession
    principal: Principal


class ConsoleSessionStore(Protocol):
    async def save_pending(self, state: str, pending: PendingSignIn, ttl: int) -> None: ...

    async def take_pending(self, state: str) -> PendingSignIn | None:
        """Return and delete in one step: a sign-in can be finished once."""
        ...

    async def save(self, key: str, session: ConsoleSession) -> None: ...

    async def get(self, key: str) -> ConsoleSession | None: ...

    async def delete(self, key: str) -> None: ...

    async def delete_all(self, subject: str) -> list[ConsoleSession]:
        """Delete every session of one user (all browsers, all organizations)."""
        ...

    async def lock_refresh(self, key: str, ttl: float) -> bool: ...

    async def unlock_refresh(self, key: str) -> None: ...


def secret_key(secret: str) -> str:
    """What the store keeps instead of a browser secret: a copy of it opens no session."""
    return hashlib.sha256(secret.encode()).hexdigest()


def tokens_match(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def safe_return_to(target: str | None, *, home: str = "/app") -> str:
    """Only a path of the console itself (never another origin: open redirect), and no
    longer than ``MAX_RETURN_TO``; anything else returns home."""
    if not target or len(target) > MAX_RETURN_TO:
        return home
    if "\\" in target or any(ord(c) < 32 for c in target):
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/app"):
        return home
    if target != "/app" and not target.startswith(("/app/", "/app?")):
        return home
    return target


class ConsoleSessions:
    def __init__(
        self,
        store: ConsoleSessionStore,
        tokens: TokenEndpoint,
        verifier: TokenVerifier,
        clock: Clock,
        *,
        redirect_uri: str,
        lifetime: timedelta = timedelta(hours=12),
        starts: RateLimiter | None = None,
    ) -> None:
        self._store, self._tokens, self._verifier, self._clock = store, tokens, verifier, clock
        self.redirect_uri, self._lifetime = redirect_uri, lifetime
        self._starts = starts

    @property
    def clock(self) -> Clock:
        """The console's time (pages that say how long something has waited read it)."""
        return self._clock

    async def begin(self, return_to: str | None, client: str | None = None) -> tuple[str, str, str]:
        """Start a sign-in: (state, browser secret for the sign-in cookie, PKCE challenge).
        A client address past its ``SIGN_IN_STARTS`` is refused (429) before anything is kept."""
        if self._starts is not None and client:
            bucket = Bucket("client", f"console-sign-in:{client}", SIGN_IN_STARTS)
            decision = await self._starts.acquire([bucket])
            if not decision.allowed:
                wait = str(max(1, math.ceil(decision.retry_after_seconds)))
                raise RateLimited(
                    f"Too many sign-ins started from this address; retry after {wait} s",
                    [FieldError("retryAfter", wait)],
                )
        state, browser_secret, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        pending = PendingSignIn(verifier, secret_key(browser_secret), safe_return_to(return_to))
        await self._store.save_pending(state, pending, SIGN_IN_TTL)
        return state, browser_secret, pkce_challenge(verifier)

    async def finish(
        self, state: str, code: str, browser_secret: str | None
    ) -> tuple[str, SignedIn, str]:
        """Redeem a code of a sign-in this browser started: (cookie secret, session, return_to)."""
        pending = await self._store.take_pending(state)
        if pending is None or not tokens_match(
            pending.browser_key, None if browser_secret is None else secret_key(browser_secret)
        ):
            raise Unauthorized("This sign-in was not started in this browser or has expired")
        grant = await self._tokens.redeem(code, pending.verifier, self.redirect_uri)
        principal = await self._verifier.verify(grant.access_token)
        now = self._clock.now()
        session = ConsoleSession(
            subject=principal.subject,
            tenant_id=principal.tenant_id,
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            access_expires_at=now + timedelta(seconds=grant.expires_in),
            csrf_token=secrets.token_urlsafe(32),
            expires_at=now + self._lifetime,
        )
        secret = secrets.token_urlsafe(32)
        await self._store.save(secret_key(secret), session)
        return secret, SignedIn(session, principal), pending.return_to

    async def current(self, secret: str | None) -> SignedIn | None:
        """The session behind a cookie, its access token refreshed when due; None: sign in."""
        if not secret:
            return None
        key = secret_key(secret)
        session = await self._store.get(key)
        if session is None:
            return None
        now = self._clock.now()
        if session.expires_at <= now:
            await self._store.delete(key)
            return None
        if session.access_expires_at - REFRESH_MARGIN <= now:
            refreshed = await self._refresh(key, session)
            if refreshed is None:
                return None
            session = refreshed
        try:
            return SignedIn(session, await self._verifier.verify(session.access_token))
        except Unauthorized:
            return None

    async def _refresh(self, key: str, session: ConsoleSession) -> ConsoleSession | None:
        """One refresh per session at a time: identity revokes a family whose refresh token
        is used twice, so concurrent requests wait for the one that holds the lock."""
        if not await self._store.lock_refresh(key, REFRESH_WAIT):
            return await self._await_refresh(key, session)
        try:
            grant = await self._tokens.refresh(session.refresh_token)
        except BijmantraError:
            await self._store.delete(key)
            return None
        finally:
            await self._store.unlock_refresh(key)
        refreshed = replace(
            session,
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            access_expires_at=self._clock.now() + timedelta(seconds=grant.expires_in),
        )
        await self._store.save(key, refreshed)
        return refreshed

    async def _await_refresh(self, key: str, stale: ConsoleSession) -> ConsoleSession | None:
        for _ in range(int(REFRESH_WAIT / 0.05)):
            await asyncio.sleep(0.05)
            current = await self._store.get(key)
            if current is None or current.refresh_token != stale.refresh_token:
                return current
        return None

    async def sign_out_everywhere(self, secret: str | None, access_token: str = "") -> SignOut:
        """End identity's sign-ins of this user (first, while ``access_token`` is still good),
        then every console session of the user, revoking their refresh tokens. The console's
        own sessions end even when identity cannot be reached: ending what can be ended is
        never worse than leaving the user signed in everywhere."""
        identity_ended = True
        if access_token:
            try:
                await self._tokens.end_sign_ins(access_token)
            except Unavailable:
                identity_ended = False
        if not secret:
            return SignOut(0, identity_ended)
        session = await self._store.get(secret_key(secret))
        if session is None:
            return SignOut(0, identity_ended)
        ended = await self._store.delete_all(session.subject)
        for each in ended:
            try:
                await self._tokens.revoke(each.refresh_token)
            except BijmantraError:
                continue  # already revoked, expired, or identity away: the session is gone
        return SignOut(len(ended), identity_ended)
