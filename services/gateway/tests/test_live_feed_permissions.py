"""``/ws`` re-verifies its token every keep-alive interval (ADR 0347): what the socket delivers
follows the principal verified then, not the one of subscribe time. The JWT verifier answers
a role change or a removal with a revoked token (4401, ``tests/e2e``); here the verifier
answers what a live lookup would: other roles (the feed narrows within one interval and the
socket stays open), no member (4401) or another organization (4401)."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from bijmantra.application.events.live_feed import FeedItem
from bijmantra.application.events.live_hub import LiveHub
from bijmantra.application.events.permissions import EventPermissions
from bijmantra.application.security import Action, Permission
from bijmantra.gateway.live import (
    MAX_FRAME,
    MAX_SUBSCRIBES,
    FeedSettings,
    SocketQuota,
    live_feed,
)
from bijmantra.gateway.resume_tokens import ResumeTokens
from bijmantra.kernel import Principal, TenantId
from bijmantra.testkit.console_fakes import FakeTokenVerifier
from bijmantra.testkit.event_fakes import FakeEventFeed
from litestar import Litestar
from litestar.datastructures import State
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient
from litestar.testing.websocket_test_session import WebSocketTestSession

TOKEN = "admin-token"
TENANT = TenantId(uuid.UUID("0193a000-0000-7000-8000-0000000000bb"))
ADMIN = Principal("u1", TENANT, frozenset({"admin"}))
INTERVAL = 0.5  # seconds between keep-alive checks
# Sealing the audit trail is read with compliance:admin (admins only), germplasm with read.
PERMISSIONS = EventPermissions(
    {
        "audit.sealed": Permission("compliance", Action.ADMIN),
        "germplasm.created": Permission("germplasm", Action.READ),
    },
    {},
)


@dataclasses.dataclass
class Feed:
    client: TestClient[Litestar]
    socket: WebSocketTestSession
    events: FakeEventFeed
    verifier: FakeTokenVerifier

    def publish(self, event_type: str, name: str) -> None:
        payload = json.dumps({"id": name, "type": event_type}).encode()
        item = FeedItem(name, str(TENANT), event_type, payload)
        self.client.blocking_portal.call(self.events.publish, item)  # in the app's loop

    def frame(self) -> dict[str, Any]:
        """The next frame that is not a ping (answered, as a client must)."""
        while True:
            message = json.loads(self.socket.receive_text(timeout=5))
            if message["type"] != "ping":
                return message
            self.socket.send_text('{"type":"pong"}')

    def checked_twice(self) -> None:
        """Two pings: the second was sent after a re-verification begun after this call."""
        for _ in range(2):
            while json.loads(self.socket.receive_text(timeout=5))["type"] != "ping":
                pass
            self.socket.send_text('{"type":"pong"}')

    def answer_pings(self, seconds: float) -> None:
        """Answer pings (ignoring other frames) for ``seconds``, or until the socket closes."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if json.loads(self.socket.receive_text(timeout=5))["type"] == "ping":
                self.socket.send_text('{"type":"pong"}')

    def close_code(self) -> int:
        """How the server closed the socket, within a few intervals (else the test fails)."""
        with pytest.raises(WebSocketDisconnect) as closed:
            self.answer_pings(10 * INTERVAL)
        return closed.value.code


@dataclasses.dataclass
class Served:
    client: TestClient[Litestar]
    events: FakeEventFeed
    verifier: FakeTokenVerifier


@pytest.fixture
def served() -> Iterator[Served]:
    events, verifier = FakeEventFeed(), FakeTokenVerifier({TOKEN: ADMIN})
    state = State(
        {
            "live_hub": LiveHub(events),
            "verifier": verifier,
            "feed_settings": FeedSettings(ResumeTokens.from_secret(""), ping_interval=INTERVAL),
            "event_permissions": PERMISSIONS,
            "socket_quota": SocketQuota(4),
        }
    )
    with TestClient(Litestar([live_feed], state=state)) as client:
        yield Served(client, events, verifier)


