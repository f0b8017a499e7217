"""Rate limits and Idempotency-Key through the real stack: two gateway replicas on one Redis.

The replicas run with small read budgets (30 per organization, 20 per client per minute),
so a test can exhaust a bucket in a few dozen requests; the stack's own gateway keeps the
defaults. Each test uses principals of its own, because spent budgets refill slowly."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from bijmantra.adapters.postgres import create_engine
from bijmantra.adapters.postgres.identity import register_client
from bijmantra.application.tenancy import hash_secret
from bijmantra.devstack.stack import DevStack, running_stack
from bijmantra.testkit.servers import free_port, wait_for_port

pytestmark = [pytest.mark.e2e]

SMALL_LIMITS = "read=30/20,write=60/60,search=10/10,upload=5/5"
SCANNER_SECRET = "scanner-secret-" + "y" * 32


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_stack(tmp_path_factory.mktemp("protect-stack")) as stack:
        yield stack


@pytest.fixture(scope="module")
def replicas(stack: DevStack) -> list[str]:
    """Two more gateway processes with small budgets, sharing the stack's Redis."""
    urls = []
    for name in ("-a", "-b"):
        port = free_port()
        process = stack.start_service(
            "gateway",
            replica=name,
            env={"GATEWAY_PORT": str(port), "GATEWAY_RATE_LIMITS": SMALL_LIMITS},
        )
        wait_for_port(port, timeout=60, process=process)
        urls.append(f"http://127.0.0.1:{port}")
    return urls


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def other_organization(stack: DevStack, http: httpx.AsyncClient) -> tuple[str, str]:
    """Tokens of two clients of one new organization: a data manager and a scanner app."""
    assert stack.database is not None
    email = f"protect-{uuid.uuid4().hex[:8]}@example.org"
    organization = await asyncio.to_thread(
        stack.register_member, email, "protect-password-1", ["data-manager"]
    )
    client_id = f"scanner-{uuid.uuid4().hex[:8]}"
    engine = create_engine(stack.database.identity_url, pool_size=1)
    try:
        await register_client(
            engine,
            client_id=client_id,
            name="Scanner",
            tenant_id=organization,
            secret_hash=hash_secret(SCANNER_SECRET),
            grant_types=["client_credentials"],
            scope="brapi",
            roles=["data-manager"],
        )
    finally:
        await engine.dispose()
    basic = base64.b64encode(f"{client_id}:{SCANNER_SECRET}".encode()).decode()
    issued = await http.post(
        f"{stack.gateway_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert issued.status_code == 200, issued.text
    user = await asyncio.to_thread(stack.login, email, "protect-password-1")
    return user, issued.json()["access_token"]


def germplasm(name: str) -> list[dict[str, str]]:
    return [
        {"germplasmName": name, "germplasmPUI": f"doi:protect/{name}", "commonCropName": "Cassava"}
    ]


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


async def test_replicas_share_one_budget_and_refuse_with_429_and_headers(
    stack: DevStack, replicas: list[str], http: httpx.AsyncClient
) -> None:
    # An organization of its own: the flooding test spends the demo organization's budget.
    token, _ = await other_organization(stack, http)
    statuses, remaining = [], []
    for i in range(21):  # alternate replicas: one budget of 20 for this client
        response = await http.get(f"{replicas[i % 2]}/brapi/v2/germplasm", headers=bearer(token))
        statuses.append(response.status_code)
        remaining.append(response.headers.get("ratelimit"))
    assert statuses == [200] * 20 + [429]
    assert remaining[0] == '"client";r=19;t=3'
    assert remaining[19].startswith('"client";r=0;')
    refused = await http.get(f"{replicas[0]}/brapi/v2/germplasm", headers=bearer(token))
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 3
    policy = refused.headers["ratelimit-policy"]
    assert policy == '"organization";q=30;w=60, "client";q=20;w=60'
    body = refused.json()
    assert body["result"] is None
    assert body["metadata"]["status"][0]["messageType"] == "ERROR"
    # the platform API answers in its own envelope; writes have a budget of their own
    platform = await http.get(f"{replicas[1]}/api/v1/permissions", headers=bearer(token))
    assert platform.status_code == 429
    assert platform.json()["error"]["code"] == "rate_limited"
    write = await http.post(
        f"{replicas[1]}/brapi/v2/germplasm",
        json=germplasm(f"RL-{uuid.uuid4().hex[:6]}"),
        headers=bearer(token),
    )
    assert write.status_code == 200, write.text
    assert write.headers["ratelimit-policy"] == '"organization";q=60;w=60, "client";q=60;w=60'


async def test_a_flooding_organization_leaves_others_their_budget(
    stack: DevStack, replicas: list[str], http: httpx.AsyncClient
) -> None:
    flooder = await asyncio.to_thread(stack.login)  # the demo organization
    user, scanner = await other_organization(stack, http)
    flood = [http.get(f"{replicas[i % 2]}/brapi/v2/germplasm", headers=bearer(flooder))
             for i in range(40)]  # fmt: skip
    await asyncio.gather(*flood)
    still = await http.get(f"{replicas[0]}/brapi/v2/germplasm", headers=bearer(flooder))
    assert still.status_code == 429
    first = await http.get(f"{replicas[0]}/brapi/v2/germplasm", headers=bearer(user))
    assert first.status_code == 200
    assert first.headers["ratelimit"] == '"client";r=19;t=3'
    # inside the other organization: the user spends its 20, the scanner gets the org's last 10
    for _ in range(19):
        assert (
            await http.get(f"{replicas[1]}/brapi/v2/germplasm", headers=bearer(user))
        ).is_success
    user_refused = await http.get(f"{replicas[1]}/brapi/v2/germplasm", headers=bearer(user))
    assert user_refused.status_code == 429
    scanner_statuses = [
        (await http.get(f"{replicas[i % 2]}/brapi/v2/germplasm", headers=bearer(scanner)))
        for i in range(11)
    ]
    assert [r.status_code for r in scanner_statuses] == [200] * 10 + [429]
    assert scanner_statuses[-1].headers["ratelimit"].startswith('"organization";r=0;')


async def count_named(http: httpx.AsyncClient, url: str, token: str, name: str) -> int:
    listing = await http.get(
        f"{url}/brapi/v2/germplasm", params={"germplasmName": name}, headers=bearer(token)
    )
    assert listing.status_code == 200, listing.text
    return int(listing.json()["metadata"]["pagination"]["totalCount"])


async def test_a_retried_post_is_answered_from_the_first_response_on_any_replica(
    stack: DevStack, replicas: list[str], http: httpx.AsyncClient
) -> None:
    token = await asyncio.to_thread(stack.login)
    name, key = f"IDEM-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    headers = bearer(token, **{"Idempotency-Key": key})
    first = await http.post(
        f"{replicas[0]}/brapi/v2/germplasm", json=germplasm(name), headers=headers
    )
    assert first.status_code == 200, first.text
    assert "idempotent-replayed" not in first.headers
    again = await http.post(
        f"{replicas[1]}/brapi/v2/germplasm", json=germplasm(name), headers=headers
    )
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert await count_named(http, stack.gateway_url, token, name) == 1
    other = await http.post(
        f"{replicas[1]}/brapi/v2/germplasm", json=germplasm(name + "-other"), headers=headers
    )
    assert other.status_code == 422
    assert await count_named(http, stack.gateway_url, token, name + "-other") == 0
    # without a key the same POST runs again: the count above could have been 2
    plain = await http.post(
        f"{replicas[0]}/brapi/v2/germplasm", json=germplasm(name), headers=bearer(token)
    )
    assert plain.status_code == 200
    assert await count_named(http, stack.gateway_url, token, name) == 2


async def test_concurrent_duplicates_run_once(
    stack: DevStack, replicas: list[str], http: httpx.AsyncClient
) -> None:
    token = await asyncio.to_thread(stack.login)
    name, key = f"RACE-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    headers = bearer(token, **{"Idempotency-Key": key})
    responses = await asyncio.gather(
        *(
            http.post(
                f"{replicas[i % 2]}/brapi/v2/germplasm", json=germplasm(name), headers=headers
            )
            for i in range(8)
        )
    )
    ran = [r for r in responses if r.status_code == 200 and "idempotent-replayed" not in r.headers]
    assert len(ran) == 1
    for response in responses:
        if response is ran[0]:
            continue
        if response.status_code == 409:
            assert response.headers["retry-after"] == "1"
        else:
            assert response.headers["idempotent-replayed"] == "true"
            assert response.content == ran[0].content
    assert await count_named(http, stack.gateway_url, token, name) == 1


async def test_keys_are_scoped_to_the_organization_and_validated(
    stack: DevStack, http: httpx.AsyncClient
) -> None:
    demo = await asyncio.to_thread(stack.login)
    user, _ = await other_organization(stack, http)
    key, name = str(uuid.uuid4()), f"SCOPE-{uuid.uuid4().hex[:8]}"
    for token in (demo, user):
        response = await http.post(
            f"{stack.gateway_url}/brapi/v2/germplasm",
            json=germplasm(name),
            headers=bearer(token, **{"Idempotency-Key": key}),
        )
        assert response.status_code == 200, response.text
        assert "idempotent-replayed" not in response.headers
        assert await count_named(http, stack.gateway_url, token, name) == 1
    for bad in (b"", b"x" * 256, "caf\u00e9".encode(), b"a\x01b"):
        refused = await http.post(
            f"{stack.gateway_url}/api/v1/analyses",
            json={},
            headers=[(b"authorization", f"Bearer {demo}".encode()), (b"idempotency-key", bad)],
        )
        expected = 400 if bad else 422  # an empty header is no key: the route itself answers
        assert refused.status_code == expected, (bad, refused.text)
