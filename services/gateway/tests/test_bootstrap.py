"""The gateway's composition root wired to fakes alone (``gateway_on_fakes``, conftest): a
BrAPI write and read go through every middleware, the gRPC client and the use cases."""

from __future__ import annotations

import uuid
from typing import Any

from bijmantra.kernel import Principal, TenantId

TOKEN = "breeder-token"


async def test_a_brapi_write_and_read_through_gateway_and_domain_on_fakes(
    gateway_on_fakes: Any,
) -> None:
    tenant = TenantId(uuid.uuid4())
    breeder = Principal(subject="u1", tenant_id=tenant, roles=frozenset({"breeder"}))
    async with gateway_on_fakes({TOKEN: breeder}) as on:
        cookies = on.signed_in(breeder, TOKEN)
        gateway = on.client
        auth = {"Authorization": f"Bearer {TOKEN}"}
        germplasm = {
            "germplasmName": "IR64",
            "germplasmPUI": "p:IR64",
            "commonCropName": "Rice",
        }
        created = await gateway.post(
            "/brapi/v2/germplasm", json=[germplasm], headers={**auth, "Idempotency-Key": "k1"}
        )
        assert created.status_code == 200, created.text
        [item] = created.json()["result"]["data"]
        read = await gateway.get(f"/brapi/v2/germplasm/{item['germplasmDbId']}", headers=auth)
        assert read.json()["result"]["germplasmName"] == "IR64"
        anonymous = await gateway.get("/brapi/v2/germplasm")
        assert anonymous.status_code == 401
        # Console answers the framework or the edge gives before the console's own code
        # (unknown page or method, a NUL in the URL) carry its headers too (ADR 0326).
        for method, path in (
            ("GET", "/app/no-such-page"),
            ("PUT", "/app/"),
            ("GET", "/app/germplasm?q=%00"),
        ):
            answer = await gateway.request(method, path)
            assert answer.status_code in (400, 404, 405), (path, answer.status_code)
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["cache-control"] == "no-store"
        # A console page counts against its organization's rate limits and fair share
        # like the API (ADR 0348): its member is found before the protections run.
        page = await gateway.get("/app/", cookies=cookies)
        assert page.status_code == 200, page.text
        assert "ratelimit" in page.headers
        unrouted = await gateway.get("/api/v1/no-such-route", headers=auth)
        assert unrouted.headers["x-content-type-options"] == "nosniff"
        # A wrong method is 405 with its own code and the served methods (was validation).
        for path in ("/api/v1/devices", "/brapi/v2/germplasm", "/app/"):
            wrong = await gateway.request("PATCH", path, headers=auth)
            assert wrong.status_code == 405, (path, wrong.text)
            assert "GET" in wrong.headers["allow"].split(", "), path
        wrong = await gateway.delete("/api/v1/devices", headers=auth)
        assert wrong.json()["error"]["code"] == "method_not_allowed"
        assert wrong.json()["error"]["details"] == [
            {"location": "allow", "message": wrong.headers["allow"]}
        ]
        assert {"GET", "POST"} <= set(wrong.headers["allow"].split(", "))
        # A single-valued parameter given twice is 400 naming it (ADR 0314); paging read
        # the first value and the operations filters the last. BrAPI filters still repeat.
        for path in ("/api/v1/devices", "/brapi/v2/germplasm", "/api/v1/work-items"):
            query = {"page": ["0", "1"], "status": ["open", "done"]}
            twice = await gateway.get(path, params=query, headers=auth)
            assert twice.status_code == 400, (path, twice.text)
            named = ("page", "status", "given 2 times; give it once")
            assert all(text in twice.text for text in named), (path, twice.text)
        ids = {"germplasmDbId": [item["germplasmDbId"], "other"], "page": "0"}
        either = await gateway.get("/brapi/v2/germplasm", params=ids, headers=auth)
        assert either.status_code == 200, either.text
        assert len(either.json()["result"]["data"]) == 1
    assert len(on.fakes.database.outbox) == 1  # one write, one event
    assert on.idempotency.records  # the Idempotency-Key was claimed in the fake store
