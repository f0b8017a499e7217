"""Field operations from outside: the /api/v1 routes through the gateway (envelope, paging,
ETag / If-Match, 409 / 412 / 422, other organizations) and /ws subscribers of an item, a
board or a season receiving exactly their updates."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

import httpx
import pytest
from bijmantra.devstack.stack import DevStack
from websockets.asyncio.client import ClientConnection, connect

pytestmark = [pytest.mark.e2e]
OTHER_PASSWORD = "pw-ops-other-1"
WAIT = 30.0  # seconds before a missing frame counts as a failure (not a performance bound)
QUIET = 1.5  # after the expected frames, how long a stray frame still has to show up


@pytest.fixture(scope="module")
def stack(shared_stack: DevStack) -> tuple[DevStack, str, str]:
    """The e2e modules' shared stack (its work items and seasons are this module's own), the
    demo admin's token and a breeder's of another organization."""
    email = f"ops-{uuid.uuid4().hex[:8]}@other.example.org"
    shared_stack.register_member(email, OTHER_PASSWORD, ["breeder"])
    return shared_stack, shared_stack.login(), shared_stack.login(email, OTHER_PASSWORD)


class Api:
    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    async def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.client.request(method, f"/api/v1{path}", headers=headers, **kwargs)

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.send("POST", path, json=body)
        assert response.status_code == 201, response.text
        return response.json()["data"]

    async def patch(self, item: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return await self.send("PATCH", f"/work-items/{item}", json=body, headers=headers)


@contextlib.asynccontextmanager
async def apis(stack: tuple[DevStack, str, str]) -> Any:
    running, demo, other = stack
    async with httpx.AsyncClient(base_url=running.gateway_url, timeout=30) as client:
        yield Api(client, demo), Api(client, other)


async def board(api: Api) -> tuple[dict[str, Any], ...]:
    plan = await api.create("/work-items", {"kind": "plan", "title": "Rabi 2026"})
    op = await api.create(
        "/work-items",
        {
            "kind": "operation",
            "title": "Sow",
            "parent_id": plan["id"],
            "operation_type": "planting",
        },
    )
    return plan, op


async def test_work_items_over_rest_with_etags_guards_and_paging(
    stack: tuple[DevStack, str, str],
) -> None:
    async with apis(stack) as (api, other):
        plan, op = await board(api)
        tasks = [
            await api.create(
                "/work-items", {"kind": "task", "title": f"t{n}", "parent_id": op["id"]}
            )
            for n in range(3)
        ]
        page = await api.send("GET", "/work-items", params={"parent_id": op["id"], "page_size": 2})
        assert page.status_code == 200
        assert [d["title"] for d in page.json()["data"]] == ["t0", "t1"]
        assert (page.json()["meta"]["total_count"], page.json()["meta"]["total_pages"]) == (3, 2)

        got = await api.send("GET", f"/work-items/{tasks[0]['id']}")
        etag = got.headers["etag"]
        renamed = await api.patch(tasks[0]["id"], {"title": "sow block 3"}, **{"If-Match": etag})
        assert renamed.status_code == 200, renamed.text
        assert renamed.headers["etag"] != etag
        stale = await api.patch(tasks[0]["id"], {"title": "lost"}, **{"If-Match": etag})
        assert stale.status_code == 412
        assert stale.json()["error"]["code"] == "precondition_failed"
        after = await api.send("GET", f"/work-items/{tasks[0]['id']}")
        assert (after.json()["data"]["title"], after.headers["etag"]) == (
            "sow block 3",
            renamed.headers["etag"],
        )

        edge = {"predecessor_id": tasks[0]["id"], "successor_id": tasks[1]["id"]}
        assert (await api.send("POST", "/dependencies", json=edge)).status_code == 201
        blocked = await api.patch(tasks[1]["id"], {"status": "in_progress"})
        assert blocked.status_code == 409, blocked.text
        back = {"predecessor_id": tasks[1]["id"], "successor_id": tasks[0]["id"]}
        cycle = await api.send("POST", "/dependencies", json=back)
        assert cycle.status_code == 422
        assert cycle.json()["error"]["code"] == "unprocessable"
        for tail in (plan["id"], op["id"]):  # a plan or operation before its own task: deadlock
            edge = {"predecessor_id": tail, "successor_id": tasks[2]["id"]}
            deadlock = await api.send("POST", "/dependencies", json=edge)
            assert deadlock.status_code == 422, deadlock.text
            assert deadlock.json()["error"]["code"] == "unprocessable"
            assert [d["location"] for d in deadlock.json()["error"]["details"]] == ["successor_id"]
        stored = await api.send("GET", f"/work-items/{tasks[2]['id']}/dependencies")
        assert stored.json()["meta"]["total_count"] == 0
        done_too_early = await api.patch(op["id"], {"status": "in_progress"})
        assert done_too_early.status_code == 200
        assert (await api.patch(op["id"], {"status": "done"})).status_code == 409

        activity = await api.send("GET", f"/work-items/{tasks[0]['id']}/activity")
        changes = [c for entry in activity.json()["data"] for c in entry["changes"]]
        assert {"field": "title", "old": "t0", "new": "sow block 3"} in changes

        bad_bodies = [(b"{", 400), (b'{"title": 5}', 422), (b'{"unknown": 1}', 422)]
        bad_bodies.append((b'{"title": "a\\u0000b"}', 400))  # NUL: PostgreSQL text refuses it
        for bad, status in bad_bodies:
            response = await api.send("PATCH", f"/work-items/{tasks[2]['id']}", content=bad)
            assert response.status_code == status, bad
        assert (await api.send("GET", f"/work-items/{tasks[2]['id']}")).json()["data"][
            "version"
        ] == 1
        long = {"kind": "task", "title": "x", "parent_id": op["id"], "description": "x" * 20_001}
        assert (await api.send("POST", "/work-items", json=long)).status_code == 422

        assert (await other.send("GET", f"/work-items/{tasks[0]['id']}")).status_code == 404
        assert (await other.patch(tasks[0]["id"], {"title": "x"})).status_code == 404
        listed = await other.send("GET", "/work-items", params={"parent_id": op["id"]})
        assert listed.json()["meta"]["total_count"] == 0
        assert (
            await api.send("GET", "/work-items", headers={"Authorization": "Bearer x"})
        ).status_code == 401
        assert plan["kind"] == "plan"


async def in_stream(api: Api, resource: str) -> None:
    for _ in range(int(WAIT / 0.1)):
        response = await api.send("GET", "/activity", params={"resource": resource})
        if response.status_code == 200 and response.json()["meta"]["total_count"]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the events of {resource} never reached the stream")


async def subscribe(stack: DevStack, token: str, resources: list[str]) -> ClientConnection:
    url = stack.gateway_url.replace("http://", "ws://") + "/ws"
    socket = await connect(url, additional_headers={"Authorization": f"Bearer {token}"})
    assert json.loads(await asyncio.wait_for(socket.recv(), WAIT))["type"] == "ready"
    await socket.send(json.dumps({"type": "subscribe", "resources": resources}))
    assert json.loads(await asyncio.wait_for(socket.recv(), WAIT))["type"] == "subscribed"
    return socket


async def received(socket: ClientConnection, expected: int) -> list[tuple[str, str]]:
    """(event type, subject) of every event frame: the expected count, then whatever else
    arrives while the feed stays quiet for ``QUIET`` seconds."""
    seen: list[tuple[str, str]] = []
    while True:
        try:
            raw = await asyncio.wait_for(socket.recv(), WAIT if len(seen) < expected else QUIET)
        except TimeoutError:
            if len(seen) < expected:
                raise
            return seen
        message = json.loads(raw)
        if message["type"] == "ping":
            await socket.send('{"type":"pong"}')
        elif message["type"] == "event":
            seen.append((message["event"]["type"], message["event"]["subject"]))


async def test_ws_subscribers_of_an_item_a_board_or_a_season_get_exactly_their_updates(
    stack: tuple[DevStack, str, str],
) -> None:
    running, demo, other_token = stack
    async with apis(stack) as (api, other):
        season = await api.create(
            "/seasons", {"name": "Rabi", "starts_on": "2026-11-01", "ends_on": "2027-03-31"}
        )
        _, op1 = await board(api)
        _, op2 = await board(api)
        task1 = await api.create(
            "/work-items",
            {"kind": "task", "title": "t1", "parent_id": op1["id"], "season_id": season["id"]},
        )
        task2 = await api.create(
            "/work-items", {"kind": "task", "title": "t2", "parent_id": op1["id"]}
        )
        task3 = await api.create(
            "/work-items",
            {"kind": "task", "title": "t3", "parent_id": op2["id"], "season_id": season["id"]},
        )
        _, foreign_op = await board(other)
        # Subscriptions start at "new": wait until the set-up events are in the stream (the
        # audit trail, fed from the stream, has them), so none of them counts as an update.
        await in_stream(api, task3["id"])
        await in_stream(other, foreign_op["id"])
        ours = [season["id"], task1["id"], task2["id"], op1["id"], op2["id"]]
        sockets = [
            await subscribe(running, demo, [season["id"]]),
            await subscribe(running, demo, [task2["id"]]),
            await subscribe(running, demo, [op2["id"]]),
            # Another organization naming our ids (and its own board) sees only its own.
            await subscribe(running, other_token, [*ours, foreign_op["id"]]),
        ]
        try:
            assert (await api.patch(task2["id"], {"title": "t2!"})).status_code == 200
            assert (await api.patch(task1["id"], {"priority": "high"})).status_code == 200
            comment = await api.send(
                "POST", f"/work-items/{task3['id']}/comments", json={"body": "bring bags"}
            )
            assert comment.status_code == 201
            assert (await other.patch(foreign_op["id"], {"title": "theirs"})).status_code == 200
            time = {"work_item_id": task2["id"], "day": "2026-11-02", "hours": 2}
            assert (await api.send("POST", "/time-entries", json=time)).status_code == 201
            results = await asyncio.gather(
                received(sockets[0], 2),
                received(sockets[1], 2),
                received(sockets[2], 1),
                received(sockets[3], 1),
            )
        finally:
            for socket in sockets:
                await socket.close()
    season_view, item_view, board_view, foreign_view = results
    assert sorted(season_view) == sorted(
        [("operations.work_item.updated", task1["id"]), ("operations.comment.added", task3["id"])]
    )
    assert item_view == [
        ("operations.work_item.updated", task2["id"]),
        ("operations.time_entry.added", task2["id"]),
    ]
    assert board_view == [("operations.comment.added", task3["id"])]
    assert foreign_view == [("operations.work_item.updated", foreign_op["id"])]


async def test_completing_a_harvest_task_creates_its_seed_lots_through_the_stream(
    stack: tuple[DevStack, str, str],
) -> None:
    """The whole path: REST -> outbox -> JetStream -> domain-api's harvest consumer -> the
    germplasm use cases; the seed lots then read back over BrAPI."""
    _, demo, _ = stack
    async with apis(stack) as (api, _other):
        brapi = {"Authorization": f"Bearer {demo}"}

        async def create(path: str, body: list[dict[str, Any]]) -> list[dict[str, Any]]:
            response = await api.client.post(f"/brapi/v2/{path}", json=body, headers=brapi)
            assert response.status_code == 200, response.text
            return response.json()["result"]["data"]

        tag = uuid.uuid4().hex[:8]
        [germplasm] = await create(
            "germplasm",
            [
                {
                    "germplasmName": f"H{tag}",
                    "germplasmPUI": f"doi:h/{tag}",
                    "commonCropName": "Rice",
                }
            ],
        )
        [study] = await create("studies", [{"studyName": f"Harvest {tag}"}])
        units = await create(
            "observationunits",
            [
                {
                    "observationUnitName": f"{tag}-{n}",
                    "studyDbId": study["studyDbId"],
                    "germplasmDbId": germplasm["germplasmDbId"],
                }
                for n in range(2)
            ],
        )
        plan = await api.create("/work-items", {"kind": "plan", "title": "Harvest plan"})
        op = await api.create(
            "/work-items",
            {"kind": "operation", "title": "Harvest", "parent_id": plan["id"],
             "operation_type": "harvest"},
        )  # fmt: skip
        task = await api.create(
            "/work-items",
            {"kind": "task", "title": "Bag seed", "parent_id": op["id"],
             "unit_ids": [u["observationUnitDbId"] for u in units]},
        )  # fmt: skip
        assert (await api.patch(task["id"], {"status": "in_progress"})).status_code == 200
        assert (await api.patch(task["id"], {"status": "done"})).status_code == 200
        found: list[dict[str, Any]] = []
        for _ in range(int(WAIT / 0.2)):
            response = await api.client.get(
                "/brapi/v2/seedlots",
                params={"germplasmDbId": germplasm["germplasmDbId"]},
                headers=brapi,
            )
            found = response.json()["result"]["data"]
            if len(found) >= 2:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(QUIET)  # a second set would show up by now
        response = await api.client.get(
            "/brapi/v2/seedlots",
            params={"germplasmDbId": germplasm["germplasmDbId"]},
            headers=brapi,
        )
        lots = response.json()["result"]["data"]
        assert sorted(lot["additionalInfo"]["observationUnitDbId"] for lot in lots) == sorted(
            u["observationUnitDbId"] for u in units
        )
