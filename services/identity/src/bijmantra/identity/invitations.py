"""Invitation endpoints: admins offer roles to an address (the answer never carries a token nor
says whether the address has an account); the mailed link opens a small page, and the JSON
endpoint serves apps. Also the loop that mails pending offers (``DeliverInvitations``)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import msgspec
from authlib.oauth2.rfc6749 import OAuth2Error
from bijmantra.application.tenancy import DeliverInvitations, PendingInvitation
from bijmantra.identity.browser import _error, _hidden, _page
from bijmantra.identity.edge import bearer_principal, client_ip, decode_body, ok
from bijmantra.identity.oauth import form_fields
from bijmantra.identity.platform import ORGS
from bijmantra.kernel import BijmantraError
from bijmantra.observability import get_logger
from litestar import Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath

log = get_logger(__name__)
ACCEPT = "/api/v1/auth/invitations/accept"
ACCEPT_FORM = "/api/v1/auth/invitations/accept-form"


class InviteBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    email: str
    roles: list[str]
    display_name: str = ""


class AcceptBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    token: str
    password: str
    display_name: str = ""


def invitation_data(invitation: PendingInvitation) -> dict[str, Any]:
    return {
        "id": str(invitation.id),
        "email": invitation.email,
        "roles": sorted(invitation.roles),
        "status": "pending",
        "created_at": invitation.created_at.isoformat(),
        "expires_at": invitation.expires_at.isoformat(),
    }


@post(ORGS + "/{organization_id:uuid}/members", status_code=202)
async def invite_member(
    request: Request[Any, Any, Any], state: State, organization_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """202: an offer was recorded and will be mailed; nobody is a member until it is accepted."""
    principal = await bearer_principal(request, state)
    body = await decode_body(request, InviteBody)
    invitation = await state.invite_member(
        principal, organization_id, body.email, body.roles, body.display_name
    )
    return ok(
        request,
        invitation_data(invitation),
        status=202,
        links={"self": f"{ORGS}/{organization_id}/invitations/{invitation.id}"},
    )


@get(ORGS + "/{organization_id:uuid}/invitations")
async def list_invitations(
    request: Request[Any, Any, Any], state: State, organization_id: FromPath[uuid.UUID]
) -> Response[Any]:
    principal = await bearer_principal(request, state)
    invitations = await state.list_invitations(principal, organization_id)
    return ok(request, [invitation_data(i) for i in invitations])


@delete(ORGS + "/{organization_id:uuid}/invitations/{invitation_id:uuid}", status_code=204)
async def revoke_invitation(
    request: Request[Any, Any, Any],
    state: State,
    organization_id: FromPath[uuid.UUID],
    invitation_id: FromPath[uuid.UUID],
) -> None:
    principal = await bearer_principal(request, state)
    await state.revoke_invitation(principal, organization_id, invitation_id)


@post(ACCEPT, status_code=200)
async def accept_invitation(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    body = await decode_body(request, AcceptBody)
    user_id = await state.accept_invitation(
        body.token, body.password, body.display_name, client_address=client_ip(request, state)
    )
    return ok(request, {"user_id": str(user_id)}, links={"login": "/api/v1/auth/login"})


def _accept_form(token: str, message: str | None = None, status: int = 200) -> Response[str]:
    form = (
        f'<form method=post action="{ACCEPT_FORM}">{_error(message)}{_hidden("token", token)}'
        "<p>Choose a password for a new account, or give the password of your existing "
        "account with this address.</p>"
        "<label for=display_name>Your name</label>"
        "<input id=display_name name=display_name autocomplete=name>"
        "<label for=password>Password</label>"
        "<input id=password name=password type=password autocomplete=new-password required "
        "minlength=12>"
        "<button type=submit>Accept the invitation</button></form>"
    )
    return _page("Accept the invitation", form, status)


@get(ACCEPT)
async def accept_page(request: Request[Any, Any, Any]) -> Response[str]:
    """The page the mailed link opens; the token stays in the page's form, not in a cookie."""
    token = request.query_params.get("token", "")
    if not token or len(token) > 200:
        return _page("Invitation", _error("This link is incomplete."), 400)
    return _accept_form(token)


@post(ACCEPT_FORM, status_code=200)
async def accept_from_form(request: Request[Any, Any, Any], state: State) -> Response[str]:
    try:
        fields = await form_fields(request)
    except OAuth2Error as error:
        return _page("Invitation", _error(str(error.description)), 400)
    token = fields.get("token", "")
    try:
        await state.accept_invitation(
            token,
            fields.get("password", ""),
            fields.get("display_name", ""),
            client_address=client_ip(request, state),
        )
    except BijmantraError as error:
        return _accept_form(token[:200], error.message, 400)
    return _page(
        "Invitation accepted",
        "<p>You are now a member: sign in with your e-mail address and password.</p>",
    )


async def mail_invitations(
    deliver: DeliverInvitations, wake: asyncio.Event, stop: asyncio.Event, interval: float
) -> None:
    """Send due invitations when woken by an invite, and every ``interval`` s for retries."""
    while not stop.is_set():
        wake.clear()
        try:
            sent, failed = await deliver.run_once()
            if failed:
                log.warning("invitation mail not accepted; will retry", failed=failed, sent=sent)
        except Exception:  # PostgreSQL away: try again on the next round
            log.warning("invitation mailer round failed", exc_info=True)
        waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait(waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()


HANDLERS = [
    invite_member,
    list_invitations,
    revoke_invitation,
    accept_invitation,
    accept_page,
    accept_from_form,
]
