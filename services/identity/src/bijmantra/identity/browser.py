"""Browser sign-in: cookie sessions with CSRF protection, and ``/oauth/authorize`` with its
login and consent pages (authorization code + PKCE through authlib).

Cookies: ``__Host-bijmantra-session`` (the session secret: HttpOnly, Secure, SameSite=Lax)
and ``__Host-bijmantra-csrf`` (readable by our pages, Secure, SameSite=Lax). A request made
with the session cookie that changes anything must repeat the session's CSRF token in the
``X-CSRF-Token`` header or the ``csrf_token`` form field; other sites can neither read it
nor set a header cross-origin. Before a session exists, the login form uses the same cookie
as a double-submit token.
"""

from __future__ import annotations

import html
import re
import secrets
import uuid
from typing import Any
from urllib.parse import urlencode

import msgspec
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error
from bijmantra.application.tenancy import Membership, choose_organization
from bijmantra.application.tenancy.authorization import BrowserSession
from bijmantra.edge import site_cookie
from bijmantra.identity.authlib_server import Grantee, ParsedRequest
from bijmantra.identity.edge import NO_STORE, bearer_principal, client_ip, decode_body, ok
from bijmantra.identity.oauth import MAX_FIELD, PARAMETER_NAME, form_fields
from bijmantra.identity.tokens import organization_token_body
from bijmantra.kernel import BijmantraError, Forbidden, Unauthorized, ValidationFailed
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie, State

