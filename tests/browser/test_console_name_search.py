"""A breeder types a part of a germplasm's name, in lower case, into the search box and the
results narrow to it as they type (HTMX), in headless Chromium (ADR 0385)."""

from __future__ import annotations

import uuid

from bijmantra.devstack.stack import DevStack
from playwright.sync_api import Page, expect

from tests.browser.conftest import axe_violations, screenshot
from tests.browser.seed import Brapi


def test_typing_a_part_of_a_name_in_lower_case_finds_the_germplasm(
    page: Page, console_stack: DevStack
) -> None:
    tag = uuid.uuid4().hex[:8].upper()
    brapi = Brapi(console_stack.gateway_url, console_stack.login())
    brapi.create(
        "/germplasm",
        [
            {
                "germplasmName": f"IR64-{tag}",
                "germplasmPUI": f"urn:s:{tag}:1",
                "commonCropName": "Rice",
            },
            {
                "germplasmName": f"IR8-{tag}",
                "germplasmPUI": f"urn:s:{tag}:2",
                "commonCropName": "Rice",
            },
            {
                "germplasmName": f"Swarna 100%_{tag}",
                "germplasmPUI": f"urn:s:{tag}:3",
                "commonCropName": "Rice",
            },
        ],
    )
    brapi.client.close()

    page.goto("/app")
    page.get_by_role("link", name="Germplasm", exact=True).click()
    page.get_by_label("for").press_sequentially(f"r64-{tag.lower()}", delay=20)
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(1)  # no button pressed: the box searches as one types
    expect(rows).to_contain_text(f"IR64-{tag}")
    assert axe_violations(page) == [], page.url
    screenshot(page, "name-search-01-partial")

    page.get_by_label("for").fill(f"0%_{tag.lower()}")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(f"Swarna 100%_{tag}")
    page.get_by_label("for").fill(f"0__{tag.lower()}")  # "_" is itself, not any character
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#results")).to_contain_text("0 germplasm")
