"""Access tokens: RS256 JWTs from identity's signing keys (see adapters.grpc.auth).

Key rotation without downtime (ADR 0037): ``rotate`` adds a key and retires all but the two
newest, so the JWKS always holds the current and the previous key. A new key signs only
after it has been published for ``publish_delay`` seconds (every replica reloads its keys
more often than that), and the previous key stays published for longer than any token it
signed can live, as long as rotations are further apart than the access-token lifetime.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bijmantra.application.revocation import millisecond_stamp
from bijmantra.application.tenancy import AccessGrant, IssuedToken
from bijmantra.application.tenancy.keys import SigningKeyStore
from bijmantra.kernel import new_id
from joserfc import jwt
from joserfc.jwk import Key, KeySet, KeySetSerialization, RSAKey

ALGORITHM = "RS256"


def token_body(issued: IssuedToken) -> dict[str, Any]:
    """The RFC 6749 token response, for both the authlib grant and our own grants."""
    body: dict[str, Any] = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope,
    }
    if issued.refresh_token is not None:
        body["refresh_token"] = issued.refresh_token
    return body


def organization_token_body(issued: IssuedToken) -> dict[str, Any]:
    """``token_body`` and the organization and roles the token speaks for: what identity's own
    login endpoints (password login, a browser session's token) answer."""
    return {
        **token_body(issued),
        "organization_id": str(issued.tenant_id),
        "roles": sorted(issued.roles),
    }


KEPT_KEYS = 2  # the current key and the previous one


class SigningKeyRing:
    """The unretired keys, newest first; creates the first one on an empty database."""

    def __init__(self, store: SigningKeyStore, *, publish_delay: float = 60.0) -> None:
        self._store = store
        self._publish_delay = timedelta(seconds=publish_delay)
        self.keys: list[RSAKey] = []
        self._created: list[datetime] = []

    async def load(self) -> None:
        active = await self._store.active()
        if not active:
            await self._add_key()
            active = await self._store.active()
        self.keys = [
            RSAKey.import_key(pem, parameters={"kid": kid, "alg": ALGORITHM, "use": "sig"})
            for kid, pem, _ in active
        ]
        self._created = [created for _, _, created in active]

    async def _add_key(self) -> str:
        key = RSAKey.generate_key(
            2048, parameters={"kid": new_id(), "alg": ALGORITHM, "use": "sig"}, private=True
        )
        await self._store.add(
            str(key.kid), ALGORITHM, key.as_pem(private=True).decode(), key.as_dict(private=False)
        )
        return str(key.kid)

    async def rotate(self) -> tuple[str, list[str]]:
        """Add a key, retire all but the newest two; return the new kid and the retired ones."""
        kid = await self._add_key()
        retired = await self._store.retire_all_but_newest(KEPT_KEYS)
        await self.load()
        return kid, retired

    def signing_key(self) -> RSAKey:
        """The newest key that every verifier has had time to see (or the only one)."""
        published_before = datetime.now(UTC) - self._publish_delay
        for key, created in zip(self.keys, self._created, strict=True):
            if created <= published_before:
                return key
        return self.keys[-1]

    def jwks(self) -> KeySetSerialization:
        published: list[Key] = list(self.keys)
        return KeySet(published).as_dict(private=False)


class JwtIssuer:
    """Implements the ``TokenIssuer`` port."""

    def __init__(self, ring: SigningKeyRing, *, issuer: str, audience: str, ttl: int) -> None:
        self._ring, self._issuer, self._audience, self._ttl = ring, issuer, audience, ttl

    def issue(self, grant: AccessGrant) -> IssuedToken:
        key = self._ring.signing_key()
        issued = time.time()
        now = int(issued)
        claims = {
            "iss": self._issuer,
            "sub": grant.subject,
            "aud": self._audience,
            "iat": millisecond_stamp(issued),  # compared with revocation stamps (ADR 0324)
            "nbf": now,
            "exp": now + self._ttl,
            "jti": new_id(),
            "tid": str(grant.tenant_id),
            "roles": sorted(grant.roles),
            "scope": grant.scope,
        }
        if grant.session_id is not None:
            claims["sid"] = grant.session_id
        token = jwt.encode(
            {"alg": ALGORITHM, "kid": key.kid, "typ": "at+jwt"}, claims, key, algorithms=[ALGORITHM]
        )
        return IssuedToken(token, self._ttl, grant.tenant_id, grant.roles, scope=grant.scope)
