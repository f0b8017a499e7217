"""``GET /api/v1/permissions``: what the caller's token allows, so a UI can show only what works.

Answered by the gateway alone from the verified token (no downstream call), with the same
role table the use cases enforce.
"""

from __future__ import annotations

from typing import Any

import msgspec
from bijmantra.application.security import permissions_for
from bijmantra.edge.envelopes import Envelope, platform_body
from bijmantra.edge.requests import request_id
from bijmantra.kernel import Principal
from litestar import Request, get


class PermissionsDocument(msgspec.Struct, kw_only=True):
    """Who the token speaks for and every ``context:action`` its roles allow."""

    subject: str
    organization_id: str
    roles: list[str]
    permissions: list[str]


@get("/api/v1/permissions", opt={"returns": Envelope[PermissionsDocument]})
async def my_permissions(request: Request[Principal, Any, Any]) -> Envelope[PermissionsDocument]:
    principal = request.user
    data = PermissionsDocument(
        subject=principal.subject,
        organization_id=str(principal.tenant_id),
        roles=sorted(principal.roles),
        permissions=sorted(str(p) for p in permissions_for(principal.roles)),
    )
    return platform_body(data, request_id(request))
