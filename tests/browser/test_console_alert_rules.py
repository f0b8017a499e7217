"""Alert rules from a device's page: the rules watching the device are listed, a threshold
rule is added there (a threshold that is no number is refused with the form as typed), and a
reading past it opens an alert in the inbox."""

from __future__ import annotations

from datetime import UTC, datetime

from bijmantra.devstack.stack import DevStack
from playwright.sync_api import Page, expect

from tests.browser.conftest import axe_violations
from tests.browser.test_console_sensors import enrol_logger, send, wait_for_open_alert


def test_a_threshold_rule_added_on_the_device_page_opens_an_alert(
    page: Page, console_stack: DevStack
) -> None:
    device, credential = enrol_logger(console_stack, "Drying shed logger")
    page.goto(f"/app/devices/{device['deviceId']}")
    expect(page.get_by_text("No rule watches this device yet")).to_be_visible()
    form = page.get_by_role("form", name="Add a threshold rule")
    form.get_by_label("Rule name").fill("shed too hot")
    form.get_by_label("Reading", exact=True).select_option("air_temperature")
    form.get_by_label("Fires when the reading is").select_option("above")
    form.get_by_label("Threshold").fill("warm")
    form.get_by_role("button", name="Add the rule").click()
    expect(page.get_by_role("alert")).to_contain_text("threshold: 'warm' is not a number")
    form = page.get_by_role("form", name="Add a threshold rule")
    expect(form.get_by_label("Rule name")).to_have_value("shed too hot")
    assert axe_violations(page) == []

    form.get_by_label("Threshold").fill("35")
    form.get_by_role("button", name="Add the rule").click()
    rule = page.get_by_role("row").filter(has_text="shed too hot")
    expect(rule).to_contain_text("above 35")
    expect(rule).to_contain_text("this device")

    now = datetime.now(UTC).replace(microsecond=0)
    send(console_stack, credential, [{"metric": "air_temperature", "time": now.isoformat(),
                                      "value": 41.0}])  # fmt: skip
    wait_for_open_alert(console_stack, device["deviceId"])
    page.get_by_role("link", name="The alerts inbox").click()
    expect(page.get_by_role("row").filter(has_text=device["deviceId"])).to_be_visible()
