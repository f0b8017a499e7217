"""The protection middleware over a small Litestar app, with the in-memory fakes of the
ports: the cases the real stack cannot easily produce (server errors, huge bodies, a Redis
outage) and the order of the checks."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from bijmantra.adapters.redis.client import redis_client
from bijmantra.adapters.redis.idempotency import RedisIdempotencyStore
from bijmantra.adapters.redis.rate_limiter import RedisRateLimiter
from bijmantra.application.protection.idempotency import (
    Claim,
    IdempotencyPolicy,
    StoredResponse,
)
from bijmantra.application.protection.ratelimit import Bucket, Decision, parse_policy
from bijmantra.gateway.protection.idempotency import ADMITS, ADMITTED, idempotency_middleware
from bijmantra.gateway.protection.rate_limit import rate_limit_middleware
from bijmantra.kernel import FieldError, Principal, RateLimited, TenantId, Unavailable
from bijmantra.testkit.protection_fakes import FakeIdempotencyStore, FakeRateLimiter
from bijmantra.testkit.silent_server import silent_server
from litestar import Litestar, Request, Response, get, post
from litestar.testing import AsyncTestClient
from litestar.types import ASGIApp, Receive, Scope, Send

TENANT = TenantId(uuid.UUID("0193a000-0000-7000-8000-0000000000aa"))
calls: list[str] = []


def fake_auth(app: ASGIApp) -> ASGIApp:
    """Stands in for bearer verification: ``X-User`` names the subject; none = public."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        subject = dict(scope["headers"]).get(b"x-user")
        if subject:
            scope["user"] = Principal(subject.decode(), TENANT)
            scope["auth"] = f"token-of-{subject.decode()}"
        await app(scope, receive, send)

    return middleware


@post("/echo", status_code=201)
async def echo(request: Request[Any, Any, Any]) -> dict[str, Any]:
    body = await request.body()
    calls.append("echo")
    return {"sha256": hashlib.sha256(body).hexdigest(), "calls": len(calls)}


@post("/boom")
async def boom() -> Response[str]:
    calls.append("boom")
    return Response("broken", status_code=502)


@post("/big")
async def big() -> bytes:
    calls.append("big")
    return b"x" * 5000


@get("/read")
async def read() -> str:
    return "ok"


day = {"used_up": False}


async def admits(state: Any, token: str) -> None:
    """Stands in for ``CheckImport``: the quota's 429 while the day is used up."""
    calls.append(f"admits {token}")
    if day["used_up"]:
        raise RateLimited(
            "daily quota used up", [FieldError("retryAfter", "60"), FieldError("quota", "q")]
        )


@post("/import", status_code=201, opt={ADMITS: admits})
async def heavy(request: Request[Any, Any, Any]) -> dict[str, Any]:
    body = await request.body()
    calls.append("import" if request.state.get(ADMITTED) else "import, unasked")
    return {"sha256": hashlib.sha256(body).hexdigest(), "calls": len(calls)}


class DownLimiter:
    async def acquire(self, buckets: Sequence[Bucket]) -> Decision:
        raise Unavailable("down")


class DownStore(FakeIdempotencyStore):
    async def claim(self, key: str, fingerprint: str, lock_seconds: int) -> Claim:
        raise Unavailable("down")


def app(limiter: Any = None, store: Any = None, **policy: int) -> Litestar:
    clock = time.monotonic
    limiter = limiter or FakeRateLimiter(lambda: clock() * 1000)
    store = store or FakeIdempotencyStore(lambda: clock() * 1000)
    return Litestar(
        [echo, boom, big, read, heavy],
        middleware=[
            fake_auth,
            rate_limit_middleware(limiter, parse_policy("read=3/2,write=100/100,upload=100/100")),
            idempotency_middleware(
                store,
                IdempotencyPolicy(max_response_bytes=4096, max_request_bytes=4 << 20, **policy),
            ),
        ],
    )


@pytest.fixture(autouse=True)
def reset_calls() -> None:
    calls.clear()
    day["used_up"] = False


