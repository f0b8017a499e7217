"""Organization administration: the audit trail with chain verification, members and roles,
invitations (offered, pending, revoked).

Members live in identity: read and changed over identity's platform API with the session's
token (server to server), so identity's use cases decide, as for any client.
"""

from __future__ import annotations

import asyncio
import builtins
from typing import Any

import httpx
import msgspec
from bijmantra.application.compliance import AUDIT
from bijmantra.application.security import MEMBER_ROLES, Action, permissions
from bijmantra.gateway.console.paging import MAX_PAGE, PAGE_SIZE, Rows, page_request
from bijmantra.gateway.console.web import PREFIX, View, said, view
from bijmantra.kernel import (
    Conflict,
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
            refusal = response.json().get("error", {})
            details = [
                FieldError(str(d.get("location", "")), str(d.get("message", "")))
                for d in refusal.get("details", [])
                if isinstance(d, dict)
            ]
            error = {403: Forbidden, 404: NotFound, 409: Conflict}.get(
                response.status_code, ValidationFailed
            )
            raise error(refusal.get("message", "Request refused"), details)
        return response.json()["data"] if response.content else None

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

    async def invitations(self, token: str, organization: str) -> builtins.list[dict[str, Any]]:
        found: builtins.list[dict[str, Any]] = await self._call(
            "GET", f"/api/v1/organizations/{organization}/invitations", token
        )
        return found

    async def invite(
        self, token: str, organization: str, email: str, roles: builtins.list[str], name: str
    ) -> None:
        await self._call(
            "POST",
            f"/api/v1/organizations/{organization}/members",
            token,
            json={"email": email, "roles": roles, "displayName": name},
        )

    async def revoke(self, token: str, organization: str, invitation: str) -> None:
        await self._call(
            "DELETE", f"/api/v1/organizations/{organization}/invitations/{invitation}", token
        )


NO_INVITE: dict[str, Any] = {"email": "", "display_name": "", "roles": ["viewer"]}


async def members_page(
    state: State,
    page: View,
    error: str = "",
    status: int = 200,
    invite: dict[str, Any] | None = None,
    invite_error: str = "",
) -> Template:
    """Members with their roles, pending invitations, and the invitation form (``invite``:
    what was typed into it, kept when it is refused, with why next to it)."""
    organization = str(page.principal.tenant_id)
    listed, invitations = await asyncio.gather(
        state.console_members.list(page.token, organization),
        state.console_members.invitations(page.token, organization),
    )
    return page.render(
        "admin/members.html",
        members=listed,
        invitations=invitations,
        roles=ROLES,
        error=error,
        invite=invite or NO_INVITE,
        invite_error=invite_error,
        status_code=status,
    )


@get(f"{PREFIX}/members", name="console:members")
async def members(request: Request[Any, Any, Any], state: State) -> Template:
    page = view(request, TENANCY_ADMIN)
    return await members_page(state, page)


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
        status = 403 if isinstance(error, Forbidden) else 422
        return await members_page(state, page, error.message, status)
    return Redirect(f"{PREFIX}/members")


@post(f"{PREFIX}/members/invitations", name="console:member-invite")
async def invite(request: Request[Any, Any, Any], state: State) -> Redirect | Template:
    """Offer roles to an address; identity mails the link. A refused offer (a malformed
    address, no role, already a member) shows the form again as it was typed, saying why."""
    page = view(request, TENANCY_ADMIN)
    form = await request.form()
    given = {
        "email": str(form.get("email", "")).strip(),
        "display_name": str(form.get("display_name", "")).strip(),
        "roles": [r for r in form.getall("roles", []) if isinstance(r, str)],
    }
    try:
        if not given["roles"] or any(r not in MEMBER_ROLES for r in given["roles"]):
            raise ValidationFailed(
                "Choose one or more roles to offer", [FieldError("roles", "invalid")]
            )
        await state.console_members.invite(
            page.token,
            str(page.principal.tenant_id),
            given["email"],
            given["roles"],
            given["display_name"],
        )
    except (ValidationFailed, Conflict) as error:
        status = 409 if isinstance(error, Conflict) else 422
        return await members_page(state, page, "", status, given, said(error))
    return Redirect(f"{PREFIX}/members#invitations")


@post(f"{PREFIX}/members/invitations/{{invitation_id:str}}/revoke", name="console:member-revoke")
async def revoke(request: Request[Any, Any, Any], state: State, invitation_id: str) -> Redirect:
    page = view(request, TENANCY_ADMIN)
    await state.console_members.revoke(page.token, str(page.principal.tenant_id), invitation_id)
    return Redirect(f"{PREFIX}/members")


ROUTES = [audit, members, change_roles, invite, revoke]
