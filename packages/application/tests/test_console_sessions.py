"""Console BFF sessions with the in-memory fakes: binding, refresh, sign-out, redirects."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from bijmantra.application.console import ConsoleSessions, SignOut, safe_return_to, secret_key
from bijmantra.kernel import FixedClock, Principal, TenantId, Unauthorized
from bijmantra.testkit.console_fakes import (
    FakeConsoleSessionStore,
    FakeTokenEndpoint,
    FakeTokenVerifier,
)

START = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
TENANT = TenantId(uuid.UUID("0193a000-0000-7000-8000-00000000d001"))


class World:
    def __init__(self) -> None:
        self.store = FakeConsoleSessionStore()
        self.tokens = FakeTokenEndpoint()
        self.verifier = FakeTokenVerifier(
            {"access-1": Principal("user-1", TENANT, frozenset({"breeder"}))}
        )
        self.clock = FixedClock(START)
        self.sessions = ConsoleSessions(
            self.store, self.tokens, self.verifier, self.clock, redirect_uri="https://x/cb"
        )

    async def signed_in(self) -> str:
        state, browser, _ = await self.sessions.begin("/app/germplasm")
        code = self.tokens.issue_code(self.store.pending[state].verifier, "access-1")
        secret, _, _ = await self.sessions.finish(state, code, browser)
        return secret


async def test_sign_in_keeps_only_a_hash_of_the_cookie_and_returns_where_it_started() -> None:
    world = World()
    state, browser, challenge = await world.sessions.begin("/app/germplasm?q=x")
    code = world.tokens.issue_code(world.store.pending[state].verifier, "access-1")
    secret, signed_in, return_to = await world.sessions.finish(state, code, browser)
    assert return_to == "/app/germplasm?q=x"
    assert list(world.store.sessions) == [secret_key(secret)]
    assert secret not in world.store.sessions
    assert signed_in.principal.subject == "user-1"
    assert challenge != world.store.sessions[secret_key(secret)].csrf_token


async def test_a_sign_in_finishes_only_in_the_browser_that_started_it_and_only_once() -> None:
    world = World()
    state, browser, _ = await world.sessions.begin(None)
    code = world.tokens.issue_code(world.store.pending[state].verifier, "access-1")
    with pytest.raises(Unauthorized):
        await world.sessions.finish(state, code, "another-browser")
    with pytest.raises(Unauthorized):  # the failed attempt used the state up
        await world.sessions.finish(state, code, browser)
    assert world.store.sessions == {}


async def test_access_token_is_refreshed_before_it_expires_and_the_old_refresh_dies() -> None:
    world = World()
    secret = await world.signed_in()
    before = world.store.sessions[secret_key(secret)]
    world.clock.at = START + timedelta(seconds=world.tokens.expires_in - 30)
    current = await world.sessions.current(secret)
    assert current is not None
    assert current.session.refresh_token != before.refresh_token
    assert before.refresh_token not in world.tokens.live_refresh


async def test_concurrent_requests_refresh_once() -> None:
    world = World()
    secret = await world.signed_in()
    world.clock.at = START + timedelta(hours=1)
    results = await asyncio.gather(*(world.sessions.current(secret) for _ in range(5)))
    assert all(r is not None for r in results)
    assert world.tokens.refreshes == 1


async def test_a_refused_refresh_ends_the_session() -> None:
    world = World()
    secret = await world.signed_in()
    world.tokens.live_refresh.clear()  # revoked at identity
    world.clock.at = START + timedelta(hours=1)
    assert await world.sessions.current(secret) is None
    assert world.store.sessions == {}


async def test_session_ends_at_its_lifetime() -> None:
    world = World()
    secret = await world.signed_in()
    world.clock.at = START + timedelta(hours=12, seconds=1)
    assert await world.sessions.current(secret) is None


async def test_sign_out_ends_every_session_of_the_user_and_revokes_refresh_tokens() -> None:
    world = World()
    first, second = await world.signed_in(), await world.signed_in()
    assert await world.sessions.sign_out_everywhere(first, "access-1") == SignOut(2, True)
    assert await world.sessions.current(second) is None
    assert len(world.tokens.revoked) == 2
    assert world.tokens.sign_ins_ended == ["access-1"]  # identity's, in every browser


async def test_sign_out_with_identity_away_still_ends_every_console_session() -> None:
    """Identity cannot end its sign-ins (or revoke): the console's sessions end anyway, and
    the answer says identity's did not, so the page can say so."""
    world = World()
    first, second = await world.signed_in(), await world.signed_in()
    world.tokens.identity_down = True
    assert await world.sessions.sign_out_everywhere(first, "access-1") == SignOut(2, False)
    assert await world.sessions.current(first) is None
    assert await world.sessions.current(second) is None


async def test_unknown_or_missing_cookie_is_no_session() -> None:
    world = World()
    assert await world.sessions.current(None) is None
    assert await world.sessions.current("guess") is None
    assert await world.sessions.sign_out_everywhere("guess") == SignOut(0, True)


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "https://evil.example/app",
        "//evil.example/app",
        "/\\evil.example",
        "/oauth/authorize",
        "/application",
        "/app\r\nSet-Cookie: x=1",
        "javascript:alert(1)",
        "/app/" + "x" * 2044,  # one character over the bound: kept in Redis, so bounded
    ],
)
def test_return_to_never_leaves_the_console(target: str | None) -> None:
    assert safe_return_to(target) == "/app"


@pytest.mark.parametrize(
    "target",
    ["/app", "/app/germplasm/g1", "/app?x=1", "/app/studies?page=2", "/app/" + "x" * 2043],
)
def test_return_to_keeps_console_paths(target: str) -> None:
    assert safe_return_to(target) == target
