"""Authorization codes (RFC 6749 §4.1 with PKCE) and browser sessions.

The OAuth protocol checks (client, redirect URI, response type, PKCE S256) are authlib's, at
the identity edge; the decisions that touch tenancy live here: which organization a code
is for, that it is redeemed at most once, that the roles in its tokens are read again at
redemption, and what a browser session may do.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from bijmantra.application.revocation import RevocationList
from bijmantra.application.tenancy.login import (
    AccessGrant,
    IssuedToken,
    LoginWithPassword,
    Membership,
    TokenIssuer,
    choose_organization,
)
from bijmantra.application.tenancy.tokens import (
    MembershipLookup,
    OAuthClient,
    RefreshSessions,
    family_session,
    hash_secret,
    new_tenant_bound_secret,
    tenant_of,
)
from bijmantra.kernel import Clock, Forbidden, Principal, SystemClock, TenantId, Unauthorized

CODE_TTL = timedelta(minutes=5)  # RFC 6749 recommends at most 10
SESSION_TTL = timedelta(hours=12)
NO_SESSION = "Not signed in"


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    tenant_id: TenantId
    client_id: str
    user_id: uuid.UUID
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    expires_at: datetime
    nonce: str | None = None
    auth_time: datetime | None = None  # when the user signed in (OpenID Connect ``auth_time``)
    family_id: uuid.UUID | None = None  # the tokens' family, set when redeemed (``code_family``)


class AuthorizationCodeStore(Protocol):
    async def save(self, code_hash: bytes, code: AuthorizationCode) -> None: ...

    async def consume(
        self, tenant_id: TenantId, code_hash: bytes, client_id: str, now: datetime
    ) -> AuthorizationCode | None:
        """Mark a live code of ``client_id`` used and return it; None if unknown, expired,
        used before or issued to another client. At most one caller ever gets it."""
        ...

    async def was_used(self, tenant_id: TenantId, code_hash: bytes, client_id: str) -> bool:
        """Whether ``client_id``'s code was redeemed (or tried) before: a replay."""
        ...


@dataclass
class AuthorizationCodes:
    store: AuthorizationCodeStore
    memberships: MembershipLookup
    tokens: TokenIssuer
    refresh: RefreshSessions
    clock: Clock = field(default_factory=SystemClock)

    async def issue(
        self,
        client: OAuthClient,
        user_id: uuid.UUID,
        membership: Membership,
        *,
        redirect_uri: str,
        scope: str,
        code_challenge: str,
        code_challenge_method: str,
        nonce: str | None = None,
        auth_time: datetime | None = None,
    ) -> str:
        if code_challenge_method != "S256":
            raise Forbidden("PKCE with S256 is required")
        if not client.may_act_for(membership.tenant_id):
            raise Forbidden(f"{client.name} acts only for its own organization")
        code = new_tenant_bound_secret(membership.tenant_id)
        record = AuthorizationCode(
            membership.tenant_id,
            client.client_id,
            user_id,
            redirect_uri,
            scope,
            code_challenge,
            code_challenge_method,
            self.clock.now() + CODE_TTL,
            nonce,
            auth_time,
        )
        await self.store.save(hash_secret(code), record)
        return code

    async def redeem(self, code: str, client: OAuthClient) -> AuthorizationCode | None:
        """The code, used up; a replayed one also ends the tokens issued from it (RFC 6749
        §4.1.2): its first redemption may have been an attacker's, or this one is."""
        tenant = tenant_of(code)
        if tenant is None:
            return None
        code_hash = hash_secret(code)
        found = await self.store.consume(tenant, code_hash, client.client_id, self.clock.now())
        if found is not None:
            return replace(found, family_id=code_family(code_hash))
        if await self.store.was_used(tenant, code_hash, client.client_id):
            await self.refresh.end_family(tenant, code_family(code_hash), "code_replayed")
        return None

    async def tokens_for(self, code: AuthorizationCode, client: OAuthClient) -> IssuedToken:
        """Roles come from the membership *now*, not from when the code was issued."""
        memberships = await self.memberships.memberships(code.user_id)
        membership = next((m for m in memberships if m.tenant_id == code.tenant_id), None)
        if membership is None:
            raise Unauthorized("No longer a member of that organization")
        grant = AccessGrant(str(code.user_id), code.tenant_id, membership.roles, code.scope)
        if "refresh_token" not in client.grant_types:
            sid = None if code.family_id is None else family_session(code.family_id)
            return self.tokens.issue(replace(grant, session_id=sid))
        return await self.refresh.start(
            grant,
            user_id=code.user_id,
            client_id=client.client_id,
            scope=code.scope,
            family_id=code.family_id,
        )


