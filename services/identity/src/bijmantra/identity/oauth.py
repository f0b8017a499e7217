"""OAuth 2 endpoints: ``/oauth/token`` (authorization_code, refresh_token, client_credentials),
``/oauth/revoke``, ``/userinfo``.

The authorization_code grant runs entirely on authlib's ``AuthorizationServer``
(``authlib_server``).

The protocol surface comes from authlib: client authentication parsing
(``client_secret_basic`` / ``client_secret_post``), the RFC 6749 error objects and their
bodies/status codes. The decisions (rotation, reuse detection, which client may do what)
are the application layer's use cases, which are async and atomic in PostgreSQL — see
docs/adr/0030-identity-tokens.md for why authlib's synchronous ``AuthorizationServer``
hooks are not used for them.
"""

from __future__ import annotations

import re
from typing import Any

from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
    UnsupportedGrantTypeError,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from bijmantra.application.tenancy import ClientNotAllowed, OAuthClient
from bijmantra.identity.authlib_server import ParsedRequest
from bijmantra.identity.edge import NO_STORE
from bijmantra.identity.tokens import token_body
from bijmantra.kernel import BijmantraError, Forbidden, Unauthorized
from bijmantra.observability import get_logger
from litestar import Request, Response, get, post
from litestar.datastructures import State

log = get_logger(__name__)

MAX_FIELD = 4096
# RFC 6749 Appendix A's parameter names (name-char: letters, digits, '-', '.', '_'). Error
# descriptions name a parameter only when it is one: authlib raises ValueError (a 500) for a
# description holding anything but printable ASCII without '"' and backslash, and the name
# is the client's (ADR 0352).
PARAMETER_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def oauth_error(error: OAuth2Error) -> Response[Any]:
    headers = dict(NO_STORE)
    headers.update(dict(error.get_headers()))
    headers.pop("Content-Type", None)
    return Response(dict(error.get_body()), status_code=error.status_code, headers=headers)


async def form_fields(request: Request[Any, Any, Any]) -> dict[str, str]:
    if (
        request.headers.get("content-type", "").split(";")[0].strip()
        != "application/x-www-form-urlencoded"
    ):
        raise InvalidRequestError(description="Use application/x-www-form-urlencoded")
    form = await request.form()
    fields: dict[str, str] = {}
    for key in form:
        if not PARAMETER_NAME.fullmatch(key):
            raise InvalidRequestError(description="Invalid parameter name")
        values = form.getall(key)
        if len(values) != 1:
            raise InvalidRequestError(description=f"Parameter {key} given more than once")
        value = values[0]
        if not isinstance(value, str) or len(value) > MAX_FIELD or "\x00" in value:
            raise InvalidRequestError(description=f"Invalid parameter {key}")
        fields[key] = value
    return fields


async def _client(
    request: Request[Any, Any, Any], state: State, form: dict[str, str], grant_type: str
) -> OAuthClient:
    basic_id, basic_secret = extract_basic_authorization(request.headers)
    if basic_id is not None and (
        ("client_id" in form and form["client_id"] != basic_id) or "client_secret" in form
    ):
        raise InvalidRequestError(description="Use one client authentication method")
    client_id = basic_id if basic_id is not None else form.get("client_id")
    secret = basic_secret if basic_id is not None else form.get("client_secret")
    try:
        client: OAuthClient = await state.authenticate_client(
            client_id, secret, grant_type=grant_type
        )
        return client
    except Unauthorized as exc:
        error = InvalidClientError(description=exc.message)
        if basic_id is not None:
            error.status_code = 401
        raise error from exc
    except Forbidden as exc:
        raise UnauthorizedClientError(description=exc.message) from exc


@post("/oauth/token", status_code=200)
async def token(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    try:
        form = await form_fields(request)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return await _authorization_code(request, state, form)
        if grant_type not in ("refresh_token", "client_credentials"):
            raise (
                UnsupportedGrantTypeError(grant_type or "")
                if grant_type
                else InvalidRequestError(description="Missing grant_type")
            )
        client = await _client(request, state, form, grant_type)
        scope = form.get("scope")
        try:
            if grant_type == "refresh_token":
                if not form.get("refresh_token"):
                    raise InvalidRequestError(description="Missing refresh_token")
                issued = await state.sessions.refresh(form["refresh_token"], client, scope)
            else:
                issued = await state.client_credentials(client, scope, form.get("organization_id"))
        except ClientNotAllowed as exc:
            raise UnauthorizedClientError(description=exc.message) from exc
        except Unauthorized as exc:
            raise InvalidGrantError(description=exc.message) from exc
        except Forbidden as exc:
            raise InvalidScopeError(description=exc.message) from exc
        except BijmantraError as exc:
            raise InvalidRequestError(description=exc.message) from exc
    except OAuth2Error as error:
        log.info("oauth.token.rejected", error=error.error, grant_type=locals().get("grant_type"))
        return oauth_error(error)
    return Response(token_body(issued), headers=NO_STORE)


async def _authorization_code(
    request: Request[Any, Any, Any], state: State, form: dict[str, str]
) -> Response[Any]:
    """Entirely authlib's grant (client authentication, code, redirect URI, PKCE S256)."""
    oauth = ParsedRequest("POST", state.settings.issuer + "/oauth/token", request.headers, form)
    status, body, headers = await state.oauth_server.token_response(oauth)
    merged = {**NO_STORE, **{k: v for k, v in headers if k.lower() != "content-type"}}
    if status != 200:
        log.info("oauth.token.rejected", error=body.get("error"), grant_type="authorization_code")
    return Response(body, status_code=status, headers=merged)


@post("/oauth/revoke", status_code=200)
async def revoke(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """RFC 7009. Revoking a refresh token ends its family; revoking an access token puts it on
    the revocation list every verifier consults (issue 17, defect 7). Unknown or invalid
    tokens are accepted and change nothing, as the RFC asks."""
    try:
        form = await form_fields(request)
        if not form.get("token"):
            raise InvalidRequestError(description="Missing token")
        client = await _client(request, state, form, "refresh_token")
        token = form["token"]
        if token.count(".") == 2 and state.revocations is not None:  # a JWT access token
            try:
                principal = await state.verifier.verify(token)
            except Unauthorized:
                principal = None  # invalid, expired or already revoked: nothing to do
            if principal is not None and principal.token_id:
                await state.revocations.revoke_token(principal.token_id, state.revocation_ttl)
        else:
            await state.sessions.revoke(token, client)
    except OAuth2Error as error:
        return oauth_error(error)
    return Response({}, headers=NO_STORE)


@get("/userinfo")
async def userinfo(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    challenge = 'Bearer error="invalid_token"'
    if scheme.lower() != "bearer" or not credentials:
        return Response(
            {"error": "invalid_token"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    try:
        principal = await state.verifier.verify(credentials.strip())
    except Unauthorized:
        return Response(
            {"error": "invalid_token"}, status_code=401, headers={"WWW-Authenticate": challenge}
        )
    body: dict[str, Any] = {
        "sub": principal.subject,
        "tid": str(principal.tenant_id),
        "roles": sorted(principal.roles),
    }
    if not principal.subject.startswith("client:"):
        import uuid

        try:
            user = await state.users.find_by_id(uuid.UUID(principal.subject))
        except ValueError:
            user = None
        if user is None:
            return Response(
                {"error": "invalid_token"}, status_code=401, headers={"WWW-Authenticate": challenge}
            )
        if "profile" in principal.scopes or "openid" in principal.scopes:
            body["name"] = user.display_name
            body["email"] = user.email
    return Response(body, headers=NO_STORE)
