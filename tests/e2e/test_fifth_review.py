"""The fifth adversarial review (ADR 0335) through a running stack's gateway: what a writer
can no longer do to every organization."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from bijmantra.devstack.stack import DevStack

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def stack(shared_stack: DevStack) -> DevStack:
    """The e2e modules' shared stack: this module's data is its own (conftest.py)."""
    return shared_stack


@pytest.fixture(scope="module")
async def client(stack: DevStack) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {stack.login()}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=120, headers=headers) as c:
        yield c


async def test_a_document_too_large_for_its_event_is_a_400_and_events_keep_flowing(
    client: httpx.AsyncClient,
) -> None:
    name = f"big-{uuid.uuid4().hex[:8]}"
    big = {
        "germplasmName": name,
        "germplasmPUI": name,
        "commonCropName": "Cassava",
        "additionalInfo": {"padding": "x" * 1_500_000},
    }
    refused = await client.post("/brapi/v2/germplasm", json=[big])
    assert refused.status_code == 400, refused.text
    assert "too large" in refused.json()["metadata"]["status"][0]["message"]
    found = await client.get("/brapi/v2/germplasm", params={"germplasmName": name})
    assert found.json()["result"]["data"] == []
    # The writer's next, ordinary write is stored and its event published: the audit trail
    # (a consumer of every event) records it.
    small = {**big, "additionalInfo": {}, "germplasmName": f"{name}-ok"}
    created = await client.post("/brapi/v2/germplasm", json=[small])
    assert created.status_code == 200, created.text
    db_id = created.json()["result"]["data"][0]["germplasmDbId"]
    for _ in range(100):
        activity = await client.get("/api/v1/activity", params={"resource": db_id})
        if activity.json()["data"]:
            break
        await asyncio.sleep(0.2)
    assert [a["action"] for a in activity.json()["data"]] == ["germplasm.created"]
