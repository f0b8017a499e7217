"""Events seen from outside: the WebSocket feed across two gateway replicas, resume,
keep-alive, back-pressure, tenant isolation; the audit trail and activity over REST."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket as stdlib_socket
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
import pytest
from bijmantra.adapters.nats import JetStreamPublisher
from bijmantra.adapters.nats.stream import EVENTS_STREAM
from bijmantra.application.events import EventEnvelope, OutboxRecord
from bijmantra.devstack.stack import DEMO_ORGANIZATION_ID, DevStack, running_stack
from bijmantra.kernel import uuid7
from bijmantra.testkit.servers import free_port, wait_for_port
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from .test_thirteenth_review import MIB, high_water_mark

pytestmark = [pytest.mark.e2e]
OTHER_PASSWORD = "pw-other-org-1"
WAIT = 30.0  # seconds before a missing frame counts as a failure (not a performance bound)
SOCKETS_PER_MEMBER = 3  # the second replica's bound
QUEUE_LIMIT = 20  # the second replica's WS_QUEUE_LIMIT
BIG_FRAME = 15_000_000  # characters in an anonymous socket's first frame


class Replicas:
    def __init__(self, stack: DevStack, second_port: int, other_email: str) -> None:
        self.stack, self.second_port, self.other_email = stack, second_port, other_email

    @property
    def first(self) -> str:
        return self.stack.gateway_url

    @property
    def second(self) -> str:
        return f"http://127.0.0.1:{self.second_port}"


def gateway_replica(
    stack: DevStack, replica: str, *, ping_interval: str, sockets_per_member: str
) -> tuple[int, subprocess.Popen[bytes]]:
    """Another gateway of the stack, its queues ``QUEUE_LIMIT`` long: its port and process,
    once it listens."""
    port = free_port()
    process = stack.start_service(
        "gateway",
        replica=replica,
        env={
            "GATEWAY_PORT": str(port),
            "WS_PING_INTERVAL": ping_interval,
            "WS_QUEUE_LIMIT": str(QUEUE_LIMIT),
            "WS_SOCKETS_PER_MEMBER": sockets_per_member,
        },
    )
    wait_for_port(port, timeout=60, process=process)
    return port, process


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    with running_stack(tmp_path_factory.mktemp("live")) as stack:
        second_port, _ = gateway_replica(
            stack, "-2", ping_interval="1", sockets_per_member=str(SOCKETS_PER_MEMBER)
        )
        email = f"breeder-{uuid.uuid4().hex[:8]}@other.example.org"
        stack.register_member(email, OTHER_PASSWORD, ["breeder"])
        yield Replicas(stack, second_port, email)


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/ws"


async def create(base: str, token: str, name: str) -> str:
    body = [
        {"germplasmName": name, "germplasmPUI": f"doi:live/{name}", "commonCropName": "Sorghum"}
    ]
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        response = await client.post(
            "/brapi/v2/germplasm", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    return str(response.json()["result"]["data"][0]["germplasmDbId"])


async def close_code(socket: ClientConnection) -> int | None:
    """Read until the server closes the connection; the code it closed with."""
    try:
        while True:
            await asyncio.wait_for(socket.recv(), WAIT)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def frame(socket: ClientConnection) -> dict[str, Any]:
    """The next frame that is not a keep-alive ping (answered, as a client must)."""
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), WAIT))
        if message["type"] != "ping":
            return message
        await socket.send('{"type":"pong"}')


async def event_for(
    socket: ClientConnection, subject: str, seen: list[dict[str, Any]]
) -> dict[str, Any]:
    while True:
        message = await frame(socket)
        assert message["type"] == "event", message
        seen.append(message["event"])
        if message["event"]["subject"] == subject:
            return message["event"]


async def subscribed(base: str, token: str, **subscription: Any) -> ClientConnection:
    socket = await connect(ws_url(base), additional_headers={"Authorization": f"Bearer {token}"})
    assert (await frame(socket))["type"] == "ready"
    await socket.send(json.dumps({"type": "subscribe", **subscription}))
    assert (await frame(socket))["type"] == "subscribed"
    return socket


@pytest.fixture(scope="module")
def tokens(replicas: Replicas) -> tuple[str, str]:
    return replicas.stack.login(), replicas.stack.login(replicas.other_email, OTHER_PASSWORD)


async def test_a_client_on_one_replica_gets_its_organizations_events_caused_through_the_other(
    replicas: Replicas, tokens: tuple[str, str]
) -> None:
    demo, other = tokens
    demo_socket = await subscribed(replicas.second, demo, events=["germplasm.*"])
    other_socket = await subscribed(replicas.second, other, events=["*"])
    demo_seen: list[dict[str, Any]] = []
    other_seen: list[dict[str, Any]] = []
    # The other organization's event is in the stream before ours: a leak would arrive first.
    other_id = await create(replicas.first, other, "other-org-secret")
    await event_for(other_socket, other_id, other_seen)
    demo_id = await create(replicas.first, demo, "demo-visible")
    event = await event_for(demo_socket, demo_id, demo_seen)
    assert event["type"] == "germplasm.created"
    assert event["tenant_id"] == DEMO_ORGANIZATION_ID
    assert {e["tenant_id"] for e in demo_seen} == {DEMO_ORGANIZATION_ID}
    assert other_id not in {e["subject"] for e in demo_seen}
    assert demo_id not in {e["subject"] for e in other_seen}
    await demo_socket.close()
    await other_socket.close()


async def create_many(base: str, token: str, names: list[str]) -> list[str]:
    body = [
        {"germplasmName": n, "germplasmPUI": f"doi:live/{n}", "commonCropName": "Sorghum"}
        for n in names
    ]
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        response = await client.post(
            "/brapi/v2/germplasm", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    return [g["germplasmDbId"] for g in response.json()["result"]["data"]]


async def test_a_batching_client_gets_its_events_in_events_frames_and_no_one_elses(
    replicas: Replicas, tokens: tuple[str, str]
) -> None:
    demo, other = tokens
    socket = await subscribed(replicas.first, demo, events=["germplasm.created"], batch=True)
    # The other organization's events go first: a leak would arrive in the same batch.
    await create_many(replicas.first, other, [f"other-batch-{n}" for n in range(5)])
    single = await create(replicas.first, demo, "batch-single")
    wanted = await create_many(replicas.first, demo, [f"batch-{n}" for n in range(20)])
    seen: list[dict[str, Any]] = []

    def named() -> set[str]:
        return {i for e in seen for i in e["data"].get("ids", [e["subject"]])}

    while not {single, *wanted} <= named():
        message = await frame(socket)
        assert message["type"] == "events", message
        assert message["events"], message
        seen.extend(message["events"])
    assert {e["tenant_id"] for e in seen} == {DEMO_ORGANIZATION_ID}
    assert len({e["id"] for e in seen}) == len(seen)  # each event once
    # A subscription to a type also receives its bulk form: the 20 documents of one write
    # come in bulk events (a part per outbox partition), each document in one of them.
    [one] = [e for e in seen if e["type"] == "germplasm.created"]
    assert one["subject"] == single
    bulk = [e for e in seen if e is not one]
    assert {e["type"] for e in bulk} == {"germplasm.created.bulk"}
    created = [i for e in bulk for i in e["data"]["ids"]]
    assert sorted(created) == sorted(wanted)
    assert [d["germplasmName"] for e in bulk for d in e["data"]["items"]] == [
        f"batch-{wanted.index(i)}" for i in created
    ]
    await socket.close()


async def test_a_reconnecting_client_resumes_after_its_last_event_id(
    replicas: Replicas, tokens: tuple[str, str]
) -> None:
    demo, _ = tokens
    socket = await subscribed(replicas.first, demo)
    first = await event_for(socket, await create(replicas.first, demo, "resume-1"), [])
    await socket.close()
    missed = [await create(replicas.first, demo, f"resume-{n}") for n in (2, 3)]
    resumed = await subscribed(replicas.second, demo, resumeFrom=first["id"])
    replayed: list[dict[str, Any]] = []
    await event_for(resumed, missed[-1], replayed)
    assert [e["subject"] for e in replayed] == missed
    await resumed.close()


async def frame_about(socket: ClientConnection, subject: str) -> dict[str, Any]:
    """The event frame (one event each) of the event about ``subject``."""
    while (message := await frame(socket))["event"]["subject"] != subject:
        pass
    return message


async def stream_position_of(stack: DevStack, event_id: str) -> int:
    """Where the shared stream stored an event (read from NATS, as only the platform can)."""
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        last = (await js.stream_info(EVENTS_STREAM)).state.last_seq
        for sequence in range(last, 0, -1):
            stored = await js.get_msg(EVENTS_STREAM, seq=sequence)
            if (stored.headers or {}).get("Nats-Msg-Id") == event_id:
                return sequence
    finally:
        await nc.close()
    raise AssertionError(f"{event_id} is not in the stream")


async def test_a_reconnecting_client_resumes_after_its_last_frames_token(
    replicas: Replicas, tokens: tuple[str, str]
) -> None:
    """Each event frame carries ``resumeAfter``, its last event and where the stream stored
    it; resuming with it, on any replica, reads that one message (ADR 0384)."""
    demo, _ = tokens
    socket = await subscribed(replicas.first, demo)
    first = await frame_about(socket, await create(replicas.first, demo, "token-1"))
    assert first["resumeAfter"].startswith(first["event"]["id"] + "."), first
    await socket.close()
    missed = [await create(replicas.first, demo, f"token-{n}") for n in (2, 3, 4)]
    resumed = await subscribed(replicas.second, demo, resumeAfter=first["resumeAfter"], batch=True)
    replayed: list[dict[str, Any]] = []
    while not replayed or replayed[-1]["subject"] != missed[-1]:
        batch = await frame(resumed)
        assert batch["type"] == "events", batch
        assert batch["resumeAfter"].startswith(batch["events"][-1]["id"] + "."), batch
        replayed += batch["events"]
    assert [e["subject"] for e in replayed] == missed
    await resumed.close()


async def test_a_token_naming_another_organizations_event_or_position_is_an_unknown_event(
    replicas: Replicas, tokens: tuple[str, str]
) -> None:
    """A token seals its event's stream position (which counts every organization's events)
    for its organization and event: the member cannot read it, and a token altered, moved to
    another event or another organization's is the ``not_found`` of an unknown event. A
    token that is none is invalid input; the socket goes on."""
    demo, other = tokens
    theirs = await subscribed(replicas.first, other)
    their_token = (await frame_about(theirs, await create(replicas.first, other, "t-o")))[
        "resumeAfter"
    ]
    await theirs.close()
    ours = await subscribed(replicas.first, demo)
    our_token = (await frame_about(ours, await create(replicas.first, demo, "t-d")))["resumeAfter"]
    await ours.close()
    our_id, _, our_seal = our_token.rpartition(".")
    their_id, _, their_seal = their_token.rpartition(".")
    position = await stream_position_of(replicas.stack, our_id)
    assert str(position) not in our_seal, our_token  # sealed
    assert len(our_seal) == 32, our_token
    made_up = str(uuid7())
    socket = await connect(
        ws_url(replicas.second), additional_headers={"Authorization": f"Bearer {demo}"}
    )
    assert (await frame(socket))["type"] == "ready"

    async def answer(subscription: dict[str, Any]) -> dict[str, Any]:
        await socket.send(json.dumps({"type": "subscribe", **subscription}))
        reply = await frame(socket)
        assert reply["type"] == "error", (subscription, reply)
        return dict(reply["error"])

    unknown = await answer({"resumeAfter": f"{made_up}.{our_seal}"})
    assert unknown["code"] == "not_found", unknown
    altered = our_seal[:-1] + ("A" if our_seal[-1] != "A" else "B")
    for event_id, seal in (
        (their_id, their_seal),  # another organization's token, as it was issued
        (our_id, their_seal),
        (their_id, our_seal),
        (our_id, altered),
        (our_id, our_seal[:-2]),
        (our_id, str(position)),  # the token of ADR 0384 before sealing, in clear
        (our_id, str(position + 1)),
    ):
        error = await answer({"resumeAfter": f"{event_id}.{seal}"})
        assert json.loads(json.dumps(error).replace(event_id, made_up)) == unknown, error
    for tampered in (
        "nope",
        our_id,
        f"{our_id}.",
        f"{our_id}.{our_seal}=",
        f"{our_id}.{our_seal[:8]}+/{our_seal[10:]}",
        f"{our_id}.{'A' * 89}",
        f"x{our_id}.{our_seal}",
        f"{uuid.uuid4()}.{our_seal}",  # no UUIDv7
    ):
        assert (await answer({"resumeAfter": tampered}))["code"] == "validation", tampered
    both = await answer({"resumeAfter": our_token, "resumeFrom": our_id})
    assert both["code"] == "validation", both
    await socket.send('{"type":"ping"}')
    assert (await frame(socket))["type"] == "pong", "the connection survives bad input"
    await socket.close()


async def test_bad_subscriptions_and_unknown_resume_points_get_error_frames(
    replicas: Replicas, tokens: tuple[str, str]
) -> None:
    demo, _ = tokens
    socket = await connect(
        ws_url(replicas.first), additional_headers={"Authorization": f"Bearer {demo}"}
    )
    assert (await frame(socket))["type"] == "ready"
    for bad, code in (
        ({"type": "subscribe", "events": ["DROP TABLE"]}, "validation"),
        ({"type": "subscribe", "resumeFrom": "nope"}, "validation"),
        ({"type": "launch"}, "validation"),
        ("not json", "malformed"),  # unreadable, as on every API (ADR 0143)
    ):
        await socket.send(bad if isinstance(bad, str) else json.dumps(bad))
        reply = await frame(socket)
        assert reply["type"] == "error", reply
        assert reply["error"]["code"] == code, reply
    unknown = "0193a000-0000-7000-8000-000000000000"  # a UUIDv7 from 2024, never published
    await socket.send(json.dumps({"type": "subscribe", "resumeFrom": unknown}))
    reply = await frame(socket)
    assert reply["type"] == "error", reply
    assert reply["error"]["code"] == "not_found", reply
    await socket.send('{"type":"ping"}')
    assert (await frame(socket))["type"] == "pong", "the connection survives bad input"
    await socket.close()


async def test_tokens_are_verified_like_rest_and_browsers_send_theirs_as_a_subprotocol(
    replicas: Replicas, tokens: tuple[str, str]
) -> None:
    demo, _ = tokens
    forged = await connect(
        ws_url(replicas.first), additional_headers={"Authorization": "Bearer not.a.jwt"}
    )
    assert (await frame(forged))["error"]["code"] == "unauthorized"
    assert await close_code(forged) == 4401
    offered = [Subprotocol("bijmantra.live"), Subprotocol(f"bearer.{demo}")]
    browser = await connect(ws_url(replicas.first), subprotocols=offered)
    assert browser.subprotocol == "bijmantra.live"  # never the token echoed back
    assert (await frame(browser))["type"] == "ready"
    await browser.close()


async def anonymous_big_first_frame(base: str) -> tuple[str, int | None]:
    """An anonymous socket that sends a 15 MB first frame: the error it is answered with and
    the code it is closed with."""
    socket = await connect(ws_url(base), max_size=None)
    with contextlib.suppress(ConnectionClosed):  # the server may close before it is sent
        await socket.send('{"type":"auth","token":"' + "x" * BIG_FRAME + '"}')
    answer = await frame(socket)
    return answer["error"]["code"], await close_code(socket)


async def test_anonymous_sockets_sending_big_first_frames_leave_the_gateways_memory_alone(
    replicas: Replicas,
) -> None:
    """ADR 0382: granian holds a whole WebSocket message, up to 64 MiB, while the app awaits
    one, and has no setting for its size. The first-frame sign-in awaited one from anyone:
    20 anonymous sockets each sending 15 MB took the gateway's peak up 700 MB (measured
    here on the old code: +560 MB). Now a socket is signed in with the upgrade, and one
    without a token is closed before anything it sent is read."""
    gateway = replicas.stack.services["gateway"].pid
    before = high_water_mark(gateway)
    answers = await asyncio.gather(*(anonymous_big_first_frame(replicas.first) for _ in range(20)))
    grown = high_water_mark(gateway) - before
    assert set(answers) == {("unauthorized", 4401)}, answers
    assert grown < 32 * MIB, f"the gateway's peak grew {grown / MIB:.0f} MiB"  # 300 MB sent


async def test_a_member_holds_a_bounded_number_of_sockets_per_replica(
    replicas: Replicas, tokens: tuple[str, str]
) -> None:
    """ADR 0331: one viewer opened 150 sockets, each a filter run on every event of the
    organization and a queue (and, before ADR 0362, a NATS consumer of its own)."""
    email = f"viewer-{uuid.uuid4().hex[:8]}@sockets.example.org"
    await asyncio.to_thread(replicas.stack.register_member, email, OTHER_PASSWORD, ["viewer"])
    viewer = await asyncio.to_thread(replicas.stack.login, email, OTHER_PASSWORD)
    again = await asyncio.to_thread(replicas.stack.login, email, OTHER_PASSWORD)  # same member
    held = [
        await subscribed(replicas.second, token)
        for token in [viewer] * (SOCKETS_PER_MEMBER - 1) + [again]
    ]
    refused = await connect(
        ws_url(replicas.second), additional_headers={"Authorization": f"Bearer {viewer}"}
    )
    assert (await frame(refused))["error"]["code"] == "rate_limited"
    assert await close_code(refused) == 4429
    elsewhere = await subscribed(replicas.second, tokens[1])  # another member is not counted
    await elsewhere.close()
    await held.pop().close()
    for _ in range(int(WAIT / 0.1)):  # the place is freed once the server has seen the close
        socket = await connect(
            ws_url(replicas.second), additional_headers={"Authorization": f"Bearer {viewer}"}
        )
        if (await frame(socket))["type"] == "ready":
            break
        assert await close_code(socket) == 4429
        await asyncio.sleep(0.1)
    else:
        pytest.fail("a closed socket's place was never freed")
    for open_socket in [socket, *held]:
        await open_socket.close()


async def test_a_silent_client_is_dropped_by_keep_alive(
    replicas: Replicas, tokens: tuple[str, str]
) -> None:
    demo, _ = tokens
    socket = await connect(
        ws_url(replicas.second), additional_headers={"Authorization": f"Bearer {demo}"}
    )
    assert json.loads(await socket.recv())["type"] == "ready"
    assert await close_code(socket) == 4408, "read, but never answering pings, gets dropped"


def burst_event(tenant_id: str, n: int, padding: str = "") -> OutboxRecord:
    """An event as the relay publishes it, of a family the feed admits and no service's
    consumer but the audit trail follows (``padding``: as large as it must be)."""
    return OutboxRecord.of(
        EventEnvelope(
            id=str(uuid7()),
            type="analysis.live_burst",
            source="test",
            tenant_id=tenant_id,
            subject=f"burst-{n}",
            time=datetime.now(UTC),
            schema_version=1,
            data={"n": n, "padding": padding},
        )
    )


async def test_a_burst_of_three_queues_reaches_a_socket_that_reads_promptly(
    replicas: Replicas, tokens: tuple[str, str]
) -> None:
    """ADR 0375: events stored together reach the worker together; its follower filled the
    socket's queue before the socket's sender first ran, and a socket that reads every frame
    at once was closed 4413 as too slow."""
    demo, _ = tokens
    socket = await subscribed(replicas.second, demo, events=["analysis.live_burst"])
    burst = [burst_event(DEMO_ORGANIZATION_ID, n) for n in range(3 * QUEUE_LIMIT)]
    nc = await nats.connect(replicas.stack.nats_url)
    try:
        await JetStreamPublisher(nc.jetstream()).publish_batch(burst)  # all sent, then acked
    finally:
        await nc.close()
    seen: list[str] = []
    while len(seen) < len(burst):
        message = await frame(socket)
        assert message["type"] == "event", message
        seen.append(message["event"]["id"])
    assert seen == [r.id for r in burst]  # all of them, in order, once
    await socket.send('{"type":"ping"}')
    assert (await frame(socket))["type"] == "pong"  # and still open
    await socket.close()


async def test_a_client_that_stops_reading_is_disconnected_not_buffered(
    replicas: Replicas, tokens: tuple[str, str]
) -> None:
    demo, other = tokens
    # Another socket on the same worker, sharing its consumer (ADR 0362), reads on while the
    # stalled one fills its queue and is closed: the stalled socket holds no one up for long
    # (ADR 0375; a prompt socket of its own organization: tests of ``LiveHub`` on JetStream).
    reader = await subscribed(replicas.second, other)
    seen: list[dict[str, Any]] = []

    async def read() -> None:
        while True:
            message = await frame(reader)
            seen.append(message["event"])

    reading = asyncio.create_task(read())
    socket = await connect(
        ws_url(replicas.second),
        additional_headers={"Authorization": f"Bearer {demo}"},
        max_queue=1,
    )
    raw = socket.transport.get_extra_info("socket")
    raw.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_RCVBUF, 4096)
    assert json.loads(await socket.recv())["type"] == "ready"
    await socket.send(json.dumps({"type": "subscribe"}))
    socket.transport.pause_reading()
    body = [
        {
            "germplasmName": f"flood-{n}",
            "germplasmPUI": f"doi:flood/{n}",
            "commonCropName": "Millet",
            "additionalInfo": {"padding": "x" * 2000},
        }
        for n in range(200)
    ]
    async with httpx.AsyncClient(base_url=replicas.first, timeout=60) as client:
        for _ in range(15):
            response = await client.post(
                "/brapi/v2/germplasm", json=body, headers={"Authorization": f"Bearer {demo}"}
            )
            assert response.status_code == 200
    marker = await create(replicas.first, other, "after-the-flood")
    for _ in range(int(WAIT / 0.1)):
        if marker in {e["subject"] for e in seen} or reading.done():
            break
        await asyncio.sleep(0.1)
    assert marker in {e["subject"] for e in seen}, reading
    assert DEMO_ORGANIZATION_ID not in {e["tenant_id"] for e in seen}
    socket.transport.resume_reading()
    # Closed as too slow (4413) or, while it did not read, by keep-alive (4408); when its
    # pipe was full the close frame could not pass and the server dropped the connection.
    assert await close_code(socket) in {4413, 4408, None}
    assert not reading.done(), reading  # still open, answering pings: the end left it be
    reading.cancel()
    await reader.close()


async def feed_consumers(nats_url: str) -> list[str]:
    """The event stream's consumers that are not a service's durable: the live feed's."""
    nc = await nats.connect(nats_url)
    try:
        consumers = await nc.jetstream().consumers_info(EVENTS_STREAM)
    finally:
        await nc.close()
    return [c.name for c in consumers if not c.config.durable_name]


