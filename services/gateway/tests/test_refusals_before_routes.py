"""A refusal raised by the middleware (authentication's 401, a URL's NUL) goes out through
the request-id, timing and metrics wrappers like any other answer: Litestar answered those
outside every middleware, without the request id, and the metrics counted them as 200s."""

from __future__ import annotations

import uuid
from typing import Any

from bijmantra.kernel import Principal, TenantId
from prometheus_client import REGISTRY

TOKEN = "breeder-token"
ROUTE = "/brapi/v2/germplasm"


def _counted(status: str) -> float:
    labels = {"app_name": "gateway", "method": "GET", "path": ROUTE, "status_code": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


async def test_a_401_carries_the_request_id_and_is_counted_as_a_401(
    gateway_on_fakes: Any,
) -> None:
    breeder = Principal("u1", TenantId(uuid.uuid4()), frozenset({"breeder"}))
    async with gateway_on_fakes({TOKEN: breeder}) as on:
        before = {status: _counted(status) for status in ("200", "401")}
        for credentials in ({}, {"Authorization": "Bearer not-a-token"}):
            refused = await on.client.get(ROUTE, headers={"X-Request-ID": "req-401", **credentials})
            assert refused.status_code == 401, refused.text
            assert refused.headers["x-request-id"] == "req-401"
            assert refused.headers["server-timing"].startswith("app;dur=")
            assert refused.json()["metadata"]["status"][0]["messageType"] == "ERROR"
        read = await on.client.get(ROUTE, headers={"Authorization": f"Bearer {TOKEN}"})
        assert read.status_code == 200, read.text
        assert _counted("401") - before["401"] == 2
        assert _counted("200") - before["200"] == 1
