"""The per-organization share of a gateway worker (ADR 0142): a flooding organization waits
in its own queue and then is refused, while another organization's requests start at once."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, cast

import pytest
from bijmantra.gateway.protection.fair_share import OrganizationShares, fair_share_middleware
from bijmantra.kernel import Principal, TenantId
from litestar.types import Message, Receive, Scope, Send

A = TenantId(uuid.UUID("0193a000-0000-7000-8000-0000000000aa"))
B = TenantId(uuid.UUID("0193a000-0000-7000-8000-0000000000bb"))


class Upstream:
    """The route behind the gate: ``/hold`` waits until released, anything else answers."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.started.append(scope["path"])
        if scope["path"] == "/api/v1/hold":
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok", "more_body": False})


def scope(tenant: TenantId | None, path: str) -> Scope:
    user = None if tenant is None else Principal("someone", tenant)
    return cast(Scope, {"type": "http", "path": path, "headers": [], "user": user, "state": {}})


async def call(app: Any, request: Scope) -> tuple[int, dict[bytes, bytes], bytes]:
    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    await app(request, receive, send)
    start, body = messages[0], messages[1]
    return start["status"], dict(start["headers"]), body["body"]


async def settle(condition: Any) -> None:
    """Let the event loop run until ``condition()`` holds (a bounded number of turns)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the gate never reached the expected state")


async def test_a_flood_queues_then_is_refused_while_another_organization_runs_at_once() -> None:
    shares, upstream = OrganizationShares(limit=2, queue=1), Upstream()
    app = fair_share_middleware(shares)(upstream)
    held = [asyncio.create_task(call(app, scope(A, "/api/v1/hold"))) for _ in range(2)]
    await settle(lambda: shares.in_flight(A) == 2)
    queued = asyncio.create_task(call(app, scope(A, "/api/v1/quick")))
    await settle(lambda: shares.waiting(A) == 1)
    assert upstream.started.count("/api/v1/quick") == 0  # waits its turn, not yet run

    status, headers, body = await call(app, scope(A, "/api/v1/quick"))
    assert status == 429
    assert headers[b"retry-after"] == b"1"
    assert json.loads(body)["error"]["code"] == "rate_limited"
    assert upstream.started.count("/api/v1/quick") == 0  # refused before any work

    assert (await call(app, scope(B, "/api/v1/quick")))[0] == 200  # B never waits on A
    assert shares.in_flight(B) == 0

    upstream.release.set()
    assert [(await task)[0] for task in (*held, queued)] == [200, 200, 200]
    assert shares.in_flight(A) == 0
    assert shares.waiting(A) == 0


async def test_a_cancelled_waiter_gives_its_turn_to_the_next_and_leaks_no_slot() -> None:
    shares, upstream = OrganizationShares(limit=1, queue=2), Upstream()
    app = fair_share_middleware(shares)(upstream)
    holder = asyncio.create_task(call(app, scope(A, "/api/v1/hold")))
    await settle(lambda: shares.in_flight(A) == 1)
    gone = asyncio.create_task(call(app, scope(A, "/api/v1/quick")))
    after = asyncio.create_task(call(app, scope(A, "/api/v1/quick")))
    await settle(lambda: shares.waiting(A) == 2)
    gone.cancel()  # the client went away while waiting
    await settle(gone.done)
    upstream.release.set()
    assert (await holder)[0] == 200
    assert (await after)[0] == 200
    assert upstream.started.count("/api/v1/quick") == 1
    assert shares.in_flight(A) == 0


async def test_public_requests_are_not_counted_and_without_a_queue_the_next_is_refused() -> None:
    shares, upstream = OrganizationShares(limit=1, queue=0), Upstream()
    app = fair_share_middleware(shares)(upstream)
    holder = asyncio.create_task(call(app, scope(A, "/api/v1/hold")))
    await settle(lambda: shares.in_flight(A) == 1)
    assert (await call(app, scope(None, "/health/live")))[0] == 200
    assert (await call(app, scope(A, "/api/v1/quick")))[0] == 429  # no queue at all
    upstream.release.set()
    await holder
    assert shares.in_flight(A) == 0


def test_an_organization_needs_a_share() -> None:
    with pytest.raises(ValueError):
        OrganizationShares(limit=0, queue=1)


def device_scope(tenant: TenantId, device: str = "0193a000-0000-7000-8000-0000000000dd") -> Scope:
    """A device's batch: no member, its credential in the Authorization header."""
    credential = f"Device bjd.{tenant}.{device}.secret".encode()
    return cast(
        Scope,
        {
            "type": "http",
            "path": "/api/v1/telemetry",
            "headers": [(b"authorization", credential)],
            "user": None,
            "state": {},
        },
    )


class HeldTelemetry(Upstream):
    """The telemetry route, held until released (the upstream's ``/hold``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/api/v1/telemetry":
            scope = cast(Scope, {**scope, "path": "/api/v1/hold"})
        await super().__call__(scope, receive, send)


async def test_one_organizations_devices_take_a_share_of_their_own() -> None:
    """Devices' batches carry no member token, so they took no share: one organization's
    devices could fill the worker while everyone waited (ADR 0348). Now they queue and are
    refused in a share of the organization their credential names, apart from its members'
    (a forged credential naming it cannot hold up its members) and from other
    organizations' devices."""
    shares, upstream = OrganizationShares(limit=2, queue=1), HeldTelemetry()
    app = fair_share_middleware(shares)(upstream)
    held = [asyncio.create_task(call(app, device_scope(A))) for _ in range(3)]
    await settle(lambda: shares.in_flight(("devices", A)) == 2)
    await settle(lambda: shares.waiting(("devices", A)) == 1)
    assert (await call(app, device_scope(A)))[0] == 429
    assert shares.in_flight(A) == 0
    assert (await call(app, scope(A, "/api/v1/quick")))[0] == 200  # A's members still run
    other = asyncio.create_task(call(app, device_scope(B)))
    await settle(lambda: shares.in_flight(("devices", B)) == 1)  # B's devices start at once
    upstream.release.set()
    assert [(await task)[0] for task in (*held, other)] == [200] * 4
    assert shares.in_flight(("devices", A)) == 0


async def test_a_batch_whose_credential_names_no_organization_takes_no_share() -> None:
    shares, upstream = OrganizationShares(limit=1, queue=0), Upstream()
    app = fair_share_middleware(shares)(upstream)
    request = cast(Scope, {**device_scope(A), "headers": [(b"authorization", b"Device junk")]})
    assert (await call(app, request))[0] == 200  # passed on: domain-api refuses it (401)
