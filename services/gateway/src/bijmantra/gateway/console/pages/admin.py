"""Organization administration: the audit trail with chain verification, members and roles.

Members live in identity: read and changed over identity's platform API with the session's
token (server to server), so identity's use cases decide, as for any client.
"""

from __future__ import annotations

import builtins
from typing import Any

import httpx
import msgspec
from bijmantra.application.compliance import AUDIT
from bijmantra.application.security import MEMBER_ROLES, Action, permissions
from bijmantra.gateway.console.paging import MAX_PAGE, PAGE_SIZE, Rows, page_request
from bijmantra.gateway.console.web import PREFIX, View, view
from bijmantra.kernel import (
    FieldError,
    Forbidden,
    NotFound,
    PageRequest,
    Unavailable,
    ValidationFailed,
)
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

TENANCY_READ, TENANCY_ADMIN = permissions("tenancy", Action.READ, Action.ADMIN)
ROLES = sorted(MEMBER_ROLES)


async def recent_entries(state: State, page: View, number: int | None, size: int) -> Rows:
    """Newest first, page 0 the end of the chain: one read, which also says the total (a
    page past the end, from an old link, shows the last page: a second read)."""
    shown = min(max(number or 0, 0), MAX_PAGE)
    found = await state.audit.entries(page.token, PageRequest(shown, size), newest_first=True)
    pages = max(1, -(-found.total_count // size))
    if shown >= pages:
        shown = pages - 1
        found = await state.audit.entries(page.token, PageRequest(shown, size), newest_first=True)
    items = [msgspec.json.decode(raw) for raw in found.items]
    return Rows(items, shown, found.total_count, pages, {})


@get(f"{PREFIX}/audit", name="console:audit")
async def audit(request: Request[Any, Any, Any], state: State) -> Template:
    page = view(request, AUDIT)
    entries = await recent_entries(state, page, page_request(request).page, PAGE_SIZE)
    verdict = await state.audit.verify(page.token) if "verify" in request.query_params else None
    return page.render("admin/audit.html", entries=entries, rows=entries, verdict=verdict)


class IdentityMembers:
    """identity's ``/api/v1/organizations/{id}/members`` for the signed-in administrator."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def _call(self, method: str, path: str, token: str, **kwargs: Any) -> Any:
        try:
            response = await self._client.request(
                method, path, headers={"authorization": f"Bearer {token}"}, **kwargs
            )
        except httpx.HTTPError as exc:
            raise Unavailable("Identity service unavailable") from exc
        if response.status_code >= 400:
            message = response.json().get("error", {}).get("message", "Request refused")
            error = {403: Forbidden, 404: NotFound}.get(response.status_code, ValidationFailed)
            raise error(message)
        return response.json()["data"]

    async def list(self, token: str, organization: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self._call(
            "GET", f"/api/v1/organizations/{organization}/members", token
        )
        return found

    async def set_roles(
        self, token: str, organization: str, user: str, roles: builtins.list[str]
    ) -> None:
        await self._call(
            "PATCH",
            f"/api/v1/organizations/{organization}/members/{user}",
            token,
            json={"roles": roles},
        )


@get(f"{PREFIX}/members", name="console:members")
async def members(request: Request[Any, Any, Any], state: State) -> Template:
    page = view(request, TENANCY_ADMIN)
    listed = await state.console_members.list(page.token, str(page.principal.tenant_id))
    return page.render("admin/members.html", members=listed, roles=ROLES, error="")


@post(f"{PREFIX}/members/{{user_id:str}}/roles", name="console:member-roles")
async def change_roles(
    request: Request[Any, Any, Any], state: State, user_id: str
) -> Redirect | Template:
    page = view(request, TENANCY_ADMIN)
    form = await request.form()
    roles = [r for r in form.getall("roles", []) if isinstance(r, str)]
    organization = str(page.principal.tenant_id)
    try:
        if not roles or any(r not in MEMBER_ROLES for r in roles):
            raise ValidationFailed("Choose one or more roles", [FieldError("roles", "invalid")])
        await state.console_members.set_roles(page.token, organization, user_id, roles)
    except (ValidationFailed, Forbidden) as error:
        listed = await state.console_members.list(page.token, organization)
        status = 403 if isinstance(error, Forbidden) else 422
        return page.render(
            "admin/members.html",
            members=listed,
            roles=ROLES,
            error=error.message,
            status_code=status,
        )
    return Redirect(f"{PREFIX}/members")


ROUTES = [audit, members, change_roles]
