"""Seed distribution in the console: a request approved from the inbox and its dispatch
drafted on its page, its SMTA sent and signed by both parties, the dispatch moved across
the board and shipped (the seed leaves its lot), an over-shipment refused in place, an
invoice issued with its PDF previewed; a read-only member sees no action and is refused a
forged one; another organization's ids are not found."""

from __future__ import annotations

import io
import re
import time
import uuid
from typing import Any

import httpx
import pypdf
import pytest
from bijmantra.devstack.stack import DevStack
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import axe_violations, cookies_of, csrf_of, screenshot

PARTNER = "भारतीय कृषि अनुसंधान परिषद (console)"  # printed in the PDFs as written


def _data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"]


@pytest.fixture(scope="module")
def shipment(console_stack: DevStack) -> dict[str, Any]:
    """Through the API: a rice germplasm (Annex I) with a lot of 40 seeds, a partner, a
    submitted request for 30 seeds, a draft SMTA, and two draft dispatches of the request
    once approved — 30 seeds (fits) and 41 (more than the lot holds) — and a draft invoice."""
    headers = {"Authorization": f"Bearer {console_stack.login()}"}
    with httpx.Client(base_url=console_stack.gateway_url, headers=headers, timeout=30) as api:
        germplasm = api.post(
            "/brapi/v2/germplasm",
            json=[
                {
                    "germplasmName": "IR64 console",
                    "germplasmPUI": f"urn:console:{uuid.uuid4()}",
                    "commonCropName": "Rice",
                    "genus": "Oryza",
                }
            ],
        ).json()["result"]["data"][0]["germplasmDbId"]
        lot = api.post(
            "/brapi/v2/seedlots",
            json=[
                {
                    "seedLotName": "IR64-console",
                    "amount": 40,
                    "units": "seeds",
                    "contentMixture": [{"germplasmDbId": germplasm}],
                }
            ],
        ).json()["result"]["data"][0]["seedLotDbId"]
        partner = _data(
            api.post(
                "/api/v1/partners",
                json={
                    "name": PARTNER,
                    "country": "IN",
                    "type": "research_institute",
                    "contacts": [{"name": "W", "email": "seeds@icar-console.example"}],
                },
            ),
            201,
        )["id"]
        request = _data(
            api.post(
                "/api/v1/seed-requests",
                json={
                    "partner_id": partner,
                    "purpose": "breeding",
                    "items": [{"germplasm_id": germplasm, "quantity": "30", "units": "seeds"}],
                },
            ),
            201,
        )["id"]
        _data(api.post(f"/api/v1/seed-requests/{request}/actions", json={"action": "submitted"}))
        agreement = _data(
            api.post(
                "/api/v1/agreements",
                json={
                    "type": "smta",
                    "partner_id": partner,
                    "material": [germplasm],
                    "provider": {
                        "name": "Our Genebank",
                        "email": "mta@gb.example",
                        "country": "DE",
                    },
                },
            ),
            201,
        )["id"]
        invoice = _data(
            api.post(
                "/api/v1/invoices",
                json={
                    "partner_id": partner,
                    "currency": "KES",
                    "lines": [
                        {
                            "description": "Seed handling IR64",
                            "quantity": "30",
                            "unit_price": "0.35",
                            "tax_rate": "0.16",
                        }
                    ],
                },
            ),
            201,
        )["id"]
    return {
        "germplasm": germplasm,
        "lot": lot,
        "partner": partner,
        "request": request,
        "agreement": agreement,
        "invoice": invoice,
        "headers": headers,
    }


def _api(stack: DevStack, shipment: dict[str, Any]) -> httpx.Client:
    return httpx.Client(base_url=stack.gateway_url, headers=shipment["headers"], timeout=30)


def _dispatches(stack: DevStack, shipment: dict[str, Any], amounts: list[str]) -> list[str]:
    with _api(stack, shipment) as api:
        return [
            _data(
                api.post(
                    "/api/v1/dispatches",
                    json={
                        "request_id": shipment["request"],
                        "lines": [{"seed_lot_id": shipment["lot"], "amount": amount}],
                    },
                ),
                201,
            )["id"]
            for amount in amounts
        ]