async def post_twice(client: AsyncTestClient[Litestar], path: str, **kwargs: Any) -> list[Any]:
    headers = {"x-user": "alice", "idempotency-key": "k1", **kwargs.pop("headers", {})}
    return [await client.post(path, headers=headers, **kwargs) for _ in range(2)]


async def test_a_large_body_is_spooled_and_reaches_the_route_intact() -> None:
    body = bytes(range(256)) * (12 * 1024)  # 3 MiB: past the in-memory part of the spool
    async with AsyncTestClient(app()) as client:
        first, second = await post_twice(client, "/echo", content=body)
    assert first.status_code == second.status_code == 201
    assert first.json() == {"sha256": hashlib.sha256(body).hexdigest(), "calls": 1}
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert calls == ["echo"]


async def test_a_body_over_the_bound_is_refused_before_the_route() -> None:
    async with AsyncTestClient(app()) as client:
        refused = await client.post(
            "/echo",
            content=b"x" * (4 << 20) + b"x",
            headers={"x-user": "a", "idempotency-key": "k"},
        )
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "validation"
    assert calls == []


async def test_server_errors_are_not_kept_so_a_retry_runs_again() -> None:
    async with AsyncTestClient(app()) as client:
        first, second = await post_twice(client, "/boom")
    assert first.status_code == second.status_code == 502
    assert "idempotent-replayed" not in second.headers
    assert calls == ["boom", "boom"]


async def test_a_response_too_large_to_keep_is_not_run_again() -> None:
    async with AsyncTestClient(app()) as client:
        first, second = await post_twice(client, "/big")
    assert first.status_code == 201
    assert len(first.content) == 5000
    assert second.status_code == 409
    assert "too large to keep" in second.json()["error"]["message"]
    assert calls == ["big"]


class WatchedStore(FakeIdempotencyStore):
    """Notes in ``calls`` when a record is completed."""

    async def complete(
        self, key: str, token: str, response: StoredResponse, ttl_seconds: int
    ) -> None:
        calls.append("completed")
        await super().complete(key, token, response, ttl_seconds)


def last_byte_noted(app: ASGIApp) -> ASGIApp:
    """Outermost: notes in ``calls`` when the response's last part leaves for the client."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def noting(message: Any) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                calls.append("last byte")
            await send(message)

        await app(scope, receive, noting)

    return middleware


async def test_the_record_is_complete_before_the_last_byte_reaches_the_client() -> None:
    """A client holding the whole answer may retry at once on another replica: it must be
    replayed the answer, not told the first request is still running (409)."""
    policy = IdempotencyPolicy(max_response_bytes=4096, max_request_bytes=1 << 20)
    watched = Litestar(
        [echo],
        middleware=[
            last_byte_noted,
            fake_auth,
            idempotency_middleware(WatchedStore(time.monotonic), policy),
        ],
    )
    async with AsyncTestClient(watched) as client:
        first, again = await post_twice(client, "/echo", content=b"{}")
    assert calls == ["echo", "completed", "last byte", "last byte"]
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content


async def test_public_posts_and_posts_without_a_key_pass_through() -> None:
    async with AsyncTestClient(app()) as client:
        for _ in range(2):
            await client.post("/echo", content=b"{}", headers={"idempotency-key": "k"})
            await client.post("/echo", content=b"{}", headers={"x-user": "alice"})
    assert calls == ["echo"] * 4


async def test_the_same_key_of_another_client_is_another_record() -> None:
    async with AsyncTestClient(app()) as client:
        for user in ("alice", "bob", "alice"):
            await client.post(
                "/echo", content=b"{}", headers={"x-user": user, "idempotency-key": "k"}
            )
    assert calls == ["echo", "echo"]


async def test_an_unreachable_limiter_lets_requests_pass_and_an_unreachable_store_refuses() -> None:
    clock = time.monotonic
    async with AsyncTestClient(app(limiter=DownLimiter(), store=DownStore(clock))) as client:
        for _ in range(5):
            assert (await client.get("/read", headers={"x-user": "alice"})).status_code == 200
        refused = await client.post(
            "/echo", content=b"{}", headers={"x-user": "alice", "idempotency-key": "k"}
        )
        assert refused.status_code == 503
        plain = await client.post("/echo", content=b"{}", headers={"x-user": "alice"})
        assert plain.status_code == 201
    assert calls == ["echo"]


async def test_a_redis_that_never_answers_bounds_the_request_at_503_with_retry_after() -> None:
    """Real stores over a socket that accepts and stays silent: a keyed write is 503
    ``unavailable`` with ``Retry-After`` in the platform envelope after the store's bound (it
    once waited on redis-py's defaults); reads pass, as the limiter is meant to fail open."""
    async with silent_server() as address:
        redis = redis_client(f"redis://{address}/0", command_seconds=0.2)
        stalled = app(limiter=RedisRateLimiter(redis), store=RedisIdempotencyStore(redis))
        async with asyncio.timeout(60), AsyncTestClient(stalled) as client:
            assert (await client.get("/read", headers={"x-user": "alice"})).status_code == 200
            refused = await client.post(
                "/echo", content=b"{}", headers={"x-user": "alice", "idempotency-key": "k"}
            )
        await redis.aclose()
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "unavailable"
    assert calls == []


