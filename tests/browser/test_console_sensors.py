"""Sensors in the console: a device with its status and history at a chosen resolution, and
an alert acknowledged then cleared from the inbox, recording who did it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bijmantra.devstack.stack import DevStack
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import axe_violations

ALERT_WAIT = 30.0  # seconds for the worker to open an alert (not a performance bound)
PROFILE = {
    "name": "console seed store",
    "metrics": [{"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70}],
}


def enrol_logger(
    stack: DevStack, name: str, rule: dict[str, Any] | None = None
) -> tuple[dict[str, Any], str]:
    """A claimed logger of the demo organization (and its alert rule): (device, credential)."""
    headers = {"Authorization": f"Bearer {stack.login()}"}
    with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=30) as api:
        profiles = api.get("/api/v1/device-profiles").json()["data"]
        known = [p for p in profiles if p["name"] == PROFILE["name"]]
        profile = (
            known[0] if known else api.post("/api/v1/device-profiles", json=PROFILE).json()["data"]
        )
        store = api.post("/brapi/v2/locations", json=[{"locationName": "seed store A"}])
        location = store.json()["result"]["data"][0]["locationDbId"]  # devices are placed there
        body = {"name": name, "profileId": profile["profileId"], "locationDbId": location}
        device = api.post("/api/v1/devices", json=body).json()["data"]
        code = api.post(f"/api/v1/devices/{device['deviceId']}/claim-code").json()["data"]
        if rule is not None:
            rule = {**rule, "deviceId": device["deviceId"]}
            assert api.post("/api/v1/alert-rules", json=rule).status_code == 201
    credential = httpx.post(
        f"{stack.gateway_url}/api/v1/devices/claim", json={"claimCode": code["claimCode"]}
    ).json()["data"]["credential"]
    return device, credential


def send(stack: DevStack, credential: str, readings: list[dict[str, Any]]) -> None:
    sent = httpx.post(
        f"{stack.gateway_url}/api/v1/telemetry",
        json={"readings": readings},
        headers={"Authorization": f"Device {credential}"},
    )
    assert sent.status_code == 200, sent.text


@pytest.fixture(scope="module")
def logger(console_stack: DevStack) -> dict[str, Any]:
    """A commissioned logger of the demo organization with an hour of readings and one alert."""
    rule = {
        "name": "too warm",
        "metric": "air_temperature",
        "kind": "threshold",
        "comparison": "above",
        "threshold": 8.0,
    }
    device, credential = enrol_logger(console_stack, "Cold store logger", rule)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    readings = [
        {
            "metric": "air_temperature",
            "time": (now - timedelta(minutes=m)).isoformat(),
            "value": 4.0 + (5.0 if m == 1 else 0.0),
        }
        for m in range(1, 31)
    ]
    send(console_stack, credential, readings)
    wait_for_open_alert(console_stack, device["deviceId"])
    return {**device, "credential": credential}


def wait_for_open_alert(stack: DevStack, device_id: str) -> None:
    """Until the worker has opened the device's alert (it consumes the reading's event after
    the send returns); the alerts page is rendered once, so a test that opened it before the
    alert existed would wait for a row that never comes."""
    headers = {"Authorization": f"Bearer {stack.login()}"}
    deadline = time.monotonic() + ALERT_WAIT
    with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=30) as api:
        while True:
            response = api.get("/api/v1/alerts", params={"status": "open"})
            assert response.status_code == 200, response.text
            if any(a["deviceId"] == device_id for a in response.json()["data"]):
                return
            assert time.monotonic() < deadline, f"no open alert for {device_id}"
            time.sleep(0.3)


def test_devices_with_status_and_history_at_a_resolution(
    page: Page, logger: dict[str, Any]
) -> None:
    page.goto("/app/devices")
    row = page.get_by_role("row").filter(has_text="Cold store logger")
    expect(row).to_contain_text("commissioned")
    expect(row).to_contain_text("online")
    expect(row).to_contain_text("seed store A")  # its location's name, not its id
    row.get_by_role("link", name="Cold store logger").click()
    expect(page.get_by_role("heading", name="Cold store logger")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text("seed store A")
    page.get_by_label("Resolution").select_option("1m")
    page.get_by_role("button", name="Show history").click()
    expect(page.get_by_text("30 buckets with readings")).to_be_visible()
    assert axe_violations(page) == []


def alert_row(page: Page, device_id: str) -> Locator:
    """The inbox's row of an alert of the device, found by the link to it (named by its name)."""
    return page.get_by_role("row").filter(has=page.locator(f'a[href="/app/devices/{device_id}"]'))


