"""Sensors in the console: a device with its status and history at a chosen resolution, and
an alert acknowledged then cleared from the inbox, recording who did it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bijmantra.devstack.stack import DevStack
from playwright.sync_api import Page, expect

from tests.browser.conftest import axe_violations

PROFILE = {
    "name": "console seed store",
    "metrics": [{"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70}],
}


@pytest.fixture(scope="module")
def logger(console_stack: DevStack) -> dict[str, Any]:
    """A commissioned logger of the demo organization with an hour of readings and one alert."""
    token = console_stack.login()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=console_stack.gateway_url, headers=headers, timeout=30) as api:
        profile = api.post("/api/v1/device-profiles", json=PROFILE).json()["data"]
        body = {
            "name": "Cold store logger",
            "profileId": profile["profileId"],
            "locationDbId": "seed-store-A",
        }
        device = api.post("/api/v1/devices", json=body).json()["data"]
        code = api.post(f"/api/v1/devices/{device['deviceId']}/claim-code").json()["data"]
        rule = {
            "name": "too warm",
            "metric": "air_temperature",
            "kind": "threshold",
            "deviceId": device["deviceId"],
            "comparison": "above",
            "threshold": 8.0,
        }
        assert api.post("/api/v1/alert-rules", json=rule).status_code == 201
    credential = httpx.post(
        f"{console_stack.gateway_url}/api/v1/devices/claim",
        json={"claimCode": code["claimCode"]},
    ).json()["data"]["credential"]
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    readings = [
        {
            "metric": "air_temperature",
            "time": (now - timedelta(minutes=m)).isoformat(),
            "value": 4.0 + (5.0 if m == 1 else 0.0),
        }
        for m in range(1, 31)
    ]
    sent = httpx.post(
        f"{console_stack.gateway_url}/api/v1/telemetry",
        json={"readings": readings},
        headers={"Authorization": f"Device {credential}"},
    )
    assert sent.status_code == 200, sent.text
    return device


def test_devices_with_status_and_history_at_a_resolution(
    page: Page, logger: dict[str, Any]
) -> None:
    page.goto("/app/devices")
    row = page.get_by_role("row").filter(has_text="Cold store logger")
    expect(row).to_contain_text("commissioned")
    expect(row).to_contain_text("online")
    row.get_by_role("link", name="Cold store logger").click()
    expect(page.get_by_role("heading", name="Cold store logger")).to_be_visible()
    page.get_by_label("Resolution").select_option("1m")
    page.get_by_role("button", name="Show history").click()
    expect(page.get_by_text("30 buckets with readings")).to_be_visible()
    assert axe_violations(page) == []


def test_an_alert_is_acknowledged_then_cleared_with_who_and_when(
    page: Page, logger: dict[str, Any]
) -> None:
    page.goto("/app/alerts?status=open")
    row = page.get_by_role("row").filter(has_text=logger["deviceId"])
    expect(row).to_be_visible(timeout=30_000)  # the alert opens when the event is consumed
    assert axe_violations(page) == []
    row.get_by_role("button", name="Acknowledge").click()
    page.goto("/app/alerts?status=acknowledged")
    row = page.get_by_role("row").filter(has_text=logger["deviceId"])
    expect(row).to_contain_text("acknowledged by")
    row.get_by_role("button", name="Clear").click()
    page.goto("/app/alerts?status=cleared")
    expect(page.get_by_role("row").filter(has_text=logger["deviceId"])).to_contain_text(
        "cleared by"
    )