async def until_feed_consumers(nats_url: str, count: int, patience: float = WAIT) -> list[str]:
    """The live feed's consumers once there are ``count`` (closes reach the server later)."""
    for _ in range(int(patience / 0.1)):
        names = await feed_consumers(nats_url)
        if len(names) == count:
            return names
        await asyncio.sleep(0.1)
    pytest.fail(f"the stream kept {len(names)} live feed consumers, not {count}: {names}")


async def test_a_workers_sockets_share_one_consumer_removed_with_the_last_of_them(
    replicas: Replicas, tokens: tuple[str, str]
) -> None:
    """ADR 0362: one consumer per gateway worker, not per socket (a consumer per socket capped
    the platform's sockets at the stream's consumers, ADR 0352). Two organizations' sockets on
    one worker share it, and each still receives its own organization's events alone."""
    demo, other = tokens
    nats_url = replicas.stack.nats_url
    # The sockets of the tests before have gone. In one clean-clone run on a loaded host a
    # consumer of the tests before outlived WAIT (not seen again locally, under load too):
    # more patience, and the failure names what stayed. A consumer that never goes still fails.
    await until_feed_consumers(nats_url, 0, patience=3 * WAIT)
    demo_sockets = [
        await subscribed(replicas.first, demo, events=["germplasm.*"]) for _ in range(12)
    ]
    other_sockets = [await subscribed(replicas.first, other) for _ in range(3)]
    await until_feed_consumers(nats_url, 1)  # 15 on the previous code
    other_id = await create(replicas.first, other, "shared-other")  # first: a leak comes first
    demo_id = await create(replicas.first, demo, "shared-demo")
    for socket in demo_sockets:
        seen: list[dict[str, Any]] = []
        await event_for(socket, demo_id, seen)
        assert {e["tenant_id"] for e in seen} == {DEMO_ORGANIZATION_ID}
        assert other_id not in {e["subject"] for e in seen}
    for socket in other_sockets:
        seen = []
        await event_for(socket, other_id, seen)
        assert DEMO_ORGANIZATION_ID not in {e["tenant_id"] for e in seen}
    for socket in [*demo_sockets, *other_sockets][1:]:
        await socket.close()
    await until_feed_consumers(nats_url, 1)  # one socket keeps it
    await demo_sockets[0].close()
    await until_feed_consumers(nats_url, 0)  # the last one took it away
    again = await subscribed(replicas.first, demo)  # and the next makes it again
    await until_feed_consumers(nats_url, 1)
    later = await create(replicas.first, demo, "shared-again")
    await event_for(again, later, [])
    await again.close()


