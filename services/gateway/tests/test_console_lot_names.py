"""A germplasm's page names the seed lots its lots' transactions move seed from and to (its
own lots from the page's one read, another germplasm's by name too), not their DbIds:
through the gateway, domain-api and the use cases, on fakes."""

from __future__ import annotations

import re
import uuid
from typing import Any

from bijmantra.kernel import Principal, TenantId

TOKEN = "manager-token"


async def test_a_transactions_lots_are_named(gateway_on_fakes: Any) -> None:
    manager = Principal("m1", TenantId(uuid.uuid4()), frozenset({"data-manager"}))
    async with gateway_on_fakes({TOKEN: manager}) as on:
        api, auth = on.client, {"Authorization": f"Bearer {TOKEN}"}
        made = await api.post(
            "/brapi/v2/germplasm",
            json=[
                {"germplasmName": n, "germplasmPUI": f"urn:l:{n}", "commonCropName": "Yam"}
                for n in ("TDr 1", "TDr 2")
            ],
            headers=auth,
        )
        mine, other = (g["germplasmDbId"] for g in made.json()["result"]["data"])
        lots = await api.post(
            "/brapi/v2/seedlots",
            json=[
                {
                    "seedLotName": name,
                    "amount": 10,
                    "units": "tubers",
                    "contentMixture": [{"germplasmDbId": g}],
                }
                for name, g in (("store lot", mine), ("field lot", other))
            ],
            headers=auth,
        )
        assert lots.status_code == 200, lots.text
        store, field = (lot["seedLotDbId"] for lot in lots.json()["result"]["data"])
        moved = await api.post(
            "/brapi/v2/seedlots/transactions",
            json=[
                {
                    "fromSeedLotDbId": store,
                    "toSeedLotDbId": field,
                    "amount": 3,
                    "units": "tubers",
                    "transactionDescription": "to the field",
                }
            ],
            headers=auth,
        )
        assert moved.status_code == 200, moved.text
        page = await api.get(f"/app/germplasm/{mine}", cookies=on.signed_in(manager, TOKEN))
        assert page.status_code == 200, page.text
        [row] = [r for r in re.findall(r"<tr>(.*?)</tr>", page.text) if "to the field" in r]
        assert re.findall(r"<td><a href=\"/app/seedlots/[^\"]+\">([^<]*)</a></td>", row) == [
            "store lot",
            "field lot",
        ]
        # the lot's balance after the move (10 - 3), as its heading shows it
        assert re.search(r"store lot</a> <span class=\"muted\">7(\.0)? tubers", page.text)
