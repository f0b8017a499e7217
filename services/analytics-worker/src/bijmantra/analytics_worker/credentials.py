"""Per-tenant access tokens for the worker, from identity's client_credentials grant.

A worker acts for whichever organization's job it took. It is a platform service client of
identity: it names the organization on each token request and gets identity's ordinary
RS256 token (roles ``analysis-worker``) that domain-api verifies against identity's JWKS.
Tokens are cached per tenant and fetched again a minute before they expire.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from bijmantra.kernel import TenantId, Unauthorized

REFRESH_MARGIN = 60.0
REQUEST_TIMEOUT = 10.0


class IdentityClientCredentials:
    """``token_for(tenant)`` for ``AnalysisWorkerClient``; one in-flight request per tenant."""

    def __init__(
        self, http: httpx.AsyncClient, identity_url: str, client_id: str, client_secret: str
    ) -> None:
        self._http = http
        self._token_url = identity_url.rstrip("/") + "/oauth/token"
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self._cache: dict[TenantId, tuple[str, float]] = {}
        self._locks: dict[TenantId, asyncio.Lock] = {}

    async def __call__(self, tenant_id: TenantId) -> str:
        async with self._locks.setdefault(tenant_id, asyncio.Lock()):
            cached = self._cache.get(tenant_id)
            if cached is not None and cached[1] - REFRESH_MARGIN > time.monotonic():
                return cached[0]
            token, expires_in = await self._fetch(tenant_id)
            self._cache[tenant_id] = (token, time.monotonic() + expires_in)
            return token

    def forget(self, tenant_id: TenantId, token: str) -> None:
        """A service refused ``token`` (revoked, or issued before the revocation list's Redis
        last started, ADR 0336): the next call fetches a new one."""
        cached = self._cache.get(tenant_id)
        if cached is not None and cached[0] == token:
            del self._cache[tenant_id]

    async def _fetch(self, tenant_id: TenantId) -> tuple[str, float]:
        response = await self._http.post(
            self._token_url,
            data={"grant_type": "client_credentials", "organization_id": str(tenant_id)},
            auth=self._auth,
            timeout=REQUEST_TIMEOUT,
        )
        if response.status_code != 200:
            # 4xx: misconfigured credentials or an unknown organization; the job fails visibly.
            raise Unauthorized(
                f"identity refused the worker's token request ({response.status_code})"
            )
        body = response.json()
        return str(body["access_token"]), float(body["expires_in"])
