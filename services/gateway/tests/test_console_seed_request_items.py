"""The console records a seed request of several items (at most ``ITEM_ROWS``, rows left blank
skipped); a refused item is said next to it, the whole form kept as typed, and nothing is
recorded: through the gateway, domain-api and the use cases, on fakes."""

from __future__ import annotations

import re
import uuid
from typing import Any

from bijmantra.gateway.console.pages.partners import ITEM_ROWS
from bijmantra.kernel import Principal, TenantId

TOKEN = "manager-token"


async def test_a_request_of_several_items_with_a_refusal_next_to_its_item(
    gateway_on_fakes: Any,
) -> None:
    manager = Principal("m1", TenantId(uuid.uuid4()), frozenset({"data-manager"}))
    async with gateway_on_fakes({TOKEN: manager}) as on:
        api, auth = on.client, {"Authorization": f"Bearer {TOKEN}"}
        cookies = on.signed_in(manager, TOKEN)
        partner_id = await on.partner(TOKEN)
        made = await api.post(
            "/brapi/v2/germplasm",
            json=[
                {"germplasmName": f"g{i}", "germplasmPUI": f"urn:g:{i}", "commonCropName": "Rice"}
                for i in range(2)
            ],
            headers=auth,
        )
        assert made.status_code == 200, made.text
        first, second = (g["germplasmDbId"] for g in made.json()["result"]["data"])
        form = {
            "csrf_token": "csrf",
            "partner_id": partner_id,
            "purpose": "research",
            "notes": "two lines and a typo",
            "germplasm_id-0": first,
            "quantity-0": "25",
            "germplasm_id-2": "no-such-germplasm",  # row 1 left blank: skipped
            "quantity-2": "5",
            "germplasm_id-3": second,
            "quantity-3": "10",
            "units-3": "g",
            f"germplasm_id-{ITEM_ROWS}": "past the rows: never read",
            f"quantity-{ITEM_ROWS}": "1",
        }
        refused = await api.post("/app/partners/requests", data=form, cookies=cookies)
        assert refused.status_code == 422, refused.text
        problems = dict(
            re.findall(r'id="item-problem-(\d+)" class="error-text">([^<]*)<', refused.text)
        )
        assert problems == {
            str(k): ("no such germplasm in this organization" if k == 2 else "")
            for k in range(ITEM_ROWS)
        }
        assert 'value="no-such-germplasm"' in refused.text
        assert "two lines and a typo</textarea>" in refused.text
        listed = await api.get("/api/v1/seed-requests", headers=auth)
        assert listed.json()["meta"]["total_count"] == 0

        form["germplasm_id-2"] = ""
        form["quantity-2"] = ""
        recorded = await api.post(
            "/app/partners/requests", data=form, cookies=cookies, follow_redirects=False
        )
        assert recorded.status_code in (302, 303), recorded.text
        record_id = recorded.headers["location"].rsplit("/", 1)[1]
        shown = (await api.get(f"/api/v1/seed-requests/{record_id}", headers=auth)).json()
        items = [(i["germplasm_id"], i["quantity"], i["units"]) for i in shown["data"]["items"]]
        assert items == [(first, "25", "seeds"), (second, "10", "g")]
