"""A seed request's page names its germplasm and links it; germplasm named only with
whitespace shows its DbId instead, so every link has text one can see: through the gateway,
domain-api and the use cases, on fakes."""

from __future__ import annotations

import re
import uuid
from typing import Any

from bijmantra.kernel import Principal, TenantId

TOKEN = "manager-token"


async def test_a_requests_items_are_named_and_linked(gateway_on_fakes: Any) -> None:
    manager = Principal("m1", TenantId(uuid.uuid4()), frozenset({"data-manager"}))
    async with gateway_on_fakes({TOKEN: manager}) as on:
        api, auth = on.client, {"Authorization": f"Bearer {TOKEN}"}
        partner_id = await on.partner(TOKEN, "IITA", "NG")
        made = await api.post(
            "/brapi/v2/germplasm",
            json=[
                {"germplasmName": name, "germplasmPUI": f"urn:n:{i}", "commonCropName": "Yam"}
                for i, name in enumerate(("TDr 89/02665", " \t "))
            ],
            headers=auth,
        )
        named, blank = (g["germplasmDbId"] for g in made.json()["result"]["data"])
        body = {
            "partner_id": partner_id,
            "purpose": "research",
            "items": [
                {"germplasm_id": g, "quantity": "5", "units": "tubers"} for g in (named, blank)
            ],
        }
        created = await api.post("/api/v1/seed-requests", json=body, headers=auth)
        assert created.status_code == 201, created.text
        request_id = created.json()["data"]["id"]

        page = await api.get(
            f"/app/seed-requests/{request_id}", cookies=on.signed_in(manager, TOKEN)
        )
        assert page.status_code == 200, page.text
        links = dict(re.findall(r'<a href="/app/germplasm/([^"]+)">([^<]*)</a>', page.text))
        assert links == {named: "TDr 89/02665", blank: blank}
