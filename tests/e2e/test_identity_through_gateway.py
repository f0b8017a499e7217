"""Identity's flows over HTTP against the running services, everything through the gateway:
authorization code + PKCE, refresh rotation with reuse detection, client credentials,
cookie login with CSRF, and forged or out-of-policy tokens rejected with 401."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import psycopg
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from bijmantra.adapters.grpc.resources import ResourceClient
from bijmantra.adapters.postgres import create_engine
from bijmantra.adapters.postgres.identity import register_client
from bijmantra.application.tenancy import hash_secret
from bijmantra.devstack.stack import DEMO_ORGANIZATION_ID, DevStack, running_stack
from bijmantra.kernel import PageRequest, Unauthorized
from joserfc import jwt
from joserfc.jwk import RSAKey
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

pytestmark = [pytest.mark.e2e]

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CALLBACK = "http://127.0.0.1:9/callback"  # loopback redirect of a native app (RFC 8252)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    # A one-second /ws keep-alive: the live feed re-verifies its token at every ping.
    with running_stack(
        tmp_path_factory.mktemp("identity-stack"), env={"WS_PING_INTERVAL": "1"}
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
async def gateway(stack: DevStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=30, follow_redirects=False
    ) as client:
        yield client


@pytest.fixture(scope="module")
async def member(stack: DevStack) -> dict[str, str]:
    """A breeder of a fresh organization of their own."""
    assert stack.database is not None
    email, password = f"e2e-{uuid.uuid4().hex[:8]}@example.org", "e2e-password-123"
    organization = await asyncio.to_thread(stack.register_member, email, password, ["breeder"])
    engine = create_engine(stack.database.identity_url, pool_size=1)
    try:
        await register_client(
            engine,
            client_id="e2e-web",
            name="E2E web app",
            tenant_id=organization,
            secret_hash=None,
            grant_types=["authorization_code", "refresh_token"],
            scope="openid brapi",
            redirect_uris=[CALLBACK],
        )
        await register_client(
            engine,
            client_id="e2e-scanner",
            name="E2E scanner",
            tenant_id=organization,
            secret_hash=hash_secret("scanner-secret-" + "x" * 32),
            grant_types=["client_credentials"],
            scope="brapi",
            roles=["data-manager"],
        )
    finally:
        await engine.dispose()
    return {"organization": str(organization), "email": email, "password": password}


class Cookies:
    """The services set ``Secure`` cookies; over plain loopback HTTP we carry them by hand."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def take(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in header.lower():
                self.values.pop(name, None)
            else:
                self.values[name] = value

    def header(self) -> dict[str, str]:
        return (
            {"Cookie": "; ".join(f"{k}={v}" for k, v in self.values.items())} if self.values else {}
        )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf_field(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None, page
    return match.group(1)


async def test_authorization_code_with_pkce_and_refresh_rotation(
    gateway: httpx.AsyncClient, member: dict[str, str]
) -> None:
    verifier = secrets.token_urlsafe(48)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": "e2e-web",
            "redirect_uri": CALLBACK,
            "scope": "openid brapi",
            "state": "e2e-state",
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    url = f"/oauth/authorize?{query}"
    jar = Cookies()
    login_page = await gateway.get(url)
    assert login_page.status_code == 200
    jar.take(login_page)
    form = {"action": "login", "email": member["email"], "password": member["password"]}
    signed_in = await gateway.post(
        url,
        data={**form, "csrf_token": csrf_field(login_page.text)},
        headers={**FORM, **jar.header()},
    )
    assert signed_in.status_code == 303, signed_in.text
    jar.take(signed_in)
    consent = await gateway.get(url, headers=jar.header())
    assert "Authorize access" in consent.text
    approved = await gateway.post(
        url,
        data={
            "action": "allow",
            "organization_id": member["organization"],
            "csrf_token": csrf_field(consent.text),
        },
        headers={**FORM, **jar.header()},
    )
    assert approved.status_code == 302, approved.text
    location = urlsplit(approved.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    params = parse_qs(location.query)
    assert params["state"] == ["e2e-state"]

    exchange = {
        "grant_type": "authorization_code",
        "code": params["code"][0],
        "redirect_uri": CALLBACK,
        "client_id": "e2e-web",
        "code_verifier": verifier,
    }
    tokens = await gateway.post("/oauth/token", data=exchange, headers=FORM)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    me = await gateway.get("/api/v1/users/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["data"]["organization_id"] == member["organization"]

    refresh = {"grant_type": "refresh_token", "client_id": "e2e-web"}
    rotated = await gateway.post(
        "/oauth/token", data={**refresh, "refresh_token": body["refresh_token"]}, headers=FORM
    )
    assert rotated.status_code == 200, rotated.text
    newest = rotated.json()["refresh_token"]
    assert newest != body["refresh_token"]
    reuse = await gateway.post(
        "/oauth/token", data={**refresh, "refresh_token": body["refresh_token"]}, headers=FORM
    )
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    family_gone = await gateway.post(
        "/oauth/token", data={**refresh, "refresh_token": newest}, headers=FORM
    )
    assert family_gone.status_code == 400
    # Single use (last: a replay also ends the first redemption's tokens, ADR 0331).
    assert (await gateway.post("/oauth/token", data=exchange, headers=FORM)).status_code == 400


async def test_client_credentials(gateway: httpx.AsyncClient, member: dict[str, str]) -> None:
    secret = "scanner-secret-" + "x" * 32
    basic = base64.b64encode(f"e2e-scanner:{secret}".encode()).decode()
    issued = await gateway.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={**FORM, "Authorization": f"Basic {basic}"},
    )
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    listing = await gateway.get("/brapi/v2/germplasm", headers=bearer(token))
    assert listing.status_code == 200, listing.text
    allowed = await gateway.get("/api/v1/permissions", headers=bearer(token))
    assert allowed.status_code == 200, allowed.text
    data = allowed.json()["data"]
    assert data["organization_id"] == member["organization"]
    assert data["roles"] == ["data-manager"]
    assert "germplasm:write" in data["permissions"]
    assert "tenancy:admin" not in data["permissions"]
    assert (await gateway.get("/api/v1/permissions")).status_code == 401
    wrong = base64.b64encode(b"e2e-scanner:wrong").decode()
    refused = await gateway.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={**FORM, "Authorization": f"Basic {wrong}"},
    )
    assert refused.status_code == 401


async def test_cookie_login_with_csrf(gateway: httpx.AsyncClient, member: dict[str, str]) -> None:
    jar = Cookies()
    started = await gateway.post(
        "/api/v1/auth/session", json={"email": member["email"], "password": member["password"]}
    )
    assert started.status_code == 200, started.text
    jar.take(started)
    assert "__Host-bijmantra-session" in jar.values
    csrf = started.json()["data"]["csrf_token"]
    forged = await gateway.post("/api/v1/auth/session/token", headers=jar.header())
    assert forged.status_code == 403
    issued = await gateway.post(
        "/api/v1/auth/session/token", headers={**jar.header(), "X-CSRF-Token": csrf}
    )
    assert issued.status_code == 200, issued.text
    token = issued.json()["data"]["access_token"]
    assert (await gateway.get("/api/v1/users/me", headers=bearer(token))).status_code == 200
    # The gateway never accepts the cookie itself as authentication.
    assert (await gateway.get("/api/v1/users/me", headers=jar.header())).status_code == 401
    assert (await gateway.post("/api/v1/auth/logout", headers=jar.header())).status_code == 403
    session_cookie = dict(jar.values)
    out = await gateway.post("/api/v1/auth/logout", headers={**jar.header(), "X-CSRF-Token": csrf})
    assert out.status_code == 204
    replay = await gateway.post(
        "/api/v1/auth/session/token",
        headers={
            "Cookie": "; ".join(f"{k}={v}" for k, v in session_cookie.items()),
            "X-CSRF-Token": csrf,
        },
    )
    assert replay.status_code == 401


# ------------------------------------------------------------------ token attacks at the gateway


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64json(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


@pytest.fixture(scope="module")
def signing_key(stack: DevStack) -> RSAKey:
    """identity's real signing key: each forged token differs from a valid one in one way."""
    assert stack.database is not None
    with psycopg.connect(stack.database.owner_url) as conn:
        kid, pem = conn.execute(
            "SELECT kid, private_key_pem FROM identity.signing_keys WHERE retired_at IS NULL "
            "ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
    return RSAKey.import_key(pem, parameters={"kid": kid, "alg": "RS256"})


def _claims(stack: DevStack, tenant: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": stack.identity_url,
        "sub": str(uuid.uuid4()),
        "aud": "bijmantra",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "tid": tenant,
        "roles": ["admin"],
        "scope": "openid brapi",
    }
    claims.update(overrides)
    return claims


def _sign(key: RSAKey, claims: dict[str, Any]) -> str:
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "at+jwt"}, claims, key)


def attacks(stack: DevStack, key: RSAKey, tenant: str) -> dict[str, str]:
    now = int(time.time())
    valid = _sign(key, _claims(stack, tenant))
    header, _, signature = valid.split(".")
    hs_input = f"{_b64json({'alg': 'HS256', 'kid': key.kid})}.{_b64json(_claims(stack, tenant))}"
    attacker = RSAKey.generate_key(
        2048, parameters={"kid": "attacker", "alg": "RS256"}, private=True
    )
    return {
        "alg-none": f"{_b64json({'alg': 'none', 'kid': key.kid})}."
        f"{_b64json(_claims(stack, tenant))}.",
        "hs256-with-public-key": hs_input
        + "."
        + _b64(hmac.new(key.as_pem(private=False), hs_input.encode(), hashlib.sha256).digest()),
        "expired": _sign(
            key, _claims(stack, tenant, iat=now - 3600, nbf=now - 3600, exp=now - 600)
        ),
        "not-yet-valid": _sign(key, _claims(stack, tenant, nbf=now + 600, exp=now + 1200)),
        "wrong-iss": _sign(key, _claims(stack, tenant, iss="https://evil.example")),
        "wrong-aud": _sign(key, _claims(stack, tenant, aud="another-api")),
        "unknown-kid": _sign(attacker, _claims(stack, tenant)),
        "tampered-payload": f"{header}.{_b64json(_claims(stack, str(uuid.uuid4())))}.{signature}",
    }


def _mailed_token(stack: DevStack, address: str, timeout: float = 15.0) -> str:
    """The invitation token from the dev stack's mail catcher (its Maildir), as a person would
    find it in their mailbox."""
    assert stack.maildir is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in (stack.maildir / "new").iterdir():
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if message["To"] == address:
                body = message.get_body(preferencelist=("plain",))
                assert body is not None
                link = re.search(r"https?://\S+", body.get_content())
                assert link is not None
                assert link.group(0).startswith(stack.gateway_url + "/api/v1/auth/invitations/")
                return parse_qs(urlsplit(link.group(0)).query)["token"][0]
        time.sleep(0.2)
    raise TimeoutError(f"no invitation for {address} in {stack.maildir}")


async def _answer_pings(feed: Any) -> None:
    """Keep a live feed alive (pong every ping) until the server closes it."""
    while True:
        if json.loads(await feed.recv())["type"] == "ping":
            await feed.send(json.dumps({"type": "pong"}))


async def _status_within(
    gateway: httpx.AsyncClient, token: str, wanted: int, seconds: float = 10.0
) -> int:
    deadline = time.monotonic() + seconds
    while True:
        status = (await gateway.get("/brapi/v2/programs", headers=bearer(token))).status_code
        if status == wanted or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.25)


