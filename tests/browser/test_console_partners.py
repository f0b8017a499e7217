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

from tests.browser.conftest import axe_violations, cookies_of, csrf_of


def own_germplasm(stack: DevStack, n: int) -> list[str]:
    """Germplasm of the test's own (the shared stack's may carry another test's hostile
    records): their DbIds."""
    tag = uuid.uuid4().hex[:8]
    body = [
        {
            "germplasmName": f"request-{tag}-{i}",
            "germplasmPUI": f"urn:console-request:{tag}:{i}",
            "commonCropName": "Tomato",  # not Annex I: a research agreement covers it
        }
        for i in range(n)
    ]
    headers = {"Authorization": f"Bearer {stack.login()}"}
    made = httpx.post(
        f"{stack.gateway_url}/brapi/v2/germplasm", json=body, headers=headers, timeout=60
    )
    assert made.status_code == 200, made.text
    return [str(g["germplasmDbId"]) for g in made.json()["result"]["data"]]


def test_an_admin_adds_a_partner_and_records_its_seed_request(
    page: Page, console_stack: DevStack
) -> None:
    name = f"Kisumu seed bank {uuid.uuid4().hex[:6]}"
    germplasm, second, third = own_germplasm(console_stack, 3)
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

    # Three items; the third lacks its germplasm: refused next to it, the form as typed.
    form = page.get_by_role("form", name="Record a seed request")
    form.get_by_label("Partner").select_option(label=name)
    form.get_by_label("Purpose").select_option("breeding")
    for n, (germplasm_id, quantity) in enumerate(
        ((germplasm, "a handful"), (second, "10"), ("", "5")), 1
    ):
        form.get_by_label(f"Germplasm (DbId) of item {n}", exact=True).fill(germplasm_id)
        form.get_by_label(f"Quantity of item {n}", exact=True).fill(quantity)
    form.get_by_label("Notes (optional)").fill("For the 2027 long rains trial")
    form.get_by_role("button", name="Record the request").click()
    expect(page.get_by_role("alert")).to_be_visible()
    form = page.get_by_role("form", name="Record a seed request")
    third_item = form.get_by_label("Germplasm (DbId) of item 3", exact=True)
    expect(third_item).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#item-problem-2")).to_contain_text("give a germplasm DbId")
    expect(page.locator("#item-problem-0")).to_be_empty()
    assert form.get_by_label("Partner").locator("option:checked").inner_text() == name
    expect(form.get_by_label("Purpose")).to_have_value("breeding")
    expect(form.get_by_label("Germplasm (DbId) of item 1", exact=True)).to_have_value(germplasm)
    expect(form.get_by_label("Quantity of item 2", exact=True)).to_have_value("10")
    expect(form.get_by_label("Notes (optional)")).to_have_value("For the 2027 long rains trial")
    assert axe_violations(page) == []

    # Then a germplasm the organization lacks, and a quantity that is no number: each is
    # said next to its own item.
    third_item.fill(f"no-such-{uuid.uuid4().hex[:6]}")
    form.get_by_role("button", name="Record the request").click()
    expect(page.locator("#item-problem-0")).not_to_be_empty()
    expect(page.locator("#item-problem-2")).to_be_empty()
    page.get_by_label("Quantity of item 1", exact=True).fill("25")
    page.get_by_role("button", name="Record the request").click()
    expect(page.locator("#item-problem-2")).to_contain_text("no such germplasm")
    expect(page.locator("#item-problem-0")).to_be_empty()
    page.get_by_label("Germplasm (DbId) of item 3", exact=True).fill(third)
    page.get_by_role("button", name="Record the request").click()
    expect(page).to_have_url(re.compile(r".*/app/seed-requests/[^/]+$"))
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("draft")
    expect(facts).to_contain_text(name)
    for germplasm_id, quantity in ((germplasm, "25"), (second, "10"), (third, "5")):
        link = page.locator(f'a[href="/app/germplasm/{germplasm_id}"]')
        expect(link).to_contain_text("request-")  # the germplasm's name, linked
        expect(page.get_by_role("row").filter(has=link)).to_contain_text(quantity)
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


def test_a_forged_seed_request_from_a_read_only_member_is_refused(
    viewer_context: BrowserContext, console_stack: DevStack
) -> None:
    page = viewer_context.new_page()
    page.goto("/app/partners")
    headers = {"Authorization": f"Bearer {console_stack.login()}"}
    partner = httpx.post(
        f"{console_stack.gateway_url}/api/v1/partners",
        json={
            "name": f"Forged-for partner {uuid.uuid4().hex[:6]}",
            "country": "KE",
            "type": "genebank",
            "contacts": [{"name": "A", "email": "a@forged.example"}],
        },
        headers=headers,
        timeout=30,
    )
    assert partner.status_code == 201, partner.text
    [germplasm] = own_germplasm(console_stack, 1)
    notes = f"forged {uuid.uuid4().hex}"
    forged = httpx.post(
        f"{console_stack.gateway_url}/app/partners/requests",
        headers=cookies_of(viewer_context),
        data={
            "csrf_token": csrf_of(page),  # a valid token: the role, not CSRF, refuses it
            "partner_id": partner.json()["data"]["id"],
            "purpose": "breeding",
            "germplasm_id-0": germplasm,
            "quantity-0": "1",
            "notes": notes,
        },
    )
    assert forged.status_code == 403
    listed = httpx.get(
        f"{console_stack.gateway_url}/api/v1/seed-requests",
        params={"page_size": 1000},
        headers=headers,
        timeout=30,
    )
    assert notes not in listed.text
    page.close()
