"""Partners and new seed requests in the console: an administrator adds a partner and records
its request for seed, which opens on its own page as a draft to submit, and drafts the
agreement for it there; a refused form is
shown again as typed, saying what to change; a read-only member is offered neither form."""

from __future__ import annotations

import re
import uuid

import httpx
from bijmantra.devstack.stack import DevStack
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import axe_violations


def _germplasm(stack: DevStack) -> str:
    headers = {"Authorization": f"Bearer {stack.login()}"}
    found = httpx.get(
        f"{stack.gateway_url}/brapi/v2/germplasm",
        params={"pageSize": 1},
        headers=headers,
        timeout=30,
    )
    assert found.status_code == 200, found.text
    return str(found.json()["result"]["data"][0]["germplasmDbId"])


def test_an_admin_adds_a_partner_and_records_its_seed_request(
    page: Page, console_stack: DevStack
) -> None:
    name = f"Kisumu seed bank {uuid.uuid4().hex[:6]}"
    germplasm = _germplasm(console_stack)
    page.goto("/app")
    page.get_by_role("link", name="Partners").click()
    partner = page.get_by_role("form", name="Add a partner")
    partner.get_by_label("Name", exact=True).fill(name)
    partner.get_by_label("Country (two letters)").fill("KE")
    partner.get_by_label("Type").select_option("genebank")
    partner.get_by_label("Contact's name").fill("Achieng")
    partner.get_by_label("Contact's e-mail").fill("achieng@kisumu-seeds.example")
    partner.get_by_role("button", name="Add the partner").click()
    expect(page.get_by_role("row").filter(has_text=name)).to_contain_text(
        "achieng@kisumu-seeds.example"
    )

    # A quantity that is no number: refused, the form as typed.
    form = page.get_by_role("form", name="Record a seed request")
    form.get_by_label("Partner").select_option(label=name)
    form.get_by_label("Purpose").select_option("breeding")
    form.get_by_label("Germplasm (DbId)").fill(germplasm)
    form.get_by_label("Quantity").fill("a handful")
    form.get_by_label("Notes (optional)").fill("For the 2027 long rains trial")
    form.get_by_role("button", name="Record the request").click()
    expect(page.get_by_role("alert")).to_be_visible()
    form = page.get_by_role("form", name="Record a seed request")
    expect(form.get_by_label("Partner")).to_have_value(re.compile(".+"))
    assert form.get_by_label("Partner").locator("option:checked").inner_text() == name
    expect(form.get_by_label("Purpose")).to_have_value("breeding")
    expect(form.get_by_label("Germplasm (DbId)")).to_have_value(germplasm)
    expect(form.get_by_label("Notes (optional)")).to_have_value("For the 2027 long rains trial")
    assert axe_violations(page) == []

    form.get_by_label("Quantity").fill("25")
    form.get_by_role("button", name="Record the request").click()
    expect(page).to_have_url(re.compile(r".*/app/seed-requests/[^/]+$"))
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("draft")
    expect(facts).to_contain_text(name)
    expect(page.get_by_role("row").filter(has_text=germplasm)).to_contain_text("25")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("dl.facts")).to_contain_text("submitted")

    # The agreement the seed will travel under, drafted from the request's page.
    page.get_by_label("Type").select_option("research")
    page.get_by_label("Provider (who sends the seed)").fill("Demo breeding station")
    page.get_by_label("Provider's e-mail").fill("mta@demo-station.example")
    page.get_by_label("Provider's country (two letters)").fill("in")
    page.get_by_role("button", name="Draft the agreement").click()
    expect(page).to_have_url(re.compile(r".*/app/agreements/[^/]+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Research agreement with {name}")
    expect(page.locator("dl.facts")).to_contain_text("draft")
    expect(page.get_by_role("row").filter(has_text="Demo breeding station")).to_contain_text("IN")


def test_a_read_only_member_sees_partners_but_no_form(viewer_context: BrowserContext) -> None:
    page = viewer_context.new_page()
    response = page.goto("/app/partners")
    assert response is not None
    assert response.status == 200
    expect(page.get_by_role("heading", name="Partners")).to_be_visible()
    expect(page.get_by_role("button", name="Add the partner")).to_have_count(0)
    expect(page.get_by_role("button", name="Record the request")).to_have_count(0)
    page.close()
