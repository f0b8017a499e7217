"""In-memory fakes of the console's ports: ``ConsoleSessionStore`` and ``TokenEndpoint``."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from bijmantra.application.console import ConsoleSession, PendingSignIn, TokenGrant
from bijmantra.kernel import Principal, Unauthorized, Unavailable
from bijmantra.testkit.session_fakes import FakeSessionMap


@dataclass
class FakeConsoleSessionStore(FakeSessionMap[str, ConsoleSession]):
    pending: dict[str, PendingSignIn] = field(default_factory=dict)
    locks: set[str] = field(default_factory=set)

    async def save_pending(self, state: str, pending: PendingSignIn, ttl: int) -> None:
        self.pending[state] = pending

    async def take_pending(self, state: str) -> PendingSignIn | None:
        return self.pending.pop(state, None)

    async def delete_all(self, subject: str) -> list[ConsoleSession]:
        keys = [k for k, s in self.sessions.items() if s.subject == subject]
        return [self.sessions.pop(k) for k in keys]

    async def lock_refresh(self, key: str, ttl: float) -> bool:
        if key in self.locks:
            return False
        self.locks.add(key)
        return True

    async def unlock_refresh(self, key: str) -> None:
        self.locks.discard(key)


@dataclass
class FakeTokenEndpoint:
    """Issues opaque tokens; a refresh token works once (rotation), like identity's."""

    codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (verifier, access)
    live_refresh: dict[str, str] = field(default_factory=dict)  # refresh -> access it came with
    revoked: list[str] = field(default_factory=list)
    refreshes: int = 0
    expires_in: int = 600
    sign_ins_ended: list[str] = field(default_factory=list)  # access tokens of end_sign_ins
    identity_down: bool = False  # every call raises Unavailable, as when identity is away

    def issue_code(self, verifier: str, access_token: str) -> str:
        code = secrets.token_urlsafe(16)
        self.codes[code] = (verifier, access_token)
        return code

    def _grant(self, access_token: str) -> TokenGrant:
        refresh = secrets.token_urlsafe(16)
        self.live_refresh[refresh] = access_token
        return TokenGrant(access_token, refresh, self.expires_in)

    async def redeem(self, code: str, verifier: str, redirect_uri: str) -> TokenGrant:
        expected = self.codes.pop(code, None)
        if expected is None or expected[0] != verifier:
            raise Unauthorized("invalid_grant")
        return self._grant(expected[1])

    async def refresh(self, refresh_token: str) -> TokenGrant:
        self.refreshes += 1
        access = self.live_refresh.pop(refresh_token, None)
        if access is None:
            raise Unauthorized("invalid_grant")
        return self._grant(access)

    async def revoke(self, refresh_token: str) -> None:
        if self.identity_down:
            raise Unavailable("Identity service unavailable")
        self.revoked.append(refresh_token)
        self.live_refresh.pop(refresh_token, None)

    async def end_sign_ins(self, access_token: str) -> None:
        if self.identity_down:
            raise Unavailable("Identity service unavailable")
        self.sign_ins_ended.append(access_token)


@dataclass
class FakeTokenVerifier:
    """``TokenVerifier`` over a table of known access tokens (anything else is refused)."""

    principals: dict[str, Principal] = field(default_factory=dict)

    async def verify(self, token: str) -> Principal:
        principal = self.principals.get(token)
        if principal is None:
            raise Unauthorized("Invalid token")
        return principal
