"""A breeder follows a study's location to its page and on to the other studies run there,
in headless Chromium; the location list finds it by name. Everything read here is made by
the test through BrAPI, so no other test's writes change what it sees. Another
organization's administrator opening the location's address is told it is not found."""

from __future__ import annotations

import re
import uuid

from bijmantra.devstack.stack import DevStack
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import axe_violations, not_found_for, screenshot
from tests.browser.seed import Brapi


def no_axe_findings(page: Page) -> None:
    assert axe_violations(page) == [], page.url


def test_study_to_location_to_the_studies_there(
    page: Page, console_stack: DevStack, outsider_context: BrowserContext
) -> None:
    tag = uuid.uuid4().hex[:8]
    brapi = Brapi(console_stack.gateway_url, console_stack.login())
    [program] = brapi.create("/programs", [{"programName": f"Locations program {tag}"}])
    [trial] = brapi.create(
        "/trials", [{"trialName": f"Locations trial {tag}", "programDbId": program["programDbId"]}]
    )
    station, elsewhere = brapi.create(
        "/locations",
        [
            {
                "locationName": f"Namulonge {tag}",
                "countryName": "Uganda",
                "countryCode": "UGA",
                "locationType": "Field",
                "coordinates": {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [32.6152, 0.5283, 1150]},
                },
            },
            {"locationName": f"Serere {tag}", "countryName": "Uganda"},
        ],
    )
    at = {"trialDbId": trial["trialDbId"]}
    first, second, away = brapi.create(
        "/studies",
        [
            {"studyName": f"Namulonge A {tag}", "locationDbId": station["locationDbId"], **at},
            {"studyName": f"Namulonge B {tag}", "locationDbId": station["locationDbId"], **at},
            {"studyName": f"Serere {tag}", "locationDbId": elsewhere["locationDbId"], **at},
        ],
    )
    brapi.client.close()
    location_url = f"/app/locations/{station['locationDbId']}"

    # The study names its location; following it opens the location's page.
    page.goto(f"/app/studies/{first['studyDbId']}")
    page.locator("dl.facts").get_by_role("link", name=station["locationName"]).click()
    expect(page).to_have_url(re.compile(f".*{location_url}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(station["locationName"])
    expect(page.locator("dl.facts")).to_contain_text("0.5283, 32.6152")
    studies_here = page.locator("#results tbody tr")
    expect(studies_here).to_have_count(2)  # not Serere's
    expect(page.locator("#results")).not_to_contain_text(away["studyName"])
    no_axe_findings(page)
    screenshot(page, "locations-01-location")

    # On to another study run there, and back up through the list of locations.
    page.get_by_role("link", name=second["studyName"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(second["studyName"])
    page.get_by_role("link", name="Locations", exact=True).click()
    page.get_by_label("Location name").fill(station["locationName"])
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.locator("#results tbody tr")).to_contain_text("Uganda")
    no_axe_findings(page)
    screenshot(page, "locations-02-list")
    page.locator("#results tbody").get_by_role("link", name=station["locationName"]).click()
    expect(page).to_have_url(re.compile(f".*{location_url}$"))

    # Another organization's administrator: not found, nothing of it shown.
    not_found_for(outsider_context, location_url, (station["locationName"], first["studyName"]))
