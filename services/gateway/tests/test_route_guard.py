"""The gateway's route checks run as one Litestar guard (ADR 0373): Litestar hands every
guard its own copy of the route handler on every request, so three guards made three copies.
The checks keep their order: a repeated single-valued parameter (400) before the route's
permission (403) before its declared parameters (422). The gateway runs on its composition
root over fakes."""

from __future__ import annotations

import uuid
from typing import Any

from bijmantra.kernel import Principal, TenantId

ORGANIZATION = TenantId(uuid.uuid4())
TOKENS = {
    "viewer": Principal(subject="v", tenant_id=ORGANIZATION, roles=frozenset({"viewer"})),
    "admin": Principal(subject="a", tenant_id=ORGANIZATION, roles=frozenset({"admin"})),
}


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_every_route_has_one_guard(gateway_on_fakes: Any) -> None:
    async with gateway_on_fakes(TOKENS) as on:
        handlers = [h for route in on.app.routes for h in getattr(route, "route_handlers", ())]
        assert handlers
        assert {len(h.resolve_guards()) for h in handlers} == {1}


async def test_the_checks_keep_their_order(gateway_on_fakes: Any) -> None:
    """``/api/v1/audit`` needs the audit permission (a viewer lacks it) and declares
    ``page_size`` as an integer."""
    async with gateway_on_fakes(TOKENS) as on:
        http = on.client
        repeated = await http.get("/api/v1/audit?page_size=x&page_size=y", headers=_as("viewer"))
        assert repeated.status_code == 400, repeated.text
        assert repeated.json()["error"]["code"] == "malformed"
        unpermitted = await http.get("/api/v1/audit?page_size=x", headers=_as("viewer"))
        assert unpermitted.status_code == 403, unpermitted.text
        assert unpermitted.json()["error"]["code"] == "forbidden"
        invalid = await http.get("/api/v1/audit?page_size=x", headers=_as("admin"))
        assert invalid.status_code == 422, invalid.text
        assert invalid.json()["error"]["details"][0]["location"] == "page_size"