def _lot_amount(stack: DevStack, shipment: dict[str, Any]) -> Any:
    with _api(stack, shipment) as api:
        return api.get(f"/brapi/v2/seedlots/{shipment['lot']}").json()["result"]["amount"]


def _card(page: Page, column: str, dispatch: str) -> Any:
    return page.locator(f"section[aria-labelledby=col-{column}] li.card").filter(
        has=page.locator(f"a[href='/app/dispatches/{dispatch}']")
    )


def test_request_agreement_dispatch_and_invoice_through_the_console(
    page: Page, console_stack: DevStack, shipment: dict[str, Any]
) -> None:
    # The inbox shows the submitted request; approving it happens on its page.
    page.goto("/app/seed-requests")
    row = page.get_by_role("row").filter(has_text=PARTNER)
    expect(row).to_contain_text("submitted")
    assert axe_violations(page) == []
    row.get_by_role("link").click()
    expect(page.get_by_text("an SMTA is required")).to_be_visible()
    item = page.locator(f'a[href="/app/germplasm/{shipment["germplasm"]}"]')
    expect(item).to_have_text("IR64 console")  # the germplasm's name, linked, not its id
    assert axe_violations(page) == []
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("dl.facts")).to_contain_text("approved")
    assert axe_violations(page) == []
    screenshot(page, "distribution-1-request-approved")
    # Its dispatch drafted on the page: the lot holding the germplasm, the requested amount.
    expect(page.get_by_label("Seed lot for item 1")).to_contain_text("IR64-console (40")
    expect(page.get_by_label("Amount for item 1")).to_have_value("30")
    page.get_by_role("button", name="Draft the dispatch").click()
    expect(page).to_have_url(re.compile(r".*/app/dispatches$"))
    fits = page.locator("section[aria-labelledby=col-draft] li.card a").first.get_attribute("href")
    assert fits is not None
    fits = fits.rsplit("/", 1)[1]

    # The SMTA: sent (its text's SHA-256 fixed), then signed by each party on the page.
    page.goto(f"/app/agreements/{shipment['agreement']}")
    page.get_by_role("button", name="Send for signature").click()
    sha256 = page.locator("dl.facts code").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", sha256)
    assert axe_violations(page) == []
    page.get_by_role("button", name="Sign as provider").click()
    page.get_by_role("button", name="Sign as recipient").click()
    expect(page.locator("dl.facts")).to_contain_text("active")
    expect(page.get_by_role("button", name=re.compile("Sign as"))).to_have_count(0)
    screenshot(page, "distribution-2-agreement-signed")

    # The board: 30 seeds move through every column and ship; 41 are refused, nothing changed.
    [too_much] = _dispatches(console_stack, shipment, ["41"])
    page.goto("/app/dispatches")
    assert axe_violations(page) == []
    for dispatch in (fits, too_much):
        for column, verb in (("draft", "Approve"), ("approved", "Start picking")):
            _card(page, column, dispatch).get_by_role("button", name=verb).click()
        _card(page, "picking", dispatch).get_by_role("button", name="Mark packed").click()
    _card(page, "packed", too_much).get_by_role("button", name="Ship").click()
    expect(page.locator("main")).to_contain_text("409")
    assert _lot_amount(console_stack, shipment) == 40
    page.goto("/app/dispatches")
    expect(_card(page, "packed", too_much)).to_be_visible()
    card = _card(page, "packed", fits)
    card.get_by_label("Tracking").fill("DHL 42")
    card.get_by_role("button", name="Ship").click()
    expect(_card(page, "shipped", fits)).to_contain_text("DHL 42")
    assert _lot_amount(console_stack, shipment) == 10
    page.goto(f"/app/dispatches/{fits}")  # its lines name the lot and the germplasm
    line = page.get_by_role("row").filter(has_text="IR64-console")
    expect(line.get_by_role("link", name="IR64 console")).to_be_visible()
    page.goto("/app/dispatches")
    screenshot(page, "distribution-3-board-shipped")

    # The invoice: issued (numbered), then its PDF previewed in the page.
    page.goto(f"/app/invoices/{shipment['invoice']}")
    expect(page.locator("tfoot")).to_contain_text("12.18 KES")
    page.get_by_role("button", name="Issue").click()
    number = page.locator("h1").inner_text().split()[-1]
    assert re.fullmatch(r"\d{4}-\d{6}", number), number
    frame = page.locator("iframe.pdf")
    expect(frame).to_have_attribute("src", f"/app/invoices/{shipment['invoice']}/pdf")
    assert axe_violations(page) == []
    pdf = _rendered(page, f"/app/invoices/{shipment['invoice']}/pdf")
    assert pdf.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in pdf.headers["content-security-policy"]
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.body())).pages)
    assert number in text
    assert f"{PARTNER} (IN)" in " ".join(text.split())
    assert "Total: 12.18 KES" in " ".join(text.split())
    page.reload()
    screenshot(page, "distribution-4-invoice-preview")
    page.goto("/app/invoices?status=issued")
    expect(page.get_by_role("row").filter(has_text=number)).to_contain_text("12.18")


