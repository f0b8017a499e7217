"""Sign-in and sign-out of the console: identity's authorization-code + PKCE flow (ADR 0060).

``/app/auth/login`` starts the flow (verifier kept server-side, the state bound to this
browser by a short-lived cookie), identity's own pages sign the user in and pick the
organization, ``/app/auth/callback`` redeems the code server-to-server and sets the opaque
session cookie. The browser never sees a token.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
from bijmantra.application.console import ConsoleSessions, TokenGrant
from bijmantra.edge import client_address, site_cookie
from bijmantra.gateway.console.web import COOKIE, CSRF_HEADER, PREFIX, PUBLIC, View, member_view
from bijmantra.kernel import BijmantraError, Unauthorized, Unavailable
from bijmantra.observability import get_logger
from litestar import Request, get, post
from litestar.response import Redirect, Template

log = get_logger(__name__)

CLIENT_ID = "bijmantra-console"
SCOPE = "openid brapi"
SIGN_IN_COOKIE = "__Host-bijmantra-console-signin"
IDENTITY_SESSION_COOKIE = "__Host-bijmantra-session"  # identity's own sign-in (ADR 0037)
IDENTITY_CSRF_COOKIE = "__Host-bijmantra-csrf"

AnyRequest = Request[Any, Any, Any]
IDENTITY_AWAY = (
    "You are signed out of the console on every device, but the sign-in service could not "
    "end its own sign-ins in other browsers. Once it is back, sign in and sign out again."
)


class IdentityTokenEndpoint:
    """``TokenEndpoint`` over identity's HTTP token and revocation endpoints."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def _post(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        try:
            response = await self._client.post(path, data={**form, "client_id": CLIENT_ID})
        except httpx.HTTPError as exc:
            raise Unavailable("Identity service unavailable") from exc
        body: dict[str, Any] = response.json() if response.content else {}
        if response.status_code != 200:
            log.info("console.token.rejected", path=path, error=body.get("error"))
            raise Unauthorized(str(body.get("error_description") or body.get("error")))
        return body

    @staticmethod
    def _grant(body: dict[str, Any]) -> TokenGrant:
        return TokenGrant(body["access_token"], body["refresh_token"], int(body["expires_in"]))

    async def redeem(self, code: str, verifier: str, redirect_uri: str) -> TokenGrant:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        return self._grant(await self._post("/oauth/token", {**form, "code_verifier": verifier}))

    async def refresh(self, refresh_token: str) -> TokenGrant:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return self._grant(await self._post("/oauth/token", form))

    async def revoke(self, refresh_token: str) -> None:
        await self._post("/oauth/revoke", {"token": refresh_token})

    async def end_sign_ins(self, access_token: str) -> None:
        """The user's identity sign-in in every browser: otherwise, in another browser,
        'sign in' would be one click on the consent page, with no password."""
        try:
            response = await self._client.post(
                "/api/v1/auth/logout-everywhere",
                headers={"authorization": f"Bearer {access_token}"},
            )
        except httpx.HTTPError as exc:
            raise Unavailable("Identity service unavailable") from exc
        if response.status_code != 204:
            log.warning("console.logout.identity_refused", status=response.status_code)
            raise Unavailable("Identity did not end the other sign-ins; try again")

    async def end_identity_session(self, cookies: dict[str, str]) -> None:
        """Identity's single sign-on session too: otherwise 'sign in' would be one click."""
        session, csrf = cookies.get(IDENTITY_SESSION_COOKIE), cookies.get(IDENTITY_CSRF_COOKIE)
        if not session or not csrf:
            return
        jar = f"{IDENTITY_SESSION_COOKIE}={session}; {IDENTITY_CSRF_COOKIE}={csrf}"
        try:
            await self._client.post(
                "/api/v1/auth/logout", headers={"cookie": jar, CSRF_HEADER: csrf}
            )
        except httpx.HTTPError:
            log.warning("console.logout.identity_unreachable")


def _sessions(request: AnyRequest) -> ConsoleSessions:
    sessions: ConsoleSessions = request.app.state.console_sessions
    return sessions


@get(f"{PREFIX}/auth/login", opt={PUBLIC: True}, name="console:login")
async def sign_in(request: AnyRequest) -> Redirect:
    sessions = _sessions(request)
    peer = request.client.host if request.client else None
    client = client_address(
        peer,
        ", ".join(request.headers.getall("x-forwarded-for", [])) or None,
        request.app.state.console_trusted_proxies,
    )
    state, browser_secret, challenge = await sessions.begin(
        request.query_params.get("return_to"), client
    )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": sessions.redirect_uri,
            "scope": SCOPE,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return Redirect(
        f"/oauth/authorize?{query}",
        cookies=[site_cookie(SIGN_IN_COOKIE, browser_secret, max_age=600)],
    )


@get(f"{PREFIX}/auth/callback", opt={PUBLIC: True}, name="console:callback")
async def callback(request: AnyRequest) -> Redirect | Template:
    params = request.query_params
    code, state = params.get("code"), params.get("state")
    if params.get("error") or not code or not state:
        return _signed_out(request, "Sign-in was cancelled or refused.", 400)
    sessions = _sessions(request)
    try:
        secret, signed_in, return_to = await sessions.finish(
            state, code, request.cookies.get(SIGN_IN_COOKIE)
        )
    except BijmantraError as refused:
        # The page tells the person; the log must tell us (a redeemed code whose token was then
        # refused used to leave no trace at all, ADR 0324).
        log.warning("console.sign_in_refused", reason=refused.message, code=refused.code)
        raise
    log.info("console.signed_in", subject=signed_in.principal.subject)
    session = signed_in.session
    lifetime = int((session.expires_at - session.access_expires_at).total_seconds())
    return Redirect(
        return_to,
        cookies=[
            site_cookie(COOKIE, secret, max_age=max(lifetime, 600)),
            site_cookie(SIGN_IN_COOKIE, "", max_age=0),
        ],
    )


@post(f"{PREFIX}/auth/logout", name="console:logout", status_code=200)
async def sign_out(request: AnyRequest) -> Template:
    current: View = member_view(request)
    tokens: IdentityTokenEndpoint = request.app.state.console_tokens
    ended = await _sessions(request).sign_out_everywhere(request.cookies.get(COOKIE), current.token)
    await tokens.end_identity_session(dict(request.cookies))
    log.info(
        "console.signed_out",
        subject=current.principal.subject,
        sessions=ended.sessions,
        identity_ended=ended.identity_ended,
    )
    if ended.identity_ended:
        response = _signed_out(request, "You are signed out on every device.", 200)
    else:  # the console's sessions are gone; identity's sign-ins elsewhere may not be
        response = _signed_out(request, IDENTITY_AWAY, 503)
    response.cookies.append(site_cookie(COOKIE, "", max_age=0))
    return response


def _signed_out(request: AnyRequest, message: str, status: int) -> Template:
    return Template(
        template_name="signed_out.html",
        context={"view": None, "nav": [], "csrf_token": "", "message": message},
        status_code=status,
    )


ROUTES = [sign_in, callback, sign_out]
