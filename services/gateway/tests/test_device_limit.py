"""The limit of enrolled devices (ADR 0361) as clients meet it, through the gateway and
domain-api on the fakes: the API answers 409 ``storage_full`` in its envelope, naming the
limit; the console's enrolment form answers with a page saying the same; revoking a device
lets the next registration through."""

from __future__ import annotations

import uuid
from typing import Any

from bijmantra.domain.tenancy.storage import StoredResource
from bijmantra.kernel import Principal, TenantId

TOKEN = "manager-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROFILE = {
    "name": "station",
    "metrics": [{"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70}],
}


async def test_a_registration_past_the_limit_is_a_409_envelope_and_a_console_page(
    gateway_on_fakes: Any,
) -> None:
    tenant = TenantId(uuid.uuid4())
    manager = Principal("u1", tenant, frozenset({"data-manager"}))
    async with gateway_on_fakes({TOKEN: manager}) as on:
        on.fakes.sensors.caps.caps[StoredResource.ENROLLED_DEVICES] = 1
        location = on.fakes.sensors.place(tenant, "location", "field-1")
        created = await on.client.post("/api/v1/device-profiles", headers=AUTH, json=PROFILE)
        assert created.status_code == 201, created.text
        body = {"profileId": created.json()["data"]["profileId"], "locationDbId": location}
        first = await on.client.post("/api/v1/devices", headers=AUTH, json={**body, "name": "a"})
        assert first.status_code == 201, first.text

        refused = await on.client.post("/api/v1/devices", headers=AUTH, json={**body, "name": "b"})
        assert refused.status_code == 409
        error = refused.json()["error"]
        assert error["code"] == "storage_full"
        assert error["message"].startswith(
            "This organization has reached its limit of 1 enrolled devices: the device was "
            "not registered. Revoke a device it no longer uses, or ask an operator"
        )
        assert {d["location"]: d["message"] for d in error["details"]} == {
            "resource": "stored_enrolled_devices",
            "used": "1",
            "cap": "1",
        }

        cookies = on.signed_in(manager, TOKEN)
        form = {"csrf_token": "csrf", "name": "c", **body}
        page = await on.client.post("/app/devices", cookies=cookies, data=form)
        assert page.status_code == 409
        assert page.headers["content-type"].startswith("text/html")
        assert "<h1>Limit reached</h1>" in page.text
        assert "its limit of 1 enrolled devices: the device was not registered" in page.text
        listed = await on.client.get("/api/v1/devices", headers=AUTH)
        assert [d["name"] for d in listed.json()["data"]] == ["a"]

        device_id = first.json()["data"]["deviceId"]
        revoked = await on.client.post(f"/api/v1/devices/{device_id}/revoke", headers=AUTH)
        assert revoked.status_code == 200, revoked.text
        again = await on.client.post("/app/devices", cookies=cookies, data=form)
        assert again.status_code in (302, 303), again.text
        assert again.headers["location"].endswith("/enrol")
