"""The fourteenth adversarial review (ADR 0378): tenant isolation and authorization. Each
hole it found, as an attack on a running stack (one stack for the module)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from bijmantra.devstack.stack import DevStack
from websockets.asyncio.client import ClientConnection, connect

pytestmark = [pytest.mark.e2e]
PASSWORD = "pw-review14-member"
WAIT = 30.0  # seconds before a missing frame counts as a failure (not a performance bound)


@pytest.fixture(scope="module")
def stack(shared_stack: DevStack) -> DevStack:
    """The e2e modules' shared stack: this module's organizations are its own (conftest.py)."""
    return shared_stack


def member(stack: DevStack, roles: list[str]) -> str:
    """A token of a member with ``roles`` in a new organization of its own."""
    email = f"r14-{uuid.uuid4().hex[:8]}@example.org"
    stack.register_member(email, PASSWORD, roles)
    return stack.login(email, PASSWORD)


async def subscribed(stack: DevStack, token: str, **subscription: Any) -> tuple[Any, Any]:
    """A socket of ``token``'s member and the answer to its subscription."""
    url = stack.gateway_url.replace("http://", "ws://") + "/ws"
    socket = await connect(url, additional_headers={"Authorization": f"Bearer {token}"})
    assert json.loads(await socket.recv(WAIT))["type"] == "ready"
    await socket.send(json.dumps({"type": "subscribe", "events": ["germplasm.*"], **subscription}))
    return socket, json.loads(await socket.recv(WAIT))


async def next_event(socket: ClientConnection) -> dict[str, Any]:
    frame = json.loads(await socket.recv(WAIT))
    assert frame["type"] == "event", frame
    event: dict[str, Any] = frame["event"]
    return event


def new_germplasm(stack: DevStack, token: str) -> None:
    body = [
        {
            "germplasmName": f"r14-{uuid.uuid4().hex[:6]}",
            "germplasmPUI": f"urn:r14:{uuid.uuid4()}",
            "commonCropName": "Rice",
        }
    ]
    headers = {"Authorization": f"Bearer {token}"}
    created = httpx.post(f"{stack.gateway_url}/brapi/v2/germplasm", json=body, headers=headers)
    assert created.status_code == 200, created.text


async def test_another_organizations_event_is_no_resume_point(stack: DevStack) -> None:
    """A member could resume the live feed from another organization's event id: answered
    ``subscribed``, where an id no event has is ``not_found``, so the feed told any member
    whether an id was another organization's event (and replayed their own events from
    there). Now it is ``not_found`` as an unknown one is."""
    ours = await asyncio.to_thread(member, stack, ["breeder"])
    theirs = await asyncio.to_thread(member, stack, ["viewer"])
    socket, answer = await subscribed(stack, ours)
    assert answer["type"] == "subscribed"
    await asyncio.to_thread(new_germplasm, stack, ours)
    event = await next_event(socket)
    await socket.close()
    stranger, answer = await subscribed(stack, theirs, resumeFrom=event["id"])
    assert answer["type"] == "error", answer
    assert answer["error"]["code"] == "not_found"
    await stranger.close()
    again, answer = await subscribed(stack, ours, resumeFrom=event["id"])  # its own: resumes
    assert answer["type"] == "subscribed", answer
    await again.close()


def test_a_work_item_names_only_its_organizations_units(stack: DevStack) -> None:
    """A task could name another organization's observation units (its study and location
    were checked, ADR 0325): kept, on create and on change. Now 422 (variables likewise:
    ``test_units_and_variables_an_item_names_are_the_organizations``)."""
    theirs, ours = member(stack, ["breeder"]), member(stack, ["breeder"])
    with client(stack, theirs) as them:
        [study] = brapi(them, "studies", {"studyName": "r14 study"})
        [unit] = brapi(them, "observationunits", {"observationUnitName": "r14", **study})
    foreign = unit["observationUnitDbId"]
    with client(stack, ours) as us:
        plan = work_item(us, {"kind": "plan", "title": "r14 plan"})
        op = {"kind": "operation", "title": "r14", "parent_id": plan, "operation_type": "harvest"}
        task = {"kind": "task", "title": "r14 task", "parent_id": work_item(us, op)}
        mine = work_item(us, task)
        created = us.post("/api/v1/work-items", json={**task, "unit_ids": [foreign]})
        changed = us.patch(f"/api/v1/work-items/{mine}", json={"unit_ids": [foreign]})
        for refused in (created, changed):
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"]["details"][0]["location"] == "unit_ids"
        assert us.get(f"/api/v1/work-items/{mine}").json()["data"]["unit_ids"] == []


def client(stack: DevStack, token: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=60)


def brapi(client: httpx.Client, collection: str, document: dict[str, Any]) -> list[Any]:
    created = client.post(f"/brapi/v2/{collection}", json=[document])
    assert created.status_code == 200, created.text
    data: list[Any] = created.json()["result"]["data"]
    return [{k: v for k, v in d.items() if k.endswith("DbId") and v} for d in data]


def work_item(client: httpx.Client, body: dict[str, Any]) -> str:
    created = client.post("/api/v1/work-items", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["data"]["id"])
