"""Access tokens: RS256 JWTs from identity's newest signing key (see adapters.grpc.auth)."""

from __future__ import annotations

import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from bijmantra.adapters.postgres.identity import PostgresSigningKeys
from bijmantra.application.tenancy import IssuedToken
from bijmantra.kernel import TenantId, new_id

ALGORITHM = "RS256"


class SigningKeyRing:
    """Loads the unretired keys; creates the first one on an empty database."""

    def __init__(self, store: PostgresSigningKeys) -> None:
        self._store = store
        self.keys: list[RSAKey] = []

    async def load(self) -> None:
        active = await self._store.active()
        if not active:
            key = RSAKey.generate_key(2048, parameters={"kid": new_id(), "alg": ALGORITHM, "use": "sig"}, private=True)
            await self._store.add(str(key.kid), ALGORITHM, key.as_pem(private=True).decode(), key.as_dict(private=False))
            active = await self._store.active()
        self.keys = [
            RSAKey.import_key(pem, parameters={"kid": kid, "alg": ALGORITHM, "use": "sig"}) for kid, pem, _ in active
        ]

    def jwks(self) -> dict[str, Any]:
        return KeySet(self.keys).as_dict(private=False)  # type: ignore[arg-type]


class JwtIssuer:
    """Implements the ``TokenIssuer`` port."""

    def __init__(self, ring: SigningKeyRing, *, issuer: str, audience: str, ttl: int) -> None:
        self._ring, self._issuer, self._audience, self._ttl = ring, issuer, audience, ttl

    def issue(self, *, subject: str, tenant_id: TenantId, roles: frozenset[str], scope: str) -> IssuedToken:
        key = self._ring.keys[0]
        now = int(time.time())
        claims = {
            "iss": self._issuer, "sub": subject, "aud": self._audience, "iat": now, "nbf": now,
            "exp": now + self._ttl, "jti": new_id(), "tid": str(tenant_id), "roles": sorted(roles),
            "scope": scope,
        }  # fmt: skip
        token = jwt.encode({"alg": ALGORITHM, "kid": key.kid, "typ": "at+jwt"}, claims, key, algorithms=[ALGORITHM])
        return IssuedToken(token, self._ttl, tenant_id, roles, scope=scope)
