"""Invoices written in the console: an administrator drafts one for a partner with two lines
(a unit price that is no number is said next to its line, the form as typed), replaces the
draft's lines and issues it; a read-only member is offered neither form."""

from __future__ import annotations

import re
import uuid

import httpx
from bijmantra.devstack.stack import DevStack
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import axe_violations


def _partner(stack: DevStack) -> str:
    name = f"Arusha growers {uuid.uuid4().hex[:6]}"
    made = httpx.post(
        f"{stack.gateway_url}/api/v1/partners",
        json={
            "name": name,
            "country": "TZ",
            "type": "farmer_organization",
            "contacts": [{"name": "Neema", "email": "neema@arusha-growers.example"}],
        },
        headers={"Authorization": f"Bearer {stack.login()}"},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    return name


def _line(page: Page, n: int, description: str, quantity: str, price: str) -> None:
    page.get_by_label(f"Description of line {n}", exact=True).fill(description)
    page.get_by_label(f"Quantity of line {n}", exact=True).fill(quantity)
    page.get_by_label(f"Unit price of line {n}", exact=True).fill(price)


def test_an_admin_drafts_an_invoice_edits_its_lines_and_issues_it(
    page: Page, console_stack: DevStack
) -> None:
    partner = _partner(console_stack)
    page.goto("/app/invoices")
    page.get_by_role("link", name="Draft an invoice").click()
    form = page.get_by_role("form", name="Draft an invoice")
    form.get_by_label("Partner").select_option(label=partner)
    form.get_by_label("Currency (ISO code, e.g. EUR)").fill("TZS")
    _line(page, 1, "Handling", "1", "5000")
    _line(page, 2, "Seed, 2 kg", "2", "a lot")
    form.get_by_role("button", name="Draft the invoice").click()
    expect(page.get_by_role("alert")).to_contain_text("unit_price")
    expect(page.locator("#line-problem-1")).to_contain_text("unit_price")
    expect(page.locator("#line-problem-0")).to_be_empty()
    expect(page.get_by_label("Description of line 2", exact=True)).to_have_value("Seed, 2 kg")
    expect(page.get_by_label("Currency (ISO code, e.g. EUR)")).to_have_value("TZS")
    assert axe_violations(page) == []

    page.get_by_label("Unit price of line 2", exact=True).fill("1200")
    page.get_by_role("button", name="Draft the invoice").click()
    expect(page).to_have_url(re.compile(r".*/app/invoices/[^/]+$"))
    expect(page.locator("tfoot")).to_contain_text("7400")

    page.get_by_role("link", name="Edit the lines").click()
    expect(page.get_by_label("Description of line 2", exact=True)).to_have_value("Seed, 2 kg")
    assert axe_violations(page) == []
    page.get_by_label("Quantity of line 2", exact=True).fill("5")
    page.get_by_role("button", name="Save the lines").click()
    expect(page.locator("tfoot")).to_contain_text("11000")
    page.get_by_role("button", name="Issue").click()
    expect(page.locator("dl.facts")).to_contain_text("issued")
    expect(page.get_by_role("link", name="Edit the lines")).to_have_count(0)


def test_a_read_only_member_is_offered_no_invoice_form(viewer_context: BrowserContext) -> None:
    page = viewer_context.new_page()
    page.goto("/app/invoices")
    expect(page.get_by_role("heading", name="Invoices")).to_be_visible()
    expect(page.get_by_role("link", name="Draft an invoice")).to_have_count(0)
    response = page.goto("/app/invoices/new")
    assert response is not None
    assert response.status == 403
    page.close()
