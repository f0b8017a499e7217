"""Access-token revocation (issue 17, defect 7): a signed token is valid until it expires, so
removing a member, revoking a token or logging out must be told to every verifier.

Identity writes to the list; every verifier (gateway, domain-api, identity) consults it. What a
token is revoked by: its own id (``/oauth/revoke``), the browser session it was minted for
(logout), a "not after" stamp on its holder's membership (removal, role change), which ends
every token of that member in that organization issued up to then, or a "not after" stamp on
the organization itself (erasure, ADR 0331), which ends every token naming it: members',
its own machine clients' and platform service clients'.

Issue times and member stamps are kept to the millisecond (ADR 0324): to the second, a token
minted just after a role change, in the same second, counted as issued before it and was
refused, so a member signing in right after being promoted got "Access token revoked".

The list lives in Redis, which may lose everything (a restart without persistence, a flush, an
eviction). A list that lost its entries would let a revoked token through again, so the list
also says since when it is complete, and a token issued before then is refused (ADR 0336); a
list found without that start begins then (ADR 0339). After a loss, every holder refreshes
once (refresh tokens and their families are in PostgreSQL).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from bijmantra.kernel import TenantId


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """The claims revocation looks at (``jti``, ``sid``, ``tid``, ``sub``, ``iat``)."""

    token_id: str
    tenant_id: TenantId
    subject: str
    issued_at: float  # unix seconds, to the millisecond (``iat`` may be fractional)
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class RevocationState:
    token_listed: bool
    session_listed: bool
    member_revoked_through: float | None  # unix seconds: tokens issued then or earlier are dead
    organization_revoked_through: float | None = None  # the same, for every subject
    complete_since: float | None = None  # unix seconds: the list knows nothing from before


def millisecond_stamp(unix_seconds: float) -> float:
    """A token's ``iat`` and a member's stamp: the same precision on both sides, so a token
    minted after the stamp (even within the same second) is never taken for one before it."""
    return math.floor(unix_seconds * 1000) / 1000


def is_revoked(facts: TokenFacts, state: RevocationState) -> bool:
    stamps = (state.member_revoked_through, state.organization_revoked_through)
    return (
        state.token_listed
        or (facts.session_id is not None and state.session_listed)
        or any(stamp is not None and facts.issued_at <= stamp for stamp in stamps)
        or (state.complete_since is not None and facts.issued_at < state.complete_since)
    )


class RevocationList(Protocol):
    async def revoke_token(self, token_id: str, ttl: int) -> None:
        """List one token for ``ttl`` seconds (at least what is left of its lifetime)."""
        ...

    async def revoke_session(self, session_id: str, ttl: int) -> None: ...

    async def revoke_member(
        self, tenant_id: TenantId, subject: str, through: float, ttl: int
    ) -> None:
        """End every token of ``subject`` in ``tenant_id`` issued at or before ``through``."""
        ...

    async def revoke_organization(self, tenant_id: TenantId, through: float, ttl: int) -> None:
        """End every token naming ``tenant_id`` issued at or before ``through`` (erasure)."""
        ...

    async def begin(self) -> float:
        """The list's start (unix seconds), written as now where it has none: identity begins
        the list before it issues tokens, so its first tokens are not taken for older ones."""
        ...

    async def state(self, facts: TokenFacts) -> RevocationState:
        """What the list says about this token (one round trip), and since when it knows."""
        ...
