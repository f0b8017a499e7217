"""The console's locations: a paged list searchable by name, a location's page with the
studies run there, and a study's location linked to it; another organization's location is
not found and shows nothing of it. Through the gateway, domain-api and the use cases, on
fakes."""

from __future__ import annotations

import re
import uuid
from typing import Any

from bijmantra.kernel import Principal, TenantId

TOKEN, OTHER_TOKEN, VIEWER_TOKEN = "breeder-token", "other-token", "viewer-token"
NAIROBI = {
    "locationName": "Kabete field station",
    "abbreviation": "KAB",
    "countryCode": "KEN",
    "countryName": "Kenya",
    "locationType": "Field",
    "instituteName": "University of Nairobi",
    # GeoJSON: longitude first
    "coordinates": {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [36.7378, -1.2491, 1800]},
    },
}


def member(role: str, tenant: TenantId) -> Principal:
    return Principal(f"{role}-1", tenant, frozenset({role}))


async def brapi(on: Any, token: str, path: str, documents: list[dict[str, Any]]) -> list[str]:
    """The DbIds of ``documents`` made through BrAPI with ``token``."""
    made = await on.client.post(
        f"/brapi/v2/{path}", json=documents, headers={"Authorization": f"Bearer {token}"}
    )
    assert made.status_code == 200, made.text
    key = {
        "locations": "locationDbId",
        "studies": "studyDbId",
        "trials": "trialDbId",
        "germplasm": "germplasmDbId",
        "seedlots": "seedLotDbId",
    }[path]
    return [d[key] for d in made.json()["result"]["data"]]


def links(html: str, kind: str) -> dict[str, str]:
    return dict(re.findall(rf'<a href="/app/{kind}/([^"]+)">([^<]*)</a>', html))


async def test_a_location_lists_its_studies_and_a_study_links_its_location(
    gateway_on_fakes: Any,
) -> None:
    breeder = member("breeder", TenantId(uuid.uuid4()))
    async with gateway_on_fakes({TOKEN: breeder}) as on:
        cookies = on.signed_in(breeder, TOKEN)
        kabete, other = await brapi(
            on, TOKEN, "locations", [NAIROBI, {"locationName": "Kiboko", "countryName": "Kenya"}]
        )
        [trial] = await brapi(on, TOKEN, "trials", [{"trialName": "Maize 2026"}])
        here, elsewhere = await brapi(
            on,
            TOKEN,
            "studies",
            [
                {"studyName": "Kabete long rains", "trialDbId": trial, "locationDbId": kabete},
                {"studyName": "Kiboko dry season", "trialDbId": trial, "locationDbId": other},
            ],
        )

        listed = await on.client.get("/app/locations", cookies=cookies)
        assert listed.status_code == 200, listed.text
        assert links(listed.text, "locations") == {kabete: "Kabete field station", other: "Kiboko"}
        assert "-1.2491, 36.7378" in listed.text  # latitude, longitude
        assert '<a href="/app/locations"' in listed.text  # in the navigation

        found = await on.client.get("/app/locations?q=Kiboko", cookies=cookies)
        assert links(found.text, "locations") == {other: "Kiboko"}

        page = await on.client.get(f"/app/locations/{kabete}", cookies=cookies)
        assert page.status_code == 200, page.text
        assert "<h1>Kabete field station</h1>" in page.text
        assert "University of Nairobi" in page.text
        assert links(page.text, "studies") == {here: "Kabete long rains"}  # not Kiboko's

        study = await on.client.get(f"/app/studies/{here}", cookies=cookies)
        assert links(study.text, "locations") == {kabete: "Kabete field station"}
        studies = await on.client.get("/app/studies", cookies=cookies)
        assert links(studies.text, "locations") == {
            kabete: "Kabete field station",
            other: "Kiboko",
        }
        assert elsewhere in links(studies.text, "studies")


async def test_locations_are_paged(gateway_on_fakes: Any) -> None:
    breeder = member("breeder", TenantId(uuid.uuid4()))
    async with gateway_on_fakes({TOKEN: breeder}) as on:
        cookies = on.signed_in(breeder, TOKEN)
        await brapi(on, TOKEN, "locations", [{"locationName": f"Plot {i}"} for i in range(30)])
        await on.pages_of_thirty(cookies, "locations")


async def test_another_organizations_location_is_not_found_and_shows_nothing_of_it(
    gateway_on_fakes: Any,
) -> None:
    breeder = member("breeder", TenantId(uuid.uuid4()))
    stranger = member("breeder", TenantId(uuid.uuid4()))
    async with gateway_on_fakes({TOKEN: breeder, OTHER_TOKEN: stranger}) as on:
        [theirs] = await brapi(on, OTHER_TOKEN, "locations", [NAIROBI])
        [trial] = await brapi(on, OTHER_TOKEN, "trials", [{"trialName": "Their trial"}])
        await brapi(
            on,
            OTHER_TOKEN,
            "studies",
            [{"studyName": "Their secret study", "trialDbId": trial, "locationDbId": theirs}],
        )
        cookies = on.signed_in(breeder, TOKEN)

        secrets = ("Kabete", "Nairobi", "Their secret study", "Their trial")
        await on.shows_nothing_of(cookies, "locations", theirs, "Kabete field station", secrets)


async def test_a_viewer_reads_locations_and_odd_searches_find_nothing(
    gateway_on_fakes: Any,
) -> None:
    tenant = TenantId(uuid.uuid4())
    breeder, viewer = member("breeder", tenant), member("viewer", tenant)
    async with gateway_on_fakes({TOKEN: breeder, VIEWER_TOKEN: viewer}) as on:
        [kabete] = await brapi(on, TOKEN, "locations", [NAIROBI])
        cookies = on.signed_in(viewer, VIEWER_TOKEN)
        assert (await on.client.get(f"/app/locations/{kabete}", cookies=cookies)).status_code == 200

        await on.odd_searches_find_nothing(cookies, "locations", "Kabete field station")


async def test_a_seed_lot_on_its_germplasms_page_links_where_it_is_kept(
    gateway_on_fakes: Any,
) -> None:
    breeder = member("breeder", TenantId(uuid.uuid4()))
    async with gateway_on_fakes({TOKEN: breeder}) as on:
        [kabete] = await brapi(on, TOKEN, "locations", [NAIROBI])
        [maize] = await brapi(
            on,
            TOKEN,
            "germplasm",
            [{"germplasmName": "H614", "germplasmPUI": "urn:h614", "commonCropName": "Maize"}],
        )
        await brapi(
            on,
            TOKEN,
            "seedlots",
            [
                {
                    "seedLotName": "H614 cold store",
                    "amount": 40,
                    "units": "kg",
                    "locationDbId": kabete,
                    "contentMixture": [{"germplasmDbId": maize}],
                }
            ],
        )
        page = await on.client.get(f"/app/germplasm/{maize}", cookies=on.signed_in(breeder, TOKEN))
        assert page.status_code == 200, page.text
        assert "40 kg" in page.text
        assert links(page.text, "locations") == {kabete: "Kabete field station"}
