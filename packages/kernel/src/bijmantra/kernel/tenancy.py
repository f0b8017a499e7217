"""Who is acting, and for which organization (tenant)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import NewType

TenantId = NewType("TenantId", uuid.UUID)


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller: derived from a signed token, never from a bare header."""

    subject: str
    tenant_id: TenantId
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    token_id: str | None = None
