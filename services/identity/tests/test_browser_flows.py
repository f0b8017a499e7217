"""Browser sign-in over HTTP against real PostgreSQL and Redis: the authorization-code flow
with PKCE through the login and consent pages, and cookie sessions with CSRF protection."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from bijmantra.adapters.postgres.identity import register_client
from joserfc import jwt
from joserfc.jwk import KeySet
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import ISSUER, Member, new_member
from .test_oauth_flows import FORM, refresh, verifier
from .test_revocation import status_within

pytestmark = pytest.mark.integration

Client = AsyncTestClient
CALLBACK = "https://app.example/callback"
CSRF_COOKIE = "__Host-bijmantra-csrf"
SESSION_COOKIE = "__Host-bijmantra-session"


async def public_client(
    engine: AsyncEngine, organization: uuid.UUID, scope: str = "openid brapi"
) -> str:
    client_id = f"spa-{uuid.uuid4().hex[:10]}"
    await register_client(
        engine,
        client_id=client_id,
        name="Field Book Web",
        tenant_id=organization,
        secret_hash=None,
        grant_types=["authorization_code", "refresh_token"],
        scope=scope,
        redirect_uris=[CALLBACK],
    )
    return client_id


def pkce() -> tuple[str, str]:
    verifier_ = secrets.token_urlsafe(48)
    return verifier_, create_s256_code_challenge(verifier_)


def authorize_url(client_id: str, challenge: str | None, **overrides: str | None) -> str:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid brapi",
        "state": "st-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return "/oauth/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


def form_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None, page
    return match.group(1)


async def sign_in(identity: Client, url: str, member: Member) -> Any:
    page = await identity.get(url)
    assert page.status_code == 200, page.text
    assert "Sign in" in page.text
    return await identity.post(
        url,
        data={
            "action": "login",
            "email": member.email,
            "password": member.password,
            "csrf_token": form_token(page.text),
        },
        headers=FORM,
    )


async def approve(identity: Client, url: str, organization: uuid.UUID) -> Any:
    consent = await identity.get(url)
    assert consent.status_code == 200, consent.text
    assert "Authorize access" in consent.text
    return await identity.post(
        url,
        data={
            "action": "allow",
            "organization_id": str(organization),
            "csrf_token": form_token(consent.text),
        },
        headers=FORM,
    )


def redirected(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    return parse_qs(location.query)


async def exchange(identity: Client, client_id: str, code: str, code_verifier: str | None) -> Any:
    fields = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "client_id": client_id,
    }
    if code_verifier is not None:
        fields["code_verifier"] = code_verifier
    return await identity.post("/oauth/token", data=fields, headers=FORM)


@pytest.fixture
def identity(identity: Client) -> Client:
    """Redirects are what these tests look at, so the client must not follow them."""
    identity.follow_redirects = False
    return identity


@pytest.fixture
async def app_client(identity_engine: AsyncEngine, member: Member) -> str:
    return await public_client(identity_engine, member.organization_id)


async def test_authorization_code_with_pkce_through_the_login_page(
    identity: Client, member: Member, app_client: str
) -> None:
    code_verifier, challenge = pkce()
    url = authorize_url(app_client, challenge, nonce="n-0S6_WzA2Mj")
    signed_in = await sign_in(identity, url, member)
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == url
    query = redirected(await approve(identity, url, member.organization_id))
    assert query["state"] == ["st-123"]
    [code] = query["code"]

    tokens = await exchange(identity, app_client, code, code_verifier)
    assert tokens.status_code == 200, tokens.text
    assert tokens.headers["cache-control"] == "no-store"
    body = tokens.json()
    principal = await (await verifier(identity)).verify(body["access_token"])
    assert principal.subject == str(member.user_id)
    assert principal.tenant_id == member.organization_id
    assert principal.roles == frozenset({"breeder"})
    assert body["scope"] == "brapi openid"
    claims = await verified_id_token(identity, body)
    assert claims["aud"] == app_client
    assert claims["sub"] == str(member.user_id)
    assert claims["tid"] == str(member.organization_id)
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["auth_time"] <= claims["iat"] < claims["exp"]
    assert "email" not in claims  # neither the email nor the profile scope was asked for
    assert "name" not in claims
    # The refresh token rotates like any other, for this client only.
    refreshed = await identity.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": app_client,
        },
        headers=FORM,
    )
    assert refreshed.status_code == 200, refreshed.text

    again = await exchange(identity, app_client, code, code_verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


async def verified_id_token(identity: Client, token_response: dict[str, Any]) -> dict[str, Any]:
    """The id_token checked as a relying party would: JWKS signature, iss, exp, at_hash."""
    keys = KeySet.import_key_set((await identity.get("/.well-known/jwks.json")).json())
    decoded = jwt.decode(token_response["id_token"], keys, algorithms=["RS256"])
    assert decoded.header["alg"] == "RS256"
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": ISSUER}).validate(decoded.claims)
    assert decoded.claims["exp"] > time.time()
    # OIDC Core 3.1.3.6: base64url of the left half of SHA-256 of the access token.
    digest = hashlib.sha256(token_response["access_token"].encode("ascii")).digest()
    assert decoded.claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    return decoded.claims


async def code_flow_tokens(
    identity: Client, member: Member, client_id: str, scope: str, **params: str
) -> dict[str, Any]:
    code_verifier, challenge = pkce()
    url = authorize_url(client_id, challenge, scope=scope, **params)
    if SESSION_COOKIE not in identity.cookies:
        assert (await sign_in(identity, url, member)).status_code == 303
    [code] = redirected(await approve(identity, url, member.organization_id))["code"]
    tokens = await exchange(identity, client_id, code, code_verifier)
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


async def test_the_id_token_carries_profile_claims_only_for_their_scopes(
    identity: Client, identity_engine: AsyncEngine, member: Member
) -> None:
    client_id = await public_client(
        identity_engine, member.organization_id, "openid brapi email profile"
    )
    with_profile = await code_flow_tokens(identity, member, client_id, "openid email profile")
    claims = await verified_id_token(identity, with_profile)
    assert claims["email"] == member.email
    assert claims["name"]
    assert "nonce" not in claims  # none was sent

    only_email = await verified_id_token(
        identity, await code_flow_tokens(identity, member, client_id, "openid email")
    )
    assert only_email["email"] == member.email
    assert "name" not in only_email

    without_openid = await code_flow_tokens(identity, member, client_id, "brapi email profile")
    assert "id_token" not in without_openid
    assert without_openid["scope"] == "brapi email profile"


@pytest.mark.parametrize(
    "overrides",
    [{"code_challenge": None}, {"code_challenge_method": "plain"}, {"code_challenge_method": None}],
    ids=["missing-challenge", "plain", "missing-method"],
)
async def test_authorization_requests_without_s256_pkce_are_refused(
    identity: Client, member: Member, app_client: str, overrides: dict[str, str | None]
) -> None:
    _, challenge = pkce()
    if "code_challenge_method" in overrides:
        overrides = {**overrides, "code_challenge": challenge}
    response = await identity.get(authorize_url(app_client, None, **overrides))
    query = redirected(response)
    assert query["error"] == ["invalid_request"]
    assert query["state"] == ["st-123"]


async def test_code_redemption_needs_the_right_verifier_and_is_single_use(
    identity: Client, member: Member, app_client: str
) -> None:
    code_verifier, challenge = pkce()
    url = authorize_url(app_client, challenge)
    await sign_in(identity, url, member)
    [code] = redirected(await approve(identity, url, member.organization_id))["code"]
    wrong = await exchange(identity, app_client, code, secrets.token_urlsafe(48))
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    # The failed attempt used the code up: the right verifier is too late now.
    late = await exchange(identity, app_client, code, code_verifier)
    assert late.status_code == 400

    [code2] = redirected(await approve(identity, url, member.organization_id))["code"]
    missing = await exchange(identity, app_client, code2, None)
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"


async def test_a_replayed_code_ends_the_tokens_its_first_redemption_got(
    identity: Client, member: Member, app_client: str
) -> None:
    """RFC 6749 §4.1.2, ADR 0331: a code presented twice was refused, but the tokens of its
    first redemption (perhaps an attacker's) kept working; now they end with the replay."""
    code_verifier, challenge = pkce()
    url = authorize_url(app_client, challenge)
    await sign_in(identity, url, member)
    [code] = redirected(await approve(identity, url, member.organization_id))["code"]
    first = await exchange(identity, app_client, code, code_verifier)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert await status_within(identity, tokens["access_token"], 200) == 200
    replayed = await exchange(identity, app_client, code, code_verifier)
    assert replayed.json()["error"] == "invalid_grant"
    assert await status_within(identity, tokens["access_token"], 401) == 401
    assert (await refresh(identity, tokens["refresh_token"], app_client)).status_code == 400
    [other] = redirected(await approve(identity, url, member.organization_id))["code"]
    kept = await exchange(identity, app_client, other, code_verifier)  # another code: kept
    assert kept.status_code == 200, kept.text
    me = {"Authorization": f"Bearer {kept.json()['access_token']}"}
    assert (await identity.get("/api/v1/users/me", headers=me)).status_code == 200


async def test_a_code_is_bound_to_its_client(
    identity: Client, member: Member, identity_engine: AsyncEngine
) -> None:
    first = await public_client(identity_engine, member.organization_id)
    second = await public_client(identity_engine, member.organization_id)
    code_verifier, challenge = pkce()
    url = authorize_url(first, challenge)
    await sign_in(identity, url, member)
    [code] = redirected(await approve(identity, url, member.organization_id))["code"]
    stolen = await exchange(identity, second, code, code_verifier)
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"


async def test_unknown_clients_and_unregistered_redirects_are_never_redirected_to(
    identity: Client, app_client: str
) -> None:
    _, challenge = pkce()
    for url in (
        authorize_url("no-such-client", challenge),
        authorize_url(app_client, challenge, redirect_uri="https://evil.example/callback"),
        authorize_url(app_client, challenge, redirect_uri=CALLBACK + "/../other"),
    ):
        response = await identity.get(url)
        assert response.status_code == 400, url
        assert "location" not in response.headers
        assert "Cannot authorize" in response.text


async def test_odd_characters_in_an_authorization_request_are_a_400_page_not_a_500(
    identity: Client, app_client: str
) -> None:
    """authlib names ``redirect_uri`` and ``response_type`` in its error descriptions and
    raises ``ValueError`` (a 500, anonymous, on the dev stack) when they hold characters an
    error description may not: non-ASCII, control characters, '"' or a backslash. They are
    refused first, as a repeated parameter is, on our page and never redirected (ADR 0352)."""
    _, challenge = pkce()
    odd = ("\N{GRINNING FACE}", 'a"b', "a\\b", "\x7f", "\t", "\u00e9")
    urls = [
        authorize_url(app_client, challenge, **{name: value})
        for name in ("redirect_uri", "response_type", "scope")
        for value in odd
    ]
    urls += [authorize_url(f"app{value}", challenge) for value in odd]
    urls.append(authorize_url(app_client, challenge) + "&%F0%9F%98%80=1&%F0%9F%98%80=2")
    for url in urls:
        for method in (identity.get, identity.post):
            response = await method(url)
            assert response.status_code == 400, (url, response.text)
            assert "location" not in response.headers
            assert "Cannot authorize" in response.text
    # The token endpoint named a repeated parameter in its description too.
    body = "grant_type=refresh_token&%F0%9F%98%80=1&%F0%9F%98%80=2"
    token = await identity.post("/oauth/token", content=body, headers=FORM)
    assert token.status_code == 400, token.text
    assert token.json()["error"] == "invalid_request"
    # ``state`` is any printable text, and goes back to the client as it came; a parameter
    # we do not know is ignored, as RFC 6749 asks, whatever its RFC-allowed name and its
    # printable value (an OpenID ``claims`` JSON).
    state = 'say "hi" \\ bye'
    page = await identity.get(authorize_url(app_client, challenge, state=state))
    assert page.status_code == 200, page.text
    unknown = "&ui-hint.x=1&claims=" + quote('{"id_token": {"acr": null}}')
    page = await identity.get(authorize_url(app_client, challenge) + unknown)
    assert page.status_code == 200, page.text


async def test_denying_and_forged_consent(
    identity: Client, member: Member, app_client: str
) -> None:
    _, challenge = pkce()
    url = authorize_url(app_client, challenge)
    await sign_in(identity, url, member)
    consent = await identity.get(url)
    forged = await identity.post(
        url,
        data={
            "action": "allow",
            "organization_id": str(member.organization_id),
            "csrf_token": "forged",
        },
        headers=FORM,
    )
    assert forged.status_code == 403
    assert "location" not in forged.headers
    other_org = await identity.post(
        url,
        data={
            "action": "allow",
            "organization_id": str(uuid.uuid4()),
            "csrf_token": form_token(consent.text),
        },
        headers=FORM,
    )
    assert other_org.status_code == 422
    denied = await identity.post(
        url, data={"action": "deny", "csrf_token": form_token(consent.text)}, headers=FORM
    )
    assert redirected(denied)["error"] == ["access_denied"]


async def test_the_login_form_needs_its_csrf_token_and_the_right_password(
    identity: Client, member: Member, app_client: str
) -> None:
    _, challenge = pkce()
    url = authorize_url(app_client, challenge)
    await identity.get(url)
    no_token = await identity.post(
        url,
        data={"action": "login", "email": member.email, "password": member.password},
        headers=FORM,
    )
    assert no_token.status_code == 403
    assert SESSION_COOKIE not in no_token.cookies
    page = await identity.get(url)
    wrong = await identity.post(
        url,
        data={
            "action": "login",
            "email": member.email,
            "password": "nope",
            "csrf_token": form_token(page.text),
        },
        headers=FORM,
    )
    assert wrong.status_code == 401
    assert "Sign in" in wrong.text
    assert page.headers["x-frame-options"] == "DENY"


# ------------------------------------------------------------------ cookie sessions


async def start_session(
    identity: Client, member: Member, organization: uuid.UUID | None = None
) -> Any:
    body: dict[str, str] = {"email": member.email, "password": member.password}
    if organization is not None:
        body["organizationId"] = str(organization)
    return await identity.post("/api/v1/auth/session", json=body)


async def test_cookie_login_sets_a_protected_session_and_logout_revokes_it(
    identity: Client, member: Member
) -> None:
    started = await start_session(identity, member)
    assert started.status_code == 200, started.text
    set_cookies = started.headers.get_list("set-cookie")
    session_cookie = next(c for c in set_cookies if c.startswith(SESSION_COOKIE + "="))
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/"):
        assert attribute.lower() in session_cookie.lower(), session_cookie
    csrf_cookie = next(c for c in set_cookies if c.startswith(CSRF_COOKIE + "="))
    assert "httponly" not in csrf_cookie.lower()
    csrf = started.json()["data"]["csrf_token"]
    assert SESSION_COOKIE not in started.text  # the secret is never in the body

    no_csrf = await identity.post("/api/v1/auth/session/token")
    assert no_csrf.status_code == 403
    assert no_csrf.json()["error"]["code"] == "forbidden"
    token = await identity.post("/api/v1/auth/session/token", headers={"X-CSRF-Token": csrf})
    assert token.status_code == 200, token.text
    principal = await (await verifier(identity)).verify(token.json()["data"]["access_token"])
    assert principal.tenant_id == member.organization_id
    assert (await identity.get("/api/v1/auth/session")).json()["data"]["user_id"] == str(
        member.user_id
    )

    assert (await identity.post("/api/v1/auth/logout")).status_code == 403
    assert (
        await identity.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    ).status_code == 204
    # Replaying the old cookie after logout gets nothing: the session is gone server-side.
    identity.cookies.set(
        SESSION_COOKIE, session_cookie.split(";")[0].split("=", 1)[1], domain="identity.test"
    )
    after = await identity.post("/api/v1/auth/session/token", headers={"X-CSRF-Token": csrf})
    assert after.status_code == 401


async def test_logout_everywhere_ends_the_users_sessions_in_every_browser(
    identity: Client, member: Member
) -> None:
    """The console's "sign out everywhere": without it another browser's identity session
    signed in again with one click on consent, no password."""
    secrets_: list[str] = []
    for _ in range(2):  # two browsers
        started = await start_session(identity, member)
        assert started.status_code == 200, started.text
        secrets_.append(identity.cookies[SESSION_COOKIE])
    csrf = started.json()["data"]["csrf_token"]
    token = await identity.post("/api/v1/auth/session/token", headers={"X-CSRF-Token": csrf})
    bearer = {"Authorization": f"Bearer {token.json()['data']['access_token']}"}
    assert (await identity.post("/api/v1/auth/logout-everywhere")).status_code == 401
    assert (
        await identity.post("/api/v1/auth/logout-everywhere", headers=bearer)
    ).status_code == 204
    for secret in secrets_:
        identity.cookies.set(SESSION_COOKIE, secret, domain="identity.test")
        assert (await identity.get("/api/v1/auth/session")).status_code == 401
    again = await start_session(identity, member)  # signing in again works at once
    assert again.status_code == 200, again.text
    assert (await identity.get("/api/v1/auth/session")).status_code == 200


async def test_cookie_login_refuses_form_posts_and_bad_passwords(
    identity: Client, member: Member
) -> None:
    as_form = await identity.post(
        "/api/v1/auth/session",
        data={"email": member.email, "password": member.password},
        headers=FORM,
    )
    assert as_form.status_code == 422
    assert SESSION_COOKIE not in as_form.cookies
    wrong = await identity.post(
        "/api/v1/auth/session", json={"email": member.email, "password": "wrong"}
    )
    assert wrong.status_code == 401
    assert "set-cookie" not in wrong.headers


async def test_a_user_of_several_organizations_chooses_one_per_token(
    identity: Client, member: Member, identity_engine: AsyncEngine
) -> None:
    second = await new_member(identity_engine, roles=["viewer"])
    both = Member(member.organization_id, member.user_id, member.email, member.password)
    await register_second_membership(identity_engine, both, second.organization_id)
    csrf = (await start_session(identity, both)).json()["data"]["csrf_token"]
    ambiguous = await identity.post("/api/v1/auth/session/token", headers={"X-CSRF-Token": csrf})
    assert ambiguous.status_code == 422
    check = await verifier(identity)
    for organization, roles in (
        (member.organization_id, {"breeder"}),
        (second.organization_id, {"viewer"}),
    ):
        response = await identity.post(
            "/api/v1/auth/session/token",
            json={"organizationId": str(organization)},
            headers={"X-CSRF-Token": csrf},
        )
        assert response.status_code == 200, response.text
        principal = await check.verify(response.json()["data"]["access_token"])
        assert principal.tenant_id == organization
        assert principal.roles == frozenset(roles)
    stranger = await identity.post(
        "/api/v1/auth/session/token",
        json={"organizationId": str(uuid.uuid4())},
        headers={"X-CSRF-Token": csrf},
    )
    assert stranger.status_code == 403


async def register_second_membership(
    engine: AsyncEngine, member: Member, organization: uuid.UUID
) -> None:
    from sqlalchemy import text

    async with engine.begin() as conn:
        await conn.execute(
            text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(organization)}
        )
        await conn.execute(
            text(
                "INSERT INTO identity.memberships (tenant_id, user_id, roles) "
                "VALUES (:t, :u, ARRAY['viewer'])"
            ),
            {"t": organization, "u": member.user_id},
        )