@dataclass(frozen=True, slots=True)
class BrowserSession:
    """A signed-in browser. The organization is a default; each token names exactly one."""

    user_id: uuid.UUID
    organization_id: TenantId | None
    csrf_token: str
    expires_at: datetime
    authenticated_at: datetime | None = None  # None only for sessions stored before it existed


class BrowserSessionStore(Protocol):
    async def save(self, key: bytes, session: BrowserSession) -> None: ...

    async def get(self, key: bytes) -> BrowserSession | None: ...

    async def delete(self, key: bytes) -> None: ...

    async def end_all(self, user_id: uuid.UUID, at: datetime, ttl: timedelta) -> None:
        """Every session of the user signed in at or before ``at`` has ended (remembered for
        ``ttl``, the longest a session lives)."""
        ...

    async def ended_at(self, user_id: uuid.UUID) -> datetime | None: ...


@dataclass
class BrowserSessions:
    """Cookie sessions: the cookie holds a 256-bit secret, the store only its SHA-256.

    Every state-changing request made with the cookie must also carry the session's CSRF
    token (a synchronizer token: a header or form field that another site cannot read).
    """

    login: LoginWithPassword
    store: BrowserSessionStore
    memberships: MembershipLookup
    tokens: TokenIssuer
    ttl: timedelta = SESSION_TTL
    clock: Clock = field(default_factory=SystemClock)
    revocations: RevocationList | None = None  # logout revokes the session's access tokens
    token_ttl: int = 3600  # how long a revoked session's tokens could still be valid (s)

    async def start(
        self,
        email: str,
        password: str,
        organization_id: uuid.UUID | None,
        *,
        client_address: str | None,
    ) -> tuple[str, BrowserSession]:
        user = await self.login.verify_password(email, password, client_address=client_address)
        chosen = None
        if organization_id is not None:
            chosen = choose_organization(
                await self.memberships.memberships(user.id), organization_id
            ).tenant_id
        secret = secrets.token_urlsafe(32)
        now = self.clock.now()
        session = BrowserSession(user.id, chosen, secrets.token_urlsafe(32), now + self.ttl, now)
        await self.store.save(hash_secret(secret), session)
        return secret, session

    async def current(self, secret: str | None) -> BrowserSession:
        if not secret:
            raise Unauthorized(NO_SESSION)
        session = await self.store.get(hash_secret(secret))
        if session is None or session.expires_at <= self.clock.now():
            raise Unauthorized(NO_SESSION)
        ended = await self.store.ended_at(session.user_id)
        if ended is not None and (
            session.authenticated_at is None or session.authenticated_at <= ended
        ):
            raise Unauthorized(NO_SESSION)
        return session

    async def checked(self, secret: str | None, csrf_token: str | None) -> BrowserSession:
        """The session, if the request also proves it was made by our own pages."""
        session = await self.current(secret)
        if not csrf_token or not hmac.compare_digest(session.csrf_token, csrf_token):
            raise Forbidden("Missing or wrong CSRF token")
        return session

    async def organizations(self, session: BrowserSession) -> list[Membership]:
        return await self.memberships.memberships(session.user_id)

    async def access_token(
        self, secret: str | None, csrf_token: str | None, organization_id: uuid.UUID | None
    ) -> IssuedToken:
        session = await self.checked(secret, csrf_token)
        chosen = choose_organization(
            await self.organizations(session), organization_id or session.organization_id
        )
        return self.tokens.issue(
            AccessGrant(
                str(session.user_id),
                chosen.tenant_id,
                chosen.roles,
                self.login.scope,
                session_id=session_id(secret or ""),
            )
        )

    async def end(self, secret: str | None, csrf_token: str | None) -> None:
        await self.checked(secret, csrf_token)
        if self.revocations is not None:  # first: a failure here leaves the session usable
            await self.revocations.revoke_session(session_id(secret or ""), self.token_ttl)
        await self.store.delete(hash_secret(secret or ""))

    async def end_everywhere(self, principal: Principal) -> None:
        """Sign the user out of identity in every browser (the console's "sign out
        everywhere"): otherwise another browser's session would sign in again in one click."""
        try:
            user_id = uuid.UUID(principal.subject)
        except ValueError:
            raise Forbidden("Only a person has browser sessions") from None
        await self.store.end_all(user_id, self.clock.now(), self.ttl)


def code_family(code_hash: bytes) -> uuid.UUID:
    """The id of the token family a code starts: found again from a replayed code alone."""
    return uuid.UUID(bytes=code_hash[:16])


def session_id(secret: str) -> str:
    """The ``sid`` claim of a session's tokens: derived from the cookie secret, never it."""
    return hashlib.sha256(b"sid:" + secret.encode()).hexdigest()[:32]
