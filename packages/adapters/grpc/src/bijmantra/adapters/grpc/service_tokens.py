"""Service-to-service tokens: how analytics-worker replicas call domain-api for a tenant.

A worker acts for whichever tenant's job it took, so it cannot hold a user's token (it
would expire mid-job) nor an identity client per tenant. It signs a short-lived HS256 JWT
with a secret shared only with domain-api, naming the job's tenant; domain-api accepts
these tokens only on the worker-facing service, and user tokens (RS256 from identity)
never there, so neither kind can stand in for the other.
"""

from __future__ import annotations

import time
import uuid

from bijmantra.kernel import Principal, TenantId, Unauthorized
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry

ISSUER = "bijmantra-internal"
AUDIENCE = "domain-api"
ALGORITHMS = ["HS256"]
MIN_SECRET_BYTES = 32


def _key(secret: str) -> OctKey:
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"the internal token secret must be at least {MIN_SECRET_BYTES} bytes")
    return OctKey.import_key(secret.encode())


class ServiceTokenIssuer:
    """Signs tokens for one service; reuses a tenant's token until a minute before expiry."""

    def __init__(self, secret: str, *, subject: str, roles: list[str], ttl: int = 600) -> None:
        self._key = _key(secret)
        self._subject, self._roles, self._ttl = subject, roles, ttl
        self._cache: dict[TenantId, tuple[str, float]] = {}

    def __call__(self, tenant_id: TenantId) -> str:
        cached = self._cache.get(tenant_id)
        now = time.time()
        if cached is not None and cached[1] - 60 > now:
            return cached[0]
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": self._subject,
            "tid": str(tenant_id),
            "roles": self._roles,
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now) + self._ttl,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode({"alg": "HS256"}, claims, self._key)
        self._cache[tenant_id] = (token, now + self._ttl)
        return token


class ServiceTokenVerifier:
    """Implements the ``TokenVerifier`` port for service tokens."""

    def __init__(self, secret: str, *, leeway: int = 30) -> None:
        self._key = _key(secret)
        self._claims = JWTClaimsRegistry(
            leeway=leeway,
            iss={"essential": True, "value": ISSUER},
            aud={"essential": True, "value": AUDIENCE},
            exp={"essential": True},
            sub={"essential": True},
            tid={"essential": True},
        )

    async def verify(self, token: str) -> Principal:
        try:
            decoded = jwt.decode(token, self._key, algorithms=ALGORITHMS)
            self._claims.validate(decoded.claims)
            claims = decoded.claims
            roles = claims.get("roles") or []
            if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
                raise Unauthorized("Invalid service token: roles")
            return Principal(
                subject=str(claims["sub"]),
                tenant_id=TenantId(uuid.UUID(str(claims["tid"]))),
                roles=frozenset(roles),
                token_id=str(claims.get("jti", "")),
            )
        except Unauthorized:
            raise
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise Unauthorized("Invalid service token") from exc
