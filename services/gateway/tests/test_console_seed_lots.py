"""The console's seed lots: a paged list searchable by lot name that names what each lot
holds (germplasm or a cross) and links where it is kept, and a lot's page with its
transactions; another organization's lot is not found and shows nothing of it. Through the
gateway, domain-api and the use cases, on fakes."""

from __future__ import annotations

import html
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
    breeder = member("breeder", TenantId(uuid.uuid4()))
    async with gateway_on_fakes({TOKEN: breeder}) as on:
        cookies = on.signed_in(breeder, TOKEN)
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

        listed = await on.client.get("/app/seedlots", cookies=cookies)
        assert listed.status_code == 200, listed.text
        assert links(listed.text, "seedlots") == {store: "H614 cold store", crossed: "F1 bulk"}
        assert links(listed.text, "locations") == {kabete: "Kabete field station"}
        assert "H614 x CML444" in listed.text  # what the cross's lot holds
        assert '<a href="/app/seedlots"' in listed.text  # in the navigation

        found = await on.client.get("/app/seedlots?q=F1+bulk", cookies=cookies)
        assert links(found.text, "seedlots") == {crossed: "F1 bulk"}

        page = await on.client.get(f"/app/seedlots/{crossed}", cookies=cookies)
        assert page.status_code == 200, page.text
        assert "<h1>F1 bulk</h1>" in page.text
        assert "H614 x CML444" in page.text
        [row] = [r for r in re.findall(r"<tr>(.*?)</tr>", page.text) if "crossing block" in r]
        assert links(row, "seedlots") == {store: "H614 cold store", crossed: "F1 bulk"}

        germplasm = await on.client.get(f"/app/germplasm/{h614}", cookies=cookies)
        assert store in links(germplasm.text, "seedlots")  # its lot links the lot's page


async def test_seed_lots_are_paged(gateway_on_fakes: Any) -> None:
    breeder = member("breeder", TenantId(uuid.uuid4()))
    async with gateway_on_fakes({TOKEN: breeder}) as on:
        cookies = on.signed_in(breeder, TOKEN)
        h614 = await maize(on, TOKEN)
        lots = [lot(f"Lot {i}", {"germplasmDbId": h614}) for i in range(30)]
        await on.brapi(TOKEN, "seedlots", "seedLotDbId", lots)
        first = await on.client.get("/app/seedlots", cookies=cookies)
        second = await on.client.get("/app/seedlots?page=1", cookies=cookies)
        assert "30 in all" in first.text
        assert (len(links(first.text, "seedlots")), len(links(second.text, "seedlots"))) == (25, 5)
        assert not set(links(first.text, "seedlots")) & set(links(second.text, "seedlots"))


async def test_another_organizations_seed_lot_is_not_found_and_shows_nothing_of_it(
    gateway_on_fakes: Any,
) -> None:
    breeder = member("breeder", TenantId(uuid.uuid4()))
    stranger = member("breeder", TenantId(uuid.uuid4()))
    async with gateway_on_fakes({TOKEN: breeder, OTHER_TOKEN: stranger}) as on:
        h614 = await maize(on, OTHER_TOKEN)
        [theirs] = await on.brapi(
            OTHER_TOKEN,
            "seedlots",
            "seedLotDbId",
            [lot("Their secret lot", {"germplasmDbId": h614}, storageLocation="Vault 9")],
        )
        cookies = on.signed_in(breeder, TOKEN)

        page = await on.client.get(f"/app/seedlots/{theirs}", cookies=cookies)
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        for secret in ("Their secret lot", "Vault 9", "H614"):
            assert secret not in page.text
        listed = await on.client.get("/app/seedlots?q=Their+secret+lot", cookies=cookies)
        assert listed.status_code == 200
        assert links(listed.text, "seedlots") == {}
        assert "0 in all" in listed.text


async def test_a_viewer_reads_seed_lots_and_odd_searches_find_nothing(
    gateway_on_fakes: Any,
) -> None:
    tenant = TenantId(uuid.uuid4())
    breeder, viewer = member("breeder", tenant), member("viewer", tenant)
    async with gateway_on_fakes({TOKEN: breeder, VIEWER_TOKEN: viewer}) as on:
        h614 = await maize(on, TOKEN)
        [store] = await on.brapi(
            TOKEN, "seedlots", "seedLotDbId", [lot("H614 cold store", {"germplasmDbId": h614})]
        )
        cookies = on.signed_in(viewer, VIEWER_TOKEN)
        assert (await on.client.get(f"/app/seedlots/{store}", cookies=cookies)).status_code == 200

        odd = "<script>alert(1)</script>%' OR 1=1 --\u202e名\U0001f33d" * 500
        for term in (odd, "H614 cold store" + " " * 5000 + "x", "%", "_", "*"):
            found = await on.client.get(
                "/app/seedlots", params={"q": term, "page": "-1"}, cookies=cookies
            )
            assert found.status_code == 200, term[:40]
            assert "0 in all" in found.text
            assert "<script>alert" not in found.text
            [kept] = re.findall(r'<input id="q" name="q" type="search" value="([^"]*)"', found.text)
            assert html.unescape(kept) == term.strip()[:200]
