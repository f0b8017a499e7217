"""The console's search boxes find a part of a name in any case (ADR 0385), a ``%`` or ``_``
meaning itself; a term too long is a 400 page; BrAPI's own filters still match exactly; and
another organization's records are never found. Through the gateway, gRPC, domain-api and
the use cases, on fakes (the PostgreSQL side: ``test_name_search.py`` of the adapter)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from bijmantra.application.brapi.name_search import MAX_SEARCH_TERM
from bijmantra.kernel import Principal, TenantId

TOKEN, OTHER_TOKEN = "breeder-token", "other-token"


def _breeder() -> Principal:
    return Principal("breeder-1", TenantId(uuid.uuid4()), frozenset({"breeder"}))


async def _made(on: Any, token: str, path: str, documents: list[dict[str, Any]]) -> None:
    made = await on.client.post(
        f"/brapi/v2/{path}", json=documents, headers={"Authorization": f"Bearer {token}"}
    )
    assert made.status_code == 200, made.text


def _named(html: str, kind: str) -> list[str]:
    return sorted(re.findall(rf'<a href="/app/{kind}/[^"]+">([^<]*)</a>', html))


async def test_germplasm_is_found_by_a_part_of_a_name_accession_or_synonym(
    gateway_on_fakes: Any,
) -> None:
    ours, theirs = _breeder(), _breeder()
    async with gateway_on_fakes({TOKEN: ours, OTHER_TOKEN: theirs}) as on:
        rice = {"commonCropName": "Rice"}
        await _made(
            on,
            TOKEN,
            "germplasm",
            [
                {**rice, "germplasmName": "IR64", "germplasmPUI": "urn:ir64"},
                {
                    **rice,
                    "germplasmName": "IR8",
                    "germplasmPUI": "urn:ir8",
                    "synonyms": [{"synonym": "Miracle rice"}],
                },
                {
                    **rice,
                    "germplasmName": "100% pure",
                    "germplasmPUI": "urn:pure",
                    "accessionNumber": "IRGC 117",
                },
                {**rice, "germplasmName": "line_7", "germplasmPUI": "urn:line7"},
            ],
        )
        await _made(
            on,
            OTHER_TOKEN,
            "germplasm",
            [{**rice, "germplasmName": "IR64-B", "germplasmPUI": "urn:b"}],
        )
        cookies = on.signed_in(ours, TOKEN)

        async def found(query: str) -> list[str]:
            page = await on.client.get(f"/app/germplasm?{query}", cookies=cookies)
            assert page.status_code == 200, page.text
            return _named(page.text, "germplasm")

        assert await found("q=ir6") == ["IR64"]
        assert await found("q=Ir") == ["100% pure", "IR64", "IR8"]  # IRGC 117 too
        assert await found("q=MIRACLE") == ["IR8"]
        assert await found("q=%25") == ["100% pure"]
        assert await found("q=_") == ["line_7"]
        assert await found("q=e_7") == ["line_7"]
        assert await found("q=l%25") == []
        assert await found("q=ir64-b") == []  # the other organization's
        assert await found("field=germplasmPUI&q=urn:ir64") == ["IR64"]
        assert await found("field=germplasmPUI&q=urn:ir") == []  # a PUI matches exactly
        assert await found("field=accessionNumber&q=IRGC 117") == ["100% pure"]
        assert await found("field=accessionNumber&q=irgc") == []
        assert await found("field=germplasmName&q=ir8") == ["IR8"]  # links before 0385

        their = await on.client.get(
            "/app/germplasm?q=ir6", cookies=on.signed_in(theirs, OTHER_TOKEN)
        )
        assert _named(their.text, "germplasm") == ["IR64-B"]
        # BrAPI's own filter is exact, as the specification has it.
        brapi = await on.client.get(
            "/brapi/v2/germplasm?germplasmName=ir6", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert brapi.json()["result"]["data"] == []


async def test_lists_are_found_by_a_part_of_the_name(gateway_on_fakes: Any) -> None:
    ours = _breeder()
    async with gateway_on_fakes({TOKEN: ours}) as on:
        await _made(
            on, TOKEN, "locations", [{"locationName": "Kabete"}, {"locationName": "Kiboko"}]
        )
        await _made(on, TOKEN, "trials", [{"trialName": "Maize 2026"}, {"trialName": "Rice 2026"}])
        await _made(on, TOKEN, "studies", [{"studyName": "Long rains"}, {"studyName": "Dry"}])
        cookies = on.signed_in(ours, TOKEN)
        for path, term, names in (
            ("locations", "BET", ["Kabete"]),
            ("programs", "x", []),
            ("studies", "RAIN", ["Long rains"]),
        ):
            page = await on.client.get(f"/app/{path}?q={term}", cookies=cookies)
            assert page.status_code == 200, page.text
            assert _named(page.text, path) == names, path
            assert f'value="{term}" maxlength="{MAX_SEARCH_TERM}"' in page.text


async def test_a_term_too_long_is_a_400_page_that_says_so(gateway_on_fakes: Any) -> None:
    ours = _breeder()
    async with gateway_on_fakes({TOKEN: ours}) as on:
        cookies = on.signed_in(ours, TOKEN)
        long = "x" * (MAX_SEARCH_TERM + 1)
        for path in ("germplasm", "germplasm?field=germplasmPUI&", "seedlots", "locations"):
            url = f"/app/{path}{'' if path.endswith('&') else '?'}q={long}"
            page = await on.client.get(url, cookies=cookies)
            assert page.status_code == 400, (path, page.text)
            assert f"at most {MAX_SEARCH_TERM} characters" in page.text, path
        fits = await on.client.get(f"/app/germplasm?q={long[1:]}", cookies=cookies)
        assert fits.status_code == 200
