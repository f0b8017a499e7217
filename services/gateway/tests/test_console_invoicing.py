"""Invoices drafted and their lines replaced in the console: a refused line is said next to it
with the form kept as typed and nothing recorded; an issued invoice's lines are refused (409)
and stay; a viewer is refused both forms: through the gateway, domain-api and the use cases,
on fakes."""

from __future__ import annotations

import re
import uuid
from typing import Any

from bijmantra.kernel import Principal, TenantId

MANAGER, VIEWER = "manager-token", "viewer-token"


def _problems(page: str) -> dict[str, str]:
    found = re.findall(r'id="line-problem-(\d+)" class="error-text">([^<]*)<', page)
    return {k: v for k, v in found if v}


async def test_a_draft_invoice_is_written_and_its_lines_replaced_in_the_console(
    gateway_on_fakes: Any,
) -> None:
    tenant = TenantId(uuid.uuid4())
    manager = Principal("m1", tenant, frozenset({"data-manager"}))
    viewer = Principal("v1", tenant, frozenset({"viewer"}))
    async with gateway_on_fakes({MANAGER: manager, VIEWER: viewer}) as on:
        api, auth = on.client, {"Authorization": f"Bearer {MANAGER}"}
        cookies = on.signed_in(manager, MANAGER)
        partner_id = await on.partner(MANAGER)
        drafting = await api.get("/app/invoices/new", cookies=cookies)
        assert drafting.status_code == 200, drafting.text
        assert 'aria-label="Draft an invoice"' in drafting.text

        form = {
            "csrf_token": "csrf",
            "partner_id": partner_id,
            "currency": "kes",
            "description-0": "Handling",
            "quantity-0": "1",
            "unit_price-0": "500",
            "description-1": "Phytosanitary certificate",
            "quantity-1": "1",
            "unit_price-1": "free",
        }
        refused = await api.post("/app/invoices", data=form, cookies=cookies)
        assert refused.status_code == 422, refused.text
        assert list(_problems(refused.text)) == ["1"]
        assert 'value="Phytosanitary certificate"' in refused.text
        assert 'value="kes"' in refused.text
        listed = await api.get("/api/v1/invoices", headers=auth)
        assert listed.json()["meta"]["total_count"] == 0

        form["unit_price-1"] = "250.50"
        form["tax_rate-1"] = "0.16"
        drafted = await api.post(
            "/app/invoices", data=form, cookies=cookies, follow_redirects=False
        )
        assert drafted.status_code in (302, 303), drafted.text
        invoice_id = drafted.headers["location"].rsplit("/", 1)[1]
        shown = (await api.get(f"/api/v1/invoices/{invoice_id}", headers=auth)).json()["data"]
        assert (shown["currency"], shown["totals"]["gross"]) == ("KES", "790.58")

        editing = await api.get(f"/app/invoices/{invoice_id}/lines", cookies=cookies)
        assert 'value="Phytosanitary certificate"' in editing.text
        lines = {"csrf_token": "csrf", "description-0": "Handling", "quantity-0": "2"}
        half = await api.post(f"/app/invoices/{invoice_id}/lines", data=lines, cookies=cookies)
        assert half.status_code == 422, half.text
        assert list(_problems(half.text)) == ["0"]
        lines["unit_price-0"] = "500"
        saved = await api.post(
            f"/app/invoices/{invoice_id}/lines", data=lines, cookies=cookies, follow_redirects=False
        )
        assert saved.status_code in (302, 303), saved.text
        shown = (await api.get(f"/api/v1/invoices/{invoice_id}", headers=auth)).json()["data"]
        assert [(line["description"], line["quantity"]) for line in shown["lines"]] == [
            ("Handling", "2")
        ]

        # Issued, its lines no longer change: the console's 409 page, and nothing changed.
        issue = {"action": "issued"}
        assert (
            await api.post(f"/api/v1/invoices/{invoice_id}/actions", json=issue, headers=auth)
        ).status_code == 200
        lines["quantity-0"] = "3"
        late = await api.post(f"/app/invoices/{invoice_id}/lines", data=lines, cookies=cookies)
        assert late.status_code == 409, late.text
        after = (await api.get(f"/api/v1/invoices/{invoice_id}", headers=auth)).json()["data"]
        assert after["lines"] == shown["lines"]

        # A viewer is offered neither form, and their forged posts are refused.
        seen = on.signed_in(viewer, VIEWER, csrf="viewer-csrf")
        page = await api.get(f"/app/invoices/{invoice_id}", cookies=seen)
        assert page.status_code == 200, page.text
        assert "/lines" not in page.text
        assert (await api.get("/app/invoices", cookies=seen)).text.count("/app/invoices/new") == 0
        assert (await api.get("/app/invoices/new", cookies=seen)).status_code == 403
        forged = {**form, "csrf_token": "viewer-csrf"}
        assert (await api.post("/app/invoices", data=forged, cookies=seen)).status_code == 403
        assert (await api.get("/api/v1/invoices", headers=auth)).json()["meta"]["total_count"] == 1