SESSION_COOKIE = "__Host-bijmantra-session"
CSRF_COOKIE = "__Host-bijmantra-csrf"
CSRF_HEADER = "x-csrf-token"
PAGE_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class SessionLogin(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    email: str
    password: str
    organization_id: uuid.UUID | None = None


class TokenChoice(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    organization_id: uuid.UUID | None = None


def session_cookies(secret: str, session: BrowserSession, max_age: int) -> list[Cookie]:
    return [
        site_cookie(SESSION_COOKIE, secret, http_only=True, max_age=max_age),
        site_cookie(CSRF_COOKIE, session.csrf_token, http_only=False, max_age=max_age),
    ]


def cleared_cookies() -> list[Cookie]:
    return [
        site_cookie(SESSION_COOKIE, "", http_only=True, max_age=0),
        site_cookie(CSRF_COOKIE, "", http_only=False, max_age=0),
    ]


def _session_data(session: BrowserSession, organizations: list[Membership]) -> dict[str, Any]:
    return {
        "user_id": str(session.user_id),
        "organization_id": None
        if session.organization_id is None
        else str(session.organization_id),
        "csrf_token": session.csrf_token,
        "expires_at": session.expires_at.isoformat(),
        "organizations": [
            {"id": str(m.tenant_id), "name": m.organization_name} for m in organizations
        ],
    }


# ------------------------------------------------------------------ JSON session API


@post("/api/v1/auth/session", status_code=200)
async def start_session(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """The browser variant of ``/api/v1/auth/login``: a session cookie instead of tokens.

    JSON only: a cross-site HTML form cannot send ``application/json`` without a CORS
    preflight, which is what stops login CSRF here.
    """
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise ValidationFailed("Use Content-Type: application/json")
    body = await decode_body(request, SessionLogin)
    secret, session = await state.browser.start(
        body.email, body.password, body.organization_id, client_address=client_ip(request, state)
    )
    response = ok(request, _session_data(session, await state.browser.organizations(session)))
    response.cookies.extend(session_cookies(secret, session, state.settings.session_ttl))
    return response


@get("/api/v1/auth/session")
async def current_session(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    session = await state.browser.current(request.cookies.get(SESSION_COOKIE))
    return ok(request, _session_data(session, await state.browser.organizations(session)))


@post("/api/v1/auth/session/token", status_code=200)
async def session_token(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """A short-lived access token for one of the session's organizations, for calling the API."""
    choice = await decode_body(request, TokenChoice) if await request.body() else TokenChoice()
    issued = await state.browser.access_token(
        request.cookies.get(SESSION_COOKIE),
        request.headers.get(CSRF_HEADER),
        choice.organization_id,
    )
    return ok(request, organization_token_body(issued))


@post("/api/v1/auth/logout", status_code=204)
async def logout(request: Request[Any, Any, Any], state: State) -> Response[None]:
    await state.browser.end(request.cookies.get(SESSION_COOKIE), request.headers.get(CSRF_HEADER))
    return Response(None, status_code=204, headers=NO_STORE, cookies=cleared_cookies())


@post("/api/v1/auth/logout-everywhere", status_code=204)
async def logout_everywhere(request: Request[Any, Any, Any], state: State) -> Response[None]:
    """The caller's (Bearer) identity sessions end in every browser: the console's "sign out
    everywhere" calls it, so no other browser signs in again with one click on consent."""
    await state.browser.end_everywhere(await bearer_principal(request, state))
    return Response(None, status_code=204, headers=NO_STORE)


# ------------------------------------------------------------------ /oauth/authorize


def _page(
    title: str, body: str, status: int = 200, cookies: list[Cookie] | None = None
) -> Response[str]:
    document = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width">'
        f"<title>{html.escape(title)} · Bijmantra</title>"
        "<style>body{font:16px system-ui;max-width:28rem;margin:3rem auto;padding:0 1rem}"
        "label,input,select,button{display:block;width:100%;margin:.4rem 0}"
        ".error{color:#a00}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return Response(
        document,
        status_code=status,
        media_type="text/html",
        headers=PAGE_HEADERS,
        cookies=cookies or [],
    )


def _hidden(name: str, value: str) -> str:
    return f'<input type=hidden name="{html.escape(name)}" value="{html.escape(value)}">'


def _error(message: str | None) -> str:
    return f"<p class=error role=alert>{html.escape(message)}</p>" if message else ""


def login_page(action: str, message: str | None = None, status: int = 200) -> Response[str]:
    csrf = secrets.token_urlsafe(32)
    form = (
        f'<form method=post action="{html.escape(action)}">{_error(message)}'
        f"{_hidden('csrf_token', csrf)}{_hidden('action', 'login')}"
        "<label for=email>E-mail</label>"
        "<input id=email name=email type=email autocomplete=username required>"
        "<label for=password>Password</label>"
        "<input id=password name=password type=password autocomplete=current-password required>"
        "<button type=submit>Sign in</button></form>"
    )
    return _page(
        "Sign in", form, status, [site_cookie(CSRF_COOKIE, csrf, http_only=False, max_age=1800)]
    )


def consent_page(
    action: str,
    client_name: str,
    scope: str,
    session: BrowserSession,
    organizations: list[Membership],
    message: str | None = None,
    status: int = 200,
) -> Response[str]:
    options = "".join(
        f'<option value="{m.tenant_id}"'
        f"{' selected' if m.tenant_id == session.organization_id else ''}>"
        f"{html.escape(m.organization_name)}</option>"
        for m in organizations
    )
    form = (
        f'<form method=post action="{html.escape(action)}">{_error(message)}'
        f"<p><strong>{html.escape(client_name)}</strong> asks to act for you with: "
        f"<code>{html.escape(scope)}</code></p>{_hidden('csrf_token', session.csrf_token)}"
        f"<label for=org>Organization</label><select id=org name=organization_id>{options}</select>"
        "<button type=submit name=action value=allow>Allow</button>"
        "<button type=submit name=action value=deny>Deny</button></form>"
    )
    return _page("Authorize access", form, status)


def _oauth_error(error: OAuth2Error) -> Response[Any]:
    """Errors about the client or redirect URI are shown here; all others go back to the client."""
    status, _, headers = error()
    if status == 302:
        return Response("", status_code=302, headers={**NO_STORE, **dict(headers)})
    return _page("Cannot authorize", _error(error.description or error.error), status=400)


# RFC 6749 Appendix A: names as PARAMETER_NAME; values are printable ASCII. The parameters
# the RFC confines to NQCHAR or narrower, which authlib writes into its error descriptions
# (``redirect_uri``, ``response_type``) or we read, may not hold '"' or a backslash either:
# a description with anything outside %x20-21 / %x23-5B / %x5D-7E is a ValueError, a 500
# (ADR 0352). Any other parameter, one we ignore included (an OpenID ``claims`` JSON), is
# any printable ASCII.
_VSCHAR = re.compile(r"[\x20-\x7e]*")
_NQSCHAR = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
_NQ_PARAMETERS = frozenset(
    {
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "code_challenge",
        "code_challenge_method",
    }
)


def _single(params: Any) -> dict[str, str]:
    """The authorization request's parameters, each given once, bounded and of the RFC's
    characters; otherwise ``invalid_request``, shown on our page, never redirected."""
    fields: dict[str, str] = {}
    for key in params:
        if not PARAMETER_NAME.fullmatch(key):
            raise InvalidRequestError(description="Invalid parameter name")
        values = params.getall(key)
        text = _NQSCHAR if key in _NQ_PARAMETERS else _VSCHAR
        if len(values) != 1 or len(values[0]) > MAX_FIELD or not text.fullmatch(values[0]):
            raise InvalidRequestError(description=f"Invalid parameter {key}")
        fields[key] = values[0]
    return fields


def _authorize_url(params: dict[str, str]) -> str:
    return "/oauth/authorize?" + urlencode(params)


async def _authorization_request(
    request: Request[Any, Any, Any], state: State
) -> tuple[ParsedRequest, Any]:
    params = _single(request.query_params)
    oauth = ParsedRequest(
        "GET", state.settings.issuer + _authorize_url(params), request.headers, params
    )
    grant = await state.oauth_server.consent_grant(oauth, None)
    return oauth, grant


async def _signed_in(request: Request[Any, Any, Any], state: State) -> BrowserSession | None:
    try:
        session: BrowserSession = await state.browser.current(request.cookies.get(SESSION_COOKIE))
        return session
    except Unauthorized:
        return None


async def _consent(
    request: Request[Any, Any, Any],
    state: State,
    oauth: ParsedRequest,
    grant: Any,
    session: BrowserSession,
    message: str | None = None,
    status: int = 200,
) -> Response[str]:
    client = grant.request.client.client
    return consent_page(
        _authorize_url(oauth.payload.data),
        client.name,
        grant.request.scope,
        session,
        await _offered(state, session, grant),
        message,
        status,
    )


async def _offered(state: State, session: BrowserSession, grant: Any) -> list[Membership]:
    """The session's organizations the client may act for: an organization's own app, only
    that one (ADR 0383)."""
    client = grant.request.client.client
    return [
        m for m in await state.browser.organizations(session) if client.may_act_for(m.tenant_id)
    ]


@get("/oauth/authorize")
async def authorize_page(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    try:
        oauth, grant = await _authorization_request(request, state)
    except OAuth2Error as error:
        return _oauth_error(error)
    session = await _signed_in(request, state)
    if session is None:
        return login_page(_authorize_url(oauth.payload.data))
    return await _consent(request, state, oauth, grant, session)


@post("/oauth/authorize", status_code=200)
async def authorize_submit(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    try:
        oauth, grant = await _authorization_request(request, state)
        form = await form_fields(request)
    except OAuth2Error as error:
        return _oauth_error(error)
    here = _authorize_url(oauth.payload.data)
    if form.get("action") == "login":
        cookie = request.cookies.get(CSRF_COOKIE) or ""
        if not cookie or not secrets.compare_digest(cookie, form.get("csrf_token", "")):
            return login_page(here, "Your sign-in form expired; please try again.", status=403)
        try:
            secret, session = await state.browser.start(
                form.get("email", ""),
                form.get("password", ""),
                None,
                client_address=client_ip(request, state),
            )
        except BijmantraError as error:
            return login_page(
                here, error.message, status=401 if isinstance(error, Unauthorized) else 429
            )
        # Post/redirect/get: the consent page is a fresh GET with the new session.
        return Response(
            "",
            status_code=303,
            headers={**NO_STORE, "Location": here},
            cookies=session_cookies(secret, session, state.settings.session_ttl),
        )
    if form.get("action") not in ("allow", "deny"):
        return _page("Cannot authorize", _error("Unknown action"), status=400)
    try:
        session = await state.browser.checked(
            request.cookies.get(SESSION_COOKIE), form.get("csrf_token")
        )
    except Unauthorized:
        return login_page(here, "Please sign in again.", status=401)
    except Forbidden:
        return _page(
            "Cannot authorize", _error("Your form expired; go back and try again."), status=403
        )
    grantee = None
    if form["action"] == "allow":
        try:
            chosen = uuid.UUID(form.get("organization_id", ""))
            grantee = Grantee(
                session.user_id,
                choose_organization(await _offered(state, session, grant), chosen),
                session.authenticated_at,
            )
        except (ValueError, BijmantraError):
            return await _consent(
                request, state, oauth, grant, session, "Choose one of your organizations.", 422
            )
    status, body, headers = await state.oauth_server.authorization_response(oauth, grantee)
    return Response(body or "", status_code=status, headers={**NO_STORE, **dict(headers)})


HANDLERS = [
    start_session,
    current_session,
    session_token,
    logout,
    logout_everywhere,
    authorize_page,
    authorize_submit,
]