async def test_the_client_budget_refuses_and_anonymous_requests_are_not_charged() -> None:
    async with AsyncTestClient(app()) as client:
        statuses = [
            (await client.get("/read", headers={"x-user": "a"})).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
        other = await client.get("/read", headers={"x-user": "b"})
        assert other.headers["ratelimit"] == '"organization";r=0;t=60'
        organization_spent = await client.get("/read", headers={"x-user": "c"})
        assert organization_spent.status_code == 429
        assert '"organization";r=0' in organization_spent.headers["ratelimit"]
        anonymous = [(await client.get("/read")).status_code for _ in range(5)]
        assert anonymous == [200] * 5


def test_stored_responses_keep_only_response_headers_worth_replaying() -> None:
    stored = StoredResponse.of(
        201, [("Location", "/x"), ("Set-Cookie", "s=1")], b"", body_kept=True
    )
    assert stored.headers == (("location", "/x"),)


async def test_a_keyed_first_request_is_checked_before_its_body_is_spooled() -> None:
    """ADR 0347: a route naming ``opt[ADMITS]`` (a genotype import) has a keyed request whose
    key has no record checked before the body is read: used up, it is 429 whatever its body
    (on the old code this one, past the spool's bound, was read first and got a 413); it
    claimed nothing, so the same key runs once there is room. A completed key is replayed
    even while the day is used up; the same key of another client is its own first request.
    """
    over_the_bound = b"x" * ((4 << 20) + 1)
    async with AsyncTestClient(app()) as client:
        keyed = {"x-user": "alice", "idempotency-key": "import-1"}
        first = await client.post("/import", content=b"vcf", headers=keyed)
        assert first.status_code == 201
        assert calls == ["admits token-of-alice", "import"]  # asked once, by the middleware
        day["used_up"] = True
        replayed = await client.post("/import", content=b"vcf", headers=keyed)
        assert replayed.status_code == 201
        assert replayed.headers["idempotent-replayed"] == "true"
        assert replayed.content == first.content
        mismatched = await client.post("/import", content=b"other", headers=keyed)
        assert mismatched.status_code == 422  # the record answers, not the quota
        assert calls == ["admits token-of-alice", "import"]
        fresh = {"x-user": "alice", "idempotency-key": "import-2"}
        refused = await client.post("/import", content=over_the_bound, headers=fresh)
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "60"
        assert refused.json()["error"]["code"] == "rate_limited"
        theirs = {"x-user": "bob", "idempotency-key": "import-1"}
        assert (await client.post("/import", content=b"vcf", headers=theirs)).status_code == 429
        assert calls[2:] == ["admits token-of-alice", "admits token-of-bob"]
        day["used_up"] = False
        applied = await client.post("/import", content=b"later", headers=fresh)
        assert applied.status_code == 201
        assert "idempotent-replayed" not in applied.headers
        unkeyed = await client.post("/import", content=b"vcf", headers={"x-user": "alice"})
        assert unkeyed.status_code == 201  # the route asks itself (the gateway's import does)
    assert calls[4:] == ["admits token-of-alice", "import", "import, unasked"]
