"""``GET /api/v1/permissions``: what the caller's token allows, so a UI can show only what works.

Answered by the gateway alone from the verified token (no downstream call), with the same
role table the use cases enforce.
"""

from __future__ import annotations

from typing import Any

from bijmantra.application.security import permissions_for
from bijmantra.edge.envelopes import platform_body
from bijmantra.kernel import Principal
from litestar import Request, get


@get("/api/v1/permissions")
async def my_permissions(request: Request[Principal, Any, Any]) -> dict[str, Any]:
    principal = request.user
    data = {
        "subject": principal.subject,
        "organization_id": str(principal.tenant_id),
        "roles": sorted(principal.roles),
        "permissions": sorted(str(p) for p in permissions_for(principal.roles)),
    }
    return platform_body(data, request.scope.get("state", {}).get("request_id"))
