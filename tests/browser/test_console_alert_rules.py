"""Alert rules from a device's page: the rules watching the device are listed, a threshold
rule is added there (a threshold that is no number is refused with the form as typed), and a
reading past it opens an alert in the inbox; rate-of-change and no-data rules are added by
forms of their own; a read-only member is offered none, and their forged rule is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from bijmantra.devstack.stack import DevStack
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import axe_violations, cookies_of, csrf_of
from tests.browser.test_console_sensors import alert_row, enrol_logger, send, wait_for_open_alert


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
    expect(alert_row(page, device["deviceId"]).get_by_role("link")).to_have_text(
        "Drying shed logger"
    )


def _rules_of(stack: DevStack, device_id: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {stack.login()}"}
    found = httpx.get(f"{stack.gateway_url}/api/v1/alert-rules", headers=headers, timeout=30)
    assert found.status_code == 200, found.text
    return [r for r in found.json()["data"] if r.get("deviceId") == device_id]


def test_rate_of_change_and_no_data_rules_are_added_on_the_device_page(
    page: Page, console_stack: DevStack
) -> None:
    device, _ = enrol_logger(console_stack, "Cold room logger")
    page.goto(f"/app/devices/{device['deviceId']}")
    rate = page.get_by_role("form", name="Add a rate-of-change rule")
    rate.get_by_label("Rule name").fill("door left open")
    rate.get_by_label("Reading", exact=True).select_option("air_temperature")
    rate.get_by_label("Fires when the reading changes by more than").fill("fast")
    rate.get_by_label("Within, seconds (default 60)").fill("300")
    rate.get_by_role("button", name="Add the rule").click()
    expect(page.get_by_role("alert")).to_contain_text("max_change: 'fast' is not a number")
    rate = page.get_by_role("form", name="Add a rate-of-change rule")
    expect(rate.get_by_label("Rule name")).to_have_value("door left open")
    expect(rate.get_by_label("Within, seconds (default 60)")).to_have_value("300")
    expect(
        page.get_by_role("form", name="Add a no-data rule").get_by_label("Rule name")
    ).to_have_value("")
    assert axe_violations(page) == []
    rate.get_by_label("Fires when the reading changes by more than").fill("4")
    rate.get_by_role("button", name="Add the rule").click()
    expect(page.get_by_role("row").filter(has_text="door left open")).to_contain_text(
        "changes by more than 4.0 in 300 s"
    )

    # The use case's own refusal (1 to 1000 missed readings) is shown by its form, as typed.
    silent = page.get_by_role("form", name="Add a no-data rule")
    silent.get_by_label("Rule name").fill("logger silent")
    silent.get_by_label("Expected every, seconds (default 60)").fill("600")
    silent.get_by_label("Fires after this many missed readings (default 1)").fill("0")
    silent.get_by_role("button", name="Add the rule").click()
    expect(page.get_by_role("alert")).to_contain_text("intervals")
    silent = page.get_by_role("form", name="Add a no-data rule")
    expect(silent.get_by_label("Rule name")).to_have_value("logger silent")
    silent.get_by_label("Fires after this many missed readings (default 1)").fill("3")
    silent.get_by_role("button", name="Add the rule").click()
    expect(page.get_by_role("row").filter(has_text="logger silent")).to_contain_text(
        "no reading for 3 \N{MULTIPLICATION SIGN} 600 s"
    )
    kinds = sorted(r["kind"] for r in _rules_of(console_stack, device["deviceId"]))
    assert kinds == ["no_data", "rate_of_change"]


def test_a_read_only_member_gets_no_rule_form_and_a_forged_rule_is_refused(
    viewer_context: BrowserContext, console_stack: DevStack
) -> None:
    device, _ = enrol_logger(console_stack, "Viewer's logger")
    page = viewer_context.new_page()
    page.goto(f"/app/devices/{device['deviceId']}")
    expect(page.get_by_role("heading", name="Alert rules")).to_be_visible()
    expect(page.get_by_role("button", name="Add the rule")).to_have_count(0)
    forged = httpx.post(
        f"{console_stack.gateway_url}/app/devices/{device['deviceId']}/alert-rules",
        headers=cookies_of(viewer_context),
        data={
            "csrf_token": csrf_of(page),  # a valid token: the role, not CSRF, refuses it
            "kind": "no_data",
            "name": "forged",
            "metric": "air_temperature",
        },
    )
    assert forged.status_code == 403
    assert _rules_of(console_stack, device["deviceId"]) == []
    page.close()