def test_an_alert_is_acknowledged_then_cleared_with_who_and_when(
    page: Page, logger: dict[str, Any]
) -> None:
    page.goto("/app/alerts?status=open")
    row = alert_row(page, logger["deviceId"])
    expect(row).to_be_visible()  # open since the fixture: the page shows it when rendered
    expect(row.get_by_role("link")).to_have_text(logger["name"])  # its name, not its id
    assert axe_violations(page) == []
    row.get_by_role("button", name="Acknowledge").click()
    page.goto("/app/alerts?status=acknowledged")
    row = alert_row(page, logger["deviceId"])
    expect(row).to_contain_text("acknowledged by")
    row.get_by_role("button", name="Clear").click()
    page.goto("/app/alerts?status=cleared")
    expect(alert_row(page, logger["deviceId"])).to_contain_text("cleared by")


def test_the_devices_list_follows_a_device_live(page: Page, console_stack: DevStack) -> None:
    device, credential = enrol_logger(console_stack, "Germination room logger")
    page.goto("/app/devices")
    expect(page.locator("#devices")).to_have_attribute("data-live", "subscribed")
    row = page.get_by_role("row").filter(has_text="Germination room logger")
    status = row.locator(f'[data-status-of="{device["deviceId"]}"]')
    expect(status).to_have_text("offline")  # claimed, never heard from
    expect(row.locator("[data-seen]")).to_have_text("never")
    now = datetime.now(UTC).replace(microsecond=0)
    send(
        console_stack,
        credential,
        [{"metric": "air_temperature", "time": now.isoformat(), "value": 21.0}],
    )
    expect(status).to_have_text("online", timeout=30_000)  # no reload: the page's /app/ws
    expect(row.locator("[data-seen]")).not_to_have_text("never")


def test_the_live_chart_draws_a_summary_or_every_followed_reading(
    page: Page, console_stack: DevStack, logger: dict[str, Any]
) -> None:
    """Without a threshold or rate rule the event carries the batch's newest reading only
    (one point per batch); with one (the logger's), every reading (ADR 0304)."""
    device, credential = enrol_logger(console_stack, "Seed drying logger")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    batch = [
        {"metric": "air_temperature", "time": (now - timedelta(minutes=m)).isoformat(), "value": v}
        for m, v in ((3, 30.0), (2, 31.0), (1, 32.5))
    ]
    page.goto(f"/app/devices/{device['deviceId']}")
    chart = page.locator("#live-chart")
    expect(chart).to_have_attribute("data-live", "subscribed")
    send(console_stack, credential, batch)
    expect(page.locator("#latest")).to_contain_text("32.5", timeout=30_000)
    expect(chart).to_have_attribute("data-count", "1")

    page.goto(f"/app/devices/{logger['deviceId']}")
    expect(chart).to_have_attribute("data-live", "subscribed")
    before = int(chart.get_attribute("data-count") or "0")
    later = [
        {
            "metric": "air_temperature",
            "time": (now + timedelta(seconds=10 * i)).isoformat(),
            "value": 4.5,
        }
        for i in range(3)
    ]  # below the logger's threshold: no alert for the tests before
    send(console_stack, logger["credential"], later)
    expect(chart).to_have_attribute("data-count", str(before + 3), timeout=30_000)