def never_reading(port: int, token: str) -> stdlib_socket.socket:
    """A client that subscribes and never reads again, with the smallest receive buffer the
    kernel allows: the server's frames fill the pipe, and its sends and its close block."""
    raw = stdlib_socket.socket()
    raw.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_RCVBUF, 1024)
    raw.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: Bearer {token}\r\n\r\n".encode()
    )
    answer = b""
    while not answer.endswith(b"\r\n\r\n"):
        answer += raw.recv(1)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    subscribe, mask = b'{"type":"subscribe"}', os.urandom(4)  # a client's frames are masked
    raw.sendall(
        bytes([0x81, 0x80 | len(subscribe)])
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(subscribe))
    )
    return raw


async def test_a_socket_that_never_reads_again_is_let_go_with_its_workers_consumer(
    replicas: Replicas, tokens: tuple[str, str]
) -> None:
    """ADR 0379: a socket whose client stopped reading is closed as too slow (4413), and its
    watch ends then, whatever its pipe does: the worker's consumer goes and the member's
    place is free while the client still holds the connection, unread. Keep-alive is out of
    play (an hour), so the hub's verdict is what ends it."""
    demo, _ = tokens
    nats_url = replicas.stack.nats_url
    await until_feed_consumers(nats_url, 0, patience=3 * WAIT)
    port, gateway = gateway_replica(
        replicas.stack, "-3", ping_interval="3600", sockets_per_member="1"
    )
    stalled = await asyncio.to_thread(never_reading, port, demo)
    try:
        await until_feed_consumers(nats_url, 1)
        # 3,000 events of 2 KB: far more than the kernel's buffers and the queue of 20 hold.
        flood = [burst_event(DEMO_ORGANIZATION_ID, n, "x" * 2000) for n in range(3000)]
        nc = await nats.connect(nats_url)
        try:
            await JetStreamPublisher(nc.jetstream()).publish_batch(flood)  # all sent, then acked
        finally:
            await nc.close()
        await until_feed_consumers(nats_url, 0)  # the client still holds it, unread
        again = await subscribed(f"http://127.0.0.1:{port}", demo)  # its place is free
        await until_feed_consumers(nats_url, 1)
        await again.close()
        await until_feed_consumers(nats_url, 0)
    finally:
        stalled.close()
        gateway.terminate()
        await asyncio.to_thread(gateway.wait, 60)


