"""The console's live feed comes back after a dropped socket and resumes after its last
frame's ``resumeAfter`` token (ADR 0384): what happened while it was away still arrives."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bijmantra.devstack.stack import DevStack
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.browser.test_console_sensors import enrol_logger, send

WAIT = 30_000  # ms before a missing update counts as a failure (not a performance bound)


class Relayed:
    """The page's /app/ws connections, relayed to the gateway: what each side sent."""

    def __init__(self) -> None:
        self.connections: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []
        self.servers: list[WebSocketRoute] = []

    def route(self, page_side: WebSocketRoute) -> None:
        server = page_side.connect_to_server()
        sent: list[dict[str, Any]] = []
        received: list[dict[str, Any]] = []
        self.connections.append((sent, received))
        self.servers.append(server)

        def from_page(message: str | bytes) -> None:
            sent.append(json.loads(message))
            server.send(message)

        def from_server(message: str | bytes) -> None:
            received.append(json.loads(message))
            page_side.send(message)

        page_side.on_message(from_page)
        server.on_message(from_server)


def reading(value: float) -> list[dict[str, Any]]:
    now = datetime.now(UTC).replace(microsecond=0)
    return [{"metric": "air_temperature", "time": now.isoformat(), "value": value}]


def test_a_dropped_console_socket_resumes_after_its_last_frame(
    page: Page, console_stack: DevStack
) -> None:
    device, credential = enrol_logger(console_stack, "Resuming logger")
    relayed = Relayed()
    page.route_web_socket("**/app/ws", relayed.route)
    page.goto("/app/devices")
    expect(page.locator("#devices")).to_have_attribute("data-live", "subscribed")
    row = page.get_by_role("row").filter(has_text="Resuming logger")
    seen = row.locator("[data-seen]")
    send(console_stack, credential, reading(20.0))
    expect(seen).not_to_have_text("never", timeout=WAIT)
    first_seen = seen.inner_text()
    _, received = relayed.connections[0]
    events = [f for f in received if f["type"] in ("event", "events")]
    last_token = events[-1]["resumeAfter"]
    assert last_token.startswith(events[-1]["event"]["id"] + "."), events[-1]

    relayed.servers[0].close(code=4413, reason="slow consumer")  # the gateway drops it
    send(console_stack, credential, reading(21.0))  # while the page is away
    expect(seen).not_to_have_text(first_seen, timeout=WAIT)
    expect(row.locator(f'[data-status-of="{device["deviceId"]}"]')).to_have_text("online")
    sent, received = relayed.connections[1]
    subscribes = [f for f in sent if f["type"] == "subscribe"]
    assert subscribes[0]["resumeAfter"] == last_token, subscribes
    assert device["deviceId"] in subscribes[0]["resources"], subscribes
    assert [f["type"] for f in received if f["type"] in ("subscribed", "error")] == [
        "subscribed"
    ], received
