"""The enrolment wizard and the live chart in a real browser: a profile and a device made in
the console, the claim code issued there, the device's claim and first reading moving the
page on by themselves (over /app/ws), then its readings drawn as they arrive. A read-only
member is refused the wizard; another organization's member finds no such device."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from bijmantra.devstack.stack import DevStack
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import axe_violations

WAIT = 30_000  # ms before a missing live update counts as a failure (not a performance bound)


def send(stack: DevStack, credential: str, value: float) -> None:
    reading = {"metric": "soil_moisture", "time": datetime.now(UTC).isoformat(), "value": value}
    sent = httpx.post(
        f"{stack.gateway_url}/api/v1/telemetry",
        json={"readings": [reading]},
        headers={"Authorization": f"Device {credential}"},
        timeout=30,
    )
    assert sent.status_code == 200, sent.text


def plot_7(stack: DevStack) -> str:
    """A location of the demo organization (made over BrAPI): a device is placed at one."""
    made = httpx.post(
        f"{stack.gateway_url}/brapi/v2/locations",
        json=[{"locationName": "Plot 7"}],
        headers={"Authorization": f"Bearer {stack.login()}"},
        timeout=30,
    )
    assert made.status_code == 200, made.text
    return str(made.json()["result"]["data"][0]["locationDbId"])


@pytest.fixture(scope="module")
def enrolled(page_module: Page, console_stack: DevStack) -> dict[str, str]:
    """Walk the wizard once; later tests look at what it made."""
    page = page_module
    placed = plot_7(console_stack)  # before the wizard opens: step 1 lists the locations
    page.goto("/app/devices")
    page.get_by_role("link", name="Enrol a device").click()
    expect(page.get_by_role("heading", name="Step 1: register the device")).to_be_visible()
    if not page.get_by_label("Profile name").is_visible():  # open by itself with no profile
        page.locator("summary", has_text="New device profile").click()
    page.get_by_label("Profile name").fill("wizard soil probe")
    page.get_by_label("Metric (e.g. air_temperature)").fill("soil_moisture")
    page.get_by_label("Unit (e.g. degC)").fill("%")
    page.get_by_label("Valid minimum").fill("0")
    page.get_by_label("Valid maximum").fill("100")
    page.get_by_role("button", name="Create profile").click()
    page.get_by_label("Device name").fill("Plot 7 probe")
    profile = page.get_by_label("Profile", exact=True)
    profile.select_option(label="wizard soil probe (soil_moisture)")
    page.get_by_label("Location", exact=True).select_option(value=placed)
    page.get_by_role("button", name="Register device").click()
    expect(page).to_have_url(re.compile(r"/app/devices/[^/]+/enrol$"))
    device_id = page.url.rsplit("/", 2)[-2]
    expect(page.locator("[aria-current=step]")).to_contain_text("Issue a claim code")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Issue claim code").click()
    code = page.locator("#claim-code").inner_text().strip()
    assert code.startswith("bjc.")
    expect(page.locator("[aria-current=step]")).to_contain_text("Device claims it")
    expect(page.locator("body")).to_have_attribute("data-live", "subscribed", timeout=WAIT)
    claimed = httpx.post(
        f"{console_stack.gateway_url}/api/v1/devices/claim", json={"claimCode": code}, timeout=30
    )
    assert claimed.status_code == 200, claimed.text
    # No reload: the device's claim reaches the page over /app/ws.
    expect(page.get_by_role("heading", name="Step 4: waiting for the first reading")).to_be_visible(
        timeout=WAIT
    )
    expect(page.locator("#claim-code")).to_have_text(code)  # still shown, not fetched again
    credential = claimed.json()["data"]["credential"]
    send(console_stack, credential, 31.5)
    expect(page.get_by_role("heading", name="Enrolled")).to_be_visible(timeout=WAIT)
    assert axe_violations(page) == []
    return {"deviceId": device_id, "credential": credential, "locationDbId": placed}


@pytest.fixture(scope="module")
def page_module(breeder_context: BrowserContext) -> Iterator[Page]:
    opened = breeder_context.new_page()
    yield opened
    opened.close()


def test_the_wizard_walks_a_device_through_its_four_steps(
    enrolled: dict[str, str], page_module: Page, console_stack: DevStack
) -> None:
    token = console_stack.login()
    with httpx.Client(
        base_url=console_stack.gateway_url, headers={"Authorization": f"Bearer {token}"}
    ) as api:
        device = api.get(f"/api/v1/devices/{enrolled['deviceId']}").json()["data"]
    assert device["state"] == "commissioned"
    assert device["locationDbId"] == enrolled["locationDbId"]
    assert device["name"] == "Plot 7 probe"


def test_the_live_chart_draws_each_reading_as_it_arrives(
    enrolled: dict[str, str], page_module: Page, console_stack: DevStack
) -> None:
    page = page_module
    page.get_by_role("link", name="See its readings live").click()
    chart = page.locator("#live-chart")
    expect(chart).to_have_attribute("data-count", "1")  # the first reading, drawn by the server
    expect(page.locator("#latest")).to_contain_text("31.5")
    expect(chart).to_have_attribute("data-live", "subscribed", timeout=WAIT)
    send(console_stack, enrolled["credential"], 42.25)
    expect(page.locator("#latest")).to_contain_text("42.25", timeout=WAIT)
    expect(chart).to_have_attribute("data-count", "2")
    expect(chart.locator("[data-label=high]")).to_have_text("42.25")
    assert chart.locator("polyline").get_attribute("points").count(",") == 2
    assert axe_violations(page) == []


def test_a_read_only_member_is_refused_the_wizard(
    enrolled: dict[str, str], viewer_context: BrowserContext
) -> None:
    page = viewer_context.new_page()
    page.goto("/app/devices")
    expect(page.get_by_role("link", name="Enrol a device")).to_have_count(0)
    assert page.request.get("/app/devices/new").status == 403
    assert page.request.get(f"/app/devices/{enrolled['deviceId']}/enrol").status == 403
    page.goto(f"/app/devices/{enrolled['deviceId']}")  # reading is allowed
    expect(page.locator("#live-chart")).to_be_visible()
    page.close()


def test_another_organization_finds_no_such_device(
    enrolled: dict[str, str], outsider_context: BrowserContext
) -> None:
    page = outsider_context.new_page()
    assert page.request.get(f"/app/devices/{enrolled['deviceId']}").status == 404
    assert page.request.get(f"/app/devices/{enrolled['deviceId']}/enrol").status == 404
    page.close()


def test_an_organization_without_locations_adds_one_in_the_wizard_and_registers(
    outsider_context: BrowserContext,
) -> None:
    """A new organization has no profile and no location: both are made on the first step's
    page, and the device is registered at the new location."""
    page = outsider_context.new_page()
    page.goto("/app/devices/new")
    if page.get_by_role("button", name="Register device").count() == 0:
        page.get_by_label("Profile name").fill("Greenhouse probe")
        page.get_by_label("Metric (e.g. air_temperature)").fill("air_temperature")
        page.get_by_label("Unit (e.g. degC)").fill("degC")
        page.get_by_label("Valid minimum").fill("-40")
        page.get_by_label("Valid maximum").fill("60")
        page.get_by_role("button", name="Create profile").click()
    name = f"Greenhouse {uuid.uuid4().hex[:6]}"
    summary = page.locator("summary", has_text="New location")
    if summary.locator("xpath=..").get_attribute("open") is None:  # open while there is none
        summary.click()
    page.get_by_label("Location name").fill(name)
    page.get_by_label("Country code (optional, e.g. KEN)").fill("ken")
    page.get_by_role("button", name="Add the location").click()
    expect(page).to_have_url(re.compile(r".*/app/devices/new$"))
    page.get_by_label("Device name").fill("Bench 4 probe")
    page.get_by_label("Location", exact=True).select_option(label=name)
    page.get_by_role("button", name="Register device").click()
    expect(page).to_have_url(re.compile(r".*/app/devices/[^/]+/enrol$"))
    assert axe_violations(page) == []
    page.close()


def test_a_refused_profile_is_shown_again_as_typed_with_the_reason(page: Page) -> None:
    page.goto("/app/devices/new")
    summary = page.locator("summary", has_text="New device profile")
    if summary.locator("xpath=..").get_attribute("open") is None:
        summary.click()
    page.get_by_label("Profile name").fill("Upside-down probe")
    page.get_by_label("Metric (e.g. air_temperature)").fill("soil_moisture")
    page.get_by_label("Unit (e.g. degC)").fill("percent")
    page.get_by_label("Valid minimum").fill("100")
    page.get_by_label("Valid maximum").fill("0")  # below the minimum: refused
    page.get_by_role("button", name="Create profile").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("Profile name")).to_have_value("Upside-down probe")
    expect(page.get_by_label("Unit (e.g. degC)")).to_have_value("percent")
    expect(page.get_by_label("Valid minimum")).to_have_value("100")
    assert axe_violations(page) == []
