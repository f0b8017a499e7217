"""A breeder finds a seed lot by its name and opens it: a lot of a cross (no germplasm, so
no germplasm page shows it) names the cross and its transactions, in headless Chromium.
Everything read here is made by the test through BrAPI; another organization's
administrator opening the lot's address is told it is not found."""

from __future__ import annotations

import re
import uuid

from bijmantra.devstack.stack import DevStack
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import axe_violations, not_found_for, screenshot
from tests.browser.seed import Brapi


def test_a_lot_of_a_cross_is_found_by_name_and_shows_its_transactions(
    page: Page, console_stack: DevStack, outsider_context: BrowserContext
) -> None:
    tag = uuid.uuid4().hex[:8]
    brapi = Brapi(console_stack.gateway_url, console_stack.login())
    [germplasm] = brapi.create(
        "/germplasm",
        [
            {
                "germplasmName": f"NERICA {tag}",
                "germplasmPUI": f"urn:lots:{tag}",
                "commonCropName": "Rice",
            }
        ],
    )
    [cross] = brapi.create("/crosses", [{"crossName": f"NERICA x WAB {tag}"}])
    store, bulk = brapi.create(
        "/seedlots",
        [
            {
                "seedLotName": f"Cold store {tag}",
                "amount": 50,
                "units": "kg",
                "contentMixture": [{"germplasmDbId": germplasm["germplasmDbId"]}],
            },
            {
                "seedLotName": f"F1 bulk {tag}",
                "amount": 2,
                "units": "kg",
                "contentMixture": [{"crossDbId": cross["crossDbId"]}],
            },
        ],
    )
    brapi.create(
        "/seedlots/transactions",
        [
            {
                "fromSeedLotDbId": store["seedLotDbId"],
                "toSeedLotDbId": bulk["seedLotDbId"],
                "amount": 1,
                "units": "kg",
                "transactionDescription": f"to the crossing block {tag}",
            }
        ],
    )
    brapi.client.close()
    lot_url = f"/app/seedlots/{bulk['seedLotDbId']}"

    page.goto("/app")
    page.get_by_role("link", name="Seed lots", exact=True).click()
    page.get_by_label("Seed lot name").fill(bulk["seedLotName"])
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.locator("#results tbody tr")).to_contain_text(cross["crossName"])
    assert axe_violations(page) == [], page.url
    screenshot(page, "seedlots-01-list")

    page.locator("#results tbody").get_by_role("link", name=bulk["seedLotName"]).click()
    expect(page).to_have_url(re.compile(f".*{lot_url}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(bulk["seedLotName"])
    expect(page.locator("dl.facts")).to_contain_text(cross["crossName"])
    moved = page.locator("tbody tr", has_text=f"to the crossing block {tag}")
    expect(moved).to_have_count(1)
    expect(moved.get_by_role("link", name=store["seedLotName"])).to_be_visible()
    assert axe_violations(page) == [], page.url
    screenshot(page, "seedlots-02-lot")

    not_found_for(outsider_context, lot_url, (bulk["seedLotName"], cross["crossName"]))