async def test_an_invited_member_joins_by_mail_and_loses_access_within_seconds_of_removal(
    stack: DevStack, gateway: httpx.AsyncClient
) -> None:
    """Issue 17 defects 1 and 7 through the running services: the invitation reaches the mail
    catcher, not the inviter; after removal the member's token is refused by the gateway and
    by domain-api (its own verifier, called directly over gRPC). Before that, a lower role
    (ADR 0347): the gateway's verifier answers a token's own claims, so an open socket's
    roles never change with its token; the change revokes the member's tokens, the socket
    closes 4401 at its next keep-alive check and the member's next token has the new role."""
    admin_email = f"admin-{uuid.uuid4().hex[:8]}@example.org"
    organization = await asyncio.to_thread(
        stack.register_member, admin_email, "admin-password-123", ["admin"]
    )
    admin = await gateway.post(
        "/api/v1/auth/login",
        json={"email": admin_email, "password": "admin-password-123"},
    )
    admin_token = admin.json()["data"]["access_token"]
    invitee = f"invitee-{uuid.uuid4().hex[:8]}@example.org"
    invited = await gateway.post(
        f"/api/v1/organizations/{organization}/members",
        json={"email": invitee, "roles": ["breeder"]},
        headers=bearer(admin_token),
    )
    assert invited.status_code == 202, invited.text
    assert "token" not in invited.text
    token = await asyncio.to_thread(_mailed_token, stack, invitee)
    accepted = await gateway.post(
        "/api/v1/auth/invitations/accept", json={"token": token, "password": "invitee-password-1"}
    )
    assert accepted.status_code == 200, accepted.text
    user_id = accepted.json()["data"]["user_id"]
    member = await gateway.post(
        "/api/v1/auth/login", json={"email": invitee, "password": "invitee-password-1"}
    )
    member_token = member.json()["data"]["access_token"]
    assert await _status_within(gateway, member_token, 200) == 200
    channel = stack.grpc_channel(f"127.0.0.1:{stack.ports.domain_api}")
    resources = ResourceClient(channel)
    ws_url = stack.gateway_url.replace("http://", "ws://") + "/ws"
    feed = await connect(ws_url, additional_headers={"Authorization": f"Bearer {member_token}"})
    try:
        assert json.loads(await feed.recv())["type"] == "ready"
        lowered = await gateway.patch(
            f"/api/v1/organizations/{organization}/members/{user_id}",
            json={"roles": ["viewer"]},
            headers=bearer(admin_token),
        )
        assert lowered.status_code == 200, lowered.text
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(_answer_pings(feed), 10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401
        assert await _status_within(gateway, member_token, 401) == 401
        again = await gateway.post(
            "/api/v1/auth/login", json={"email": invitee, "password": "invitee-password-1"}
        )
        member_token = again.json()["data"]["access_token"]
        mine = await gateway.get("/api/v1/permissions", headers=bearer(member_token))
        assert mine.json()["data"]["roles"] == ["viewer"], mine.text
        feed = await connect(ws_url, additional_headers={"Authorization": f"Bearer {member_token}"})
        assert json.loads(await feed.recv())["type"] == "ready"
        assert await resources.list(member_token, "program", {}, PageRequest(0, 1))
        removed = await gateway.delete(
            f"/api/v1/organizations/{organization}/members/{user_id}", headers=bearer(admin_token)
        )
        assert removed.status_code == 204
        assert await _status_within(gateway, member_token, 401) == 401
        with pytest.raises(Unauthorized):
            await resources.list(member_token, "program", {}, PageRequest(0, 1))
        # The open live feed closes at its next keep-alive check (one second here).
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(_answer_pings(feed), 10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401
    finally:
        await feed.close()
        await channel.close()


async def test_forged_and_out_of_policy_tokens_are_401(
    gateway: httpx.AsyncClient, stack: DevStack, signing_key: RSAKey, member: dict[str, str]
) -> None:
    valid = _sign(signing_key, _claims(stack, DEMO_ORGANIZATION_ID))
    assert (
        await gateway.get("/brapi/v2/germplasm", headers=bearer(valid))
    ).status_code == 200  # the control
    for name, token in attacks(stack, signing_key, DEMO_ORGANIZATION_ID).items():
        brapi = await gateway.get("/brapi/v2/germplasm", headers=bearer(token))
        assert brapi.status_code == 401, name
        assert brapi.json()["result"] is None
        platform = await gateway.get(
            f"/api/v1/organizations/{DEMO_ORGANIZATION_ID}", headers=bearer(token)
        )
        assert platform.status_code == 401, name
        assert platform.json()["error"]["code"] == "unauthorized"


async def test_a_token_of_organization_a_on_organization_b_is_401(
    gateway: httpx.AsyncClient, stack: DevStack, member: dict[str, str]
) -> None:
    token_a = stack.login(member["email"], member["password"])
    for path in (
        f"/api/v1/organizations/{DEMO_ORGANIZATION_ID}",
        f"/api/v1/organizations/{DEMO_ORGANIZATION_ID}/members",
    ):
        response = await gateway.get(path, headers=bearer(token_a))
        assert response.status_code == 401, path
    # A tenant header is no way around it: the tenant comes from the token only.
    own = await gateway.get(
        f"/api/v1/organizations/{member['organization']}",
        headers={**bearer(token_a), "X-Tenant-Id": DEMO_ORGANIZATION_ID},
    )
    assert own.json()["data"]["id"] == member["organization"]


async def test_spoofed_forwarded_for_does_not_escape_the_address_limit(
    gateway: httpx.AsyncClient, stack: DevStack
) -> None:
    """The gateway trusts no proxy here: every attempt counts against the real address."""
    for attempt in range(20):
        response = await gateway.post(
            "/api/v1/auth/login",
            json={
                "email": f"nobody-{attempt}-{uuid.uuid4().hex[:6]}@example.org",
                "password": "guess",
            },
            headers={"X-Forwarded-For": f"198.51.100.{attempt + 1}"},
        )
        assert response.status_code in (401, 429)

    def address(ip: str) -> str:  # identity.login_failures names an address by its digest
        return "addr:" + hashlib.sha256(ip.encode()).hexdigest()

    assert stack.database is not None
    with psycopg.connect(stack.database.owner_url, autocommit=True) as db:
        try:
            # Twenty attempts were counted against the real (loopback) address, none against
            # the addresses the client claimed.
            counted = db.execute(
                "SELECT failures FROM identity.login_failures WHERE subject = %s",
                (address("127.0.0.1"),),
            ).fetchone()
            assert counted is not None
            assert counted[0] >= 20
            claimed = [address(f"198.51.100.{n + 1}") for n in range(20)]
            assert (
                db.execute(
                    "SELECT subject FROM identity.login_failures WHERE subject = ANY(%s)",
                    (claimed,),
                ).fetchall()
                == []
            )
        finally:
            # The loopback address is every test's: its failures end with this test, so a
            # later test's login is not refused with 429 (the module ran in reverse did that).
            db.execute(
                "DELETE FROM identity.login_failures WHERE subject = %s", (address("127.0.0.1"),)
            )
