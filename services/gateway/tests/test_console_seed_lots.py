"""The console's seed lots: a paged list searchable by lot name that names what each lot
holds (germplasm or a cross) and links where it is kept, and a lot's page with its
transactions; another organization's lot is not found and shows nothing of it. Through the
gateway, domain-api and the use cases, on fakes."""

from __future__ import annotations

import re
import uuid
from typing import Any

from bijmantra.kernel import Principal, TenantId

TOKEN, OTHER_TOKEN, VIEWER_TOKEN = "breeder-token", "other-token", "viewer-token"
KABETE = {"locationName": "Kabete field station", "countryName": "Kenya"}


def member(role: str, tenant: TenantId) -> Principal:
    return Principal(f"{role}-1", tenant, frozenset({role}))


def links(page: str, kind: str) -> dict[str, str]:
    return dict(re.findall(rf'<a href="/app/{kind}/([^"]+)">([^<]*)</a>', page))


async def maize(on: Any, token: str) -> str:
    [db_id] = await on.brapi(
        token,
        "germplasm",
        "germplasmDbId",
        [{"germplasmName": "H614", "germplasmPUI": "urn:h614", "commonCropName": "Maize"}],
    )
    return db_id


def lot(name: str, holds: dict[str, str], **more: Any) -> dict[str, Any]:
    return {"seedLotName": name, "amount": 40, "units": "kg", "contentMixture": [holds], **more}


async def test_seed_lots_are_found_by_name_and_a_lot_of_a_cross_has_its_page(
    gateway_on_fakes: Any,
) -> None:
    """A lot of a cross holds no germplasm, so the germplasm pages never show it: the list
    and the lot's own page do, and name the cross."""
    breeder = member("breeder", TenantId(uuid.uuid4()))
    async with gateway_on_fakes({TOKEN: breeder}) as on:
        [kabete] = await on.brapi(TOKEN, "locations", "locationDbId", [KABETE])
        h614 = await maize(on, TOKEN)
        [cross] = await on.brapi(TOKEN, "crosses", "crossDbId", [{"crossName": "H614 x CML444"}])
        store, crossed = await on.brapi(
            TOKEN,
            "seedlots",
            "seedLotDbId",
            [
                lot("H614 cold store", {"germplasmDbId": h614}, locationDbId=kabete),
                lot("F1 bulk", {"crossDbId": cross}),
            ],
        )
        await on.brapi(
            TOKEN,
            "seedlots/transactions",
            "transactionDbId",
            [
                {
                    "fromSeedLotDbId": store,
                    "toSeedLotDbId": crossed,
                    "amount": 3,
                    "units": "kg",
                    "transactionDescription": "to the crossing block",
                }
            ],
        )

        cookies = on.signed_in(breeder, TOKEN)
        urls = ("/app/seedlots", "/app/seedlots?q=F1+bulk", f"/app/seedlots/{crossed}")
        listed, found, page = [(await on.client.get(u, cookies=cookies)).text for u in urls]
        assert links(listed, "seedlots") == {store: "H614 cold store", crossed: "F1 bulk"}
        assert links(listed, "locations") == {kabete: "Kabete field station"}
        assert "H614 x CML444" in listed  # what the cross's lot holds, it has no germplasm
        assert '<a href="/app/seedlots"' in listed  # in the navigation
        assert links(found, "seedlots") == {crossed: "F1 bulk"}
        assert "<h1>F1 bulk</h1>" in page
        assert "H614 x CML444" in page
        [row] = [r for r in re.findall(r"<tr>(.*?)</tr>", page) if "crossing block" in r]
        assert links(row, "seedlots") == {store: "H614 cold store", crossed: "F1 bulk"}
        germplasm = await on.client.get(f"/app/germplasm/{h614}", cookies=cookies)
        assert store in links(germplasm.text, "seedlots")  # its lot links the lot's page


async def test_seed_lots_are_paged_and_another_organizations_lot_shows_nothing_of_it(
    gateway_on_fakes: Any,
) -> None:
    """30 lots of the breeder's organization page as 25 and 5 (the stranger's lot is not
    among them); the stranger's lot by its id is the 404 page, by its name found nowhere."""
    breeder = member("breeder", TenantId(uuid.uuid4()))
    stranger = member("breeder", TenantId(uuid.uuid4()))
    async with gateway_on_fakes({TOKEN: breeder, OTHER_TOKEN: stranger}) as on:
        theirs = lot("Their secret lot", {"germplasmDbId": await maize(on, OTHER_TOKEN)})
        [secret] = await on.brapi(
            OTHER_TOKEN, "seedlots", "seedLotDbId", [{**theirs, "storageLocation": "Vault 9"}]
        )
        h614 = await maize(on, TOKEN)
        lots = [lot(f"Lot {i}", {"germplasmDbId": h614}) for i in range(30)]
        await on.brapi(TOKEN, "seedlots", "seedLotDbId", lots)
        cookies = on.signed_in(breeder, TOKEN)
        await on.pages_of_thirty(cookies, "seedlots")
        hidden = ("Their secret lot", "Vault 9")
        await on.shows_nothing_of(cookies, "seedlots", secret, "Their secret lot", hidden)


async def test_a_viewer_reads_seed_lots_and_odd_searches_find_nothing(
    gateway_on_fakes: Any,
) -> None:
    """A viewer holds germplasm read: the lot's page and the link to the list are theirs."""
    tenant = TenantId(uuid.uuid4())
    breeder, viewer = (member(role, tenant) for role in ("breeder", "viewer"))
    async with gateway_on_fakes({TOKEN: breeder, VIEWER_TOKEN: viewer}) as on:
        cold = lot("H614 cold store", {"germplasmDbId": await maize(on, TOKEN)})
        [store] = await on.brapi(TOKEN, "seedlots", "seedLotDbId", [cold])
        cookies = on.signed_in(viewer, VIEWER_TOKEN)
        page = (await on.client.get(f"/app/seedlots/{store}", cookies=cookies)).text
        assert "<h1>H614 cold store</h1>" in page
        assert '<a href="/app/seedlots"' in page
        await on.odd_searches_find_nothing(cookies, "seedlots", "H614 cold store")
