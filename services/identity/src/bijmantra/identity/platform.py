"""Platform API owned by identity: ``/api/v1/organizations``, members, ``/api/v1/users/me``
(invitations: ``invitations.py``). Handlers translate HTTP to use cases; the use cases check
permissions."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from bijmantra.application.tenancy import Member, Organization, Profile
from bijmantra.identity.edge import bearer_principal, decode_body, ok
from litestar import Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath

ORGS = "/api/v1/organizations"


class OrganizationBody(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class RolesBody(msgspec.Struct, forbid_unknown_fields=True):
    roles: list[str]


def organization_data(organization: Organization) -> dict[str, Any]:
    return {
        "id": str(organization.id),
        "name": organization.name,
        "created_at": organization.created_at.isoformat(),
    }


def member_data(member: Member) -> dict[str, Any]:
    return {
        "user_id": str(member.user_id),
        "email": member.email,
        "display_name": member.display_name,
        "roles": sorted(member.roles),
        "joined_at": member.joined_at.isoformat(),
    }


def _organization_answer(
    request: Request[Any, Any, Any], organization: Organization, status: int = 200
) -> Response[bytes]:
    """An organization as every handler of one answers it: its data and its links."""
    self_link = f"{ORGS}/{organization.id}"
    links = {"self": self_link, "members": f"{self_link}/members"}
    return ok(request, organization_data(organization), status=status, links=links)


@post(ORGS, status_code=201)
async def create_organization(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    principal = await bearer_principal(request, state)
    body = await decode_body(request, OrganizationBody)
    organization = await state.create_organization(principal, body.name)
    return _organization_answer(request, organization, status=201)


@get(ORGS + "/{organization_id:uuid}")
async def get_organization(
    request: Request[Any, Any, Any], state: State, organization_id: FromPath[uuid.UUID]
) -> Response[Any]:
    principal = await bearer_principal(request, state)
    organization = await state.get_organization(principal, organization_id)
    return _organization_answer(request, organization)


@patch(ORGS + "/{organization_id:uuid}")
async def update_organization(
    request: Request[Any, Any, Any], state: State, organization_id: FromPath[uuid.UUID]
) -> Response[Any]:
    principal = await bearer_principal(request, state)
    body = await decode_body(request, OrganizationBody)
    organization = await state.update_organization(principal, organization_id, body.name)
    return _organization_answer(request, organization)


@get(ORGS + "/{organization_id:uuid}/members")
async def list_members(
    request: Request[Any, Any, Any], state: State, organization_id: FromPath[uuid.UUID]
) -> Response[Any]:
    principal = await bearer_principal(request, state)
    members = await state.list_members(principal, organization_id)
    return ok(
        request,
        [member_data(m) for m in members],
        links={"self": f"{ORGS}/{organization_id}/members"},
    )


@patch(ORGS + "/{organization_id:uuid}/members/{user_id:uuid}")
async def change_member_roles(
    request: Request[Any, Any, Any],
    state: State,
    organization_id: FromPath[uuid.UUID],
    user_id: FromPath[uuid.UUID],
) -> Response[Any]:
    principal = await bearer_principal(request, state)
    body = await decode_body(request, RolesBody)
    member = await state.change_member_roles(principal, organization_id, user_id, body.roles)
    return ok(request, member_data(member))


@delete(ORGS + "/{organization_id:uuid}/members/{user_id:uuid}", status_code=204)
async def remove_member(
    request: Request[Any, Any, Any],
    state: State,
    organization_id: FromPath[uuid.UUID],
    user_id: FromPath[uuid.UUID],
) -> None:
    principal = await bearer_principal(request, state)
    await state.remove_member(principal, organization_id, user_id)


def profile_data(profile: Profile) -> dict[str, Any]:
    return {
        "id": str(profile.user.id),
        "email": profile.user.email,
        "display_name": profile.user.display_name,
        "organization_id": str(profile.organization_id),
        "roles": sorted(profile.roles),
        "organizations": [
            {"id": str(m.tenant_id), "name": m.organization_name, "roles": sorted(m.roles)}
            for m in profile.memberships
        ],
    }


@get("/api/v1/users/me")
async def users_me(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    principal = await bearer_principal(request, state)
    profile = await state.my_profile(principal)
    return ok(
        request, profile_data(profile), links={"organization": f"{ORGS}/{profile.organization_id}"}
    )


HANDLERS = [
    create_organization,
    get_organization,
    update_organization,
    list_members,
    change_member_roles,
    remove_member,
    users_me,
]