@pytest.fixture
def feed(served: Served) -> Iterator[Feed]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with served.client.websocket_connect("/ws", headers=headers) as socket:
        opened = Feed(served.client, socket, served.events, served.verifier)
        assert opened.frame()["type"] == "ready"
        socket.send_text('{"type":"subscribe"}')
        assert opened.frame()["type"] == "subscribed"
        yield opened


def test_a_lowered_role_narrows_an_open_socket_within_one_interval(feed: Feed) -> None:
    feed.publish("audit.sealed", "e1")
    assert feed.frame()["event"]["id"] == "e1"  # an admin's
    feed.verifier.principals[TOKEN] = dataclasses.replace(ADMIN, roles=frozenset({"viewer"}))
    feed.checked_twice()
    feed.publish("audit.sealed", "e2")  # no longer readable: on the old code, delivered
    feed.publish("germplasm.created", "e3")
    assert feed.frame()["event"]["id"] == "e3"
    feed.verifier.principals[TOKEN] = ADMIN  # raised again: the socket follows
    feed.checked_twice()
    feed.publish("audit.sealed", "e4")
    assert feed.frame()["event"]["id"] == "e4"


def test_a_removed_member_is_closed_4401(feed: Feed) -> None:
    del feed.verifier.principals[TOKEN]
    assert feed.close_code() == 4401


def test_a_token_that_names_another_organization_now_is_closed_4401(feed: Feed) -> None:
    elsewhere = TenantId(uuid.UUID("0193a000-0000-7000-8000-0000000000cc"))
    feed.verifier.principals[TOKEN] = dataclasses.replace(ADMIN, tenant_id=elsewhere)
    assert feed.close_code() == 4401


def test_a_socket_subscribes_a_bounded_number_of_times_a_minute(feed: Feed) -> None:
    """A subscribe frame with a resume point makes consumers on the NATS server every
    organization shares (its scan and its replay): in a loop, one member's socket had filled
    the stream's consumers (ADR 0352, 0362). Past the bound an error frame answers and the
    subscription stays."""
    for _ in range(MAX_SUBSCRIBES - 1):  # the fixture subscribed once
        feed.socket.send_text('{"type":"subscribe","events":["germplasm.*"]}')
        assert feed.frame()["type"] == "subscribed"
    feed.socket.send_text('{"type":"subscribe","events":["audit.*"]}')
    refused = feed.frame()
    assert refused["type"] == "error"
    assert refused["error"]["code"] == "rate_limited"
    assert refused["error"]["details"][0]["location"] == "retryAfter"
    feed.publish("audit.sealed", "e1")  # the refused subscription did not replace the last
    feed.publish("germplasm.created", "e2")
    assert feed.frame()["event"]["id"] == "e2"


def test_a_browser_signs_in_with_a_bearer_subprotocol(served: Served) -> None:
    offered = ["bijmantra.live", f"bearer.{TOKEN}"]
    with served.client.websocket_connect("/ws", subprotocols=offered) as socket:
        assert socket.accepted_subprotocol == "bijmantra.live"  # never the token echoed back
        assert json.loads(socket.receive_text(timeout=5))["type"] == "ready"


def test_a_socket_without_a_token_is_closed_before_it_is_read(served: Served) -> None:
    """ADR 0382: the server holds a whole message (up to 64 MiB) while the app awaits one, so
    the first-frame sign-in (``{"type":"auth",…}``) let anyone make it hold one per socket."""
    with served.client.websocket_connect("/ws") as socket:
        socket.send_text(json.dumps({"type": "auth", "token": TOKEN}))  # read no more
        assert json.loads(socket.receive_text(timeout=5))["error"]["code"] == "unauthorized"
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text(timeout=5)
        assert closed.value.code == 4401


def test_a_frame_past_the_bound_closes_the_socket(feed: Feed) -> None:
    """The server held it whole before the app could look: one per socket, not a stream."""
    feed.socket.send_text('{"type":"ping","pad":"' + "x" * MAX_FRAME + '"}')
    assert feed.frame()["error"]["code"] == "validation"
    assert feed.close_code() == 1009