def _rendered(page: Page, path: str) -> Any:
    """The worker renders the PDF from the event moments after the change."""
    deadline = time.monotonic() + 30
    while True:
        response = page.request.get(path)
        if response.status == 200 or time.monotonic() > deadline:
            assert response.status == 200, response.status
            assert response.headers["content-type"] == "application/pdf"
            return response
        time.sleep(0.3)


def test_a_read_only_member_sees_no_action_and_a_forged_one_is_refused(
    viewer_context: BrowserContext, console_stack: DevStack, shipment: dict[str, Any]
) -> None:
    page = viewer_context.new_page()
    page.goto(f"/app/invoices/{shipment['invoice']}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.locator("form[action*='/actions']")).to_have_count(0)
    page.goto("/app/dispatches")
    expect(page.get_by_role("heading", name="Dispatch board")).to_be_visible()
    expect(page.locator("form[action*='/actions']")).to_have_count(0)
    page.goto(f"/app/agreements/{shipment['agreement']}")
    expect(page.locator("form[action*='/signatures']")).to_have_count(0)
    token = csrf_of(page)
    with _api(console_stack, shipment) as api:
        before = api.get(f"/api/v1/seed-requests/{shipment['request']}").json()["data"]
    for path, form in (
        (f"/app/seed-requests/{shipment['request']}/actions", {"action": "cancelled"}),
        (
            f"/app/seed-requests/{shipment['request']}/dispatches",
            {"lot-0": shipment["lot"], "amount-0": "1"},
        ),
        (f"/app/invoices/{shipment['invoice']}/credit-notes", {}),
        (
            f"/app/agreements/{shipment['agreement']}/signatures",
            {"party_role": "recipient", "document_sha256": "0" * 64},
        ),
    ):
        forged = httpx.post(
            f"{console_stack.gateway_url}{path}",
            headers=cookies_of(viewer_context),
            data={"csrf_token": token, **form},
        )
        assert forged.status_code == 403, (path, forged.status_code)
    with _api(console_stack, shipment) as api:
        after = api.get(f"/api/v1/seed-requests/{shipment['request']}").json()["data"]
    assert after == before
    page.close()


def test_a_post_without_the_csrf_token_changes_nothing(
    breeder_context: BrowserContext, console_stack: DevStack, shipment: dict[str, Any]
) -> None:
    with _api(console_stack, shipment) as api:
        before = api.get(f"/api/v1/seed-requests/{shipment['request']}").json()["data"]
    response = httpx.post(
        f"{console_stack.gateway_url}/app/seed-requests/{shipment['request']}/actions",
        headers=cookies_of(breeder_context),
        data={"action": "cancelled"},
    )
    assert response.status_code == 403
    with _api(console_stack, shipment) as api:
        assert api.get(f"/api/v1/seed-requests/{shipment['request']}").json()["data"] == before


@pytest.mark.parametrize(
    "path",
    [
        "/app/seed-requests/{request}",
        "/app/agreements/{agreement}",
        "/app/invoices/{invoice}",
        "/app/invoices/{invoice}/pdf",
        "/app/seed-requests/not-a-uuid",
    ],
)
def test_another_organizations_distribution_ids_are_not_found(
    outsider_context: BrowserContext, shipment: dict[str, Any], path: str
) -> None:
    url = path.format(**shipment)
    assert outsider_context.request.get(url, max_redirects=0).status == 404, url