async def test_audit_trail_and_activity_over_the_platform_api(
    replicas: Replicas, tokens: tuple[str, str]
) -> None:
    demo, other = tokens
    germplasm_id = await create(replicas.first, demo, "audited")
    async with httpx.AsyncClient(base_url=replicas.second, timeout=30) as client:
        headers = {"Authorization": f"Bearer {demo}"}
        activity: list[dict[str, Any]] = []
        for _ in range(300):
            response = await client.get(
                "/api/v1/activity", params={"resource": germplasm_id}, headers=headers
            )
            assert response.status_code == 200, response.text
            if activity := response.json()["data"]:
                break
            await asyncio.sleep(0.1)
        [entry] = activity
        assert entry["action"] == "germplasm.created"
        assert entry["resource"] == germplasm_id
        assert entry["actor"]
        trail = (await client.get("/api/v1/audit", params={"page_size": 2}, headers=headers)).json()
        assert trail["meta"]["total_count"] >= 1
        assert len(trail["data"]) <= 2
        assert trail["data"][0]["position"] == 1
        assert trail["data"][0]["event"]["tenant_id"] == DEMO_ORGANIZATION_ID
        verdict = (await client.get("/api/v1/audit/verify", headers=headers)).json()["data"]
        assert verdict["valid"] is True
        assert verdict["entries_checked"] == verdict["head_position"] >= 1
        missing = await client.get("/api/v1/activity", headers=headers)
        assert missing.status_code == 422
        assert missing.json()["error"]["code"] == "validation"
        other_view = await client.get(
            "/api/v1/activity",
            params={"resource": germplasm_id},
            headers={"Authorization": f"Bearer {other}"},
        )
        assert other_view.status_code == 200
        assert other_view.json()["data"] == []
        denied = await client.get("/api/v1/audit", headers={"Authorization": f"Bearer {other}"})
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "forbidden"
        unauthenticated = await client.get("/api/v1/audit/verify")
        assert unauthenticated.status_code == 401
