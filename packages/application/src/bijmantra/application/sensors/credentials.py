"""Claim codes and device credentials: opaque strings that name their tenant and device.

``bjc.<tenant>.<device>.<secret>`` / ``bjd.<tenant>.<device>.<secret>``: the tenant and
device parts let a device be found under row-level security without a cross-tenant lookup;
only ``sha256(secret)`` is stored (the secret has 256 bits, so a fast hash suffices).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from bijmantra.kernel import TenantId, Unauthorized

CLAIM_PREFIX = "bjc"
CREDENTIAL_PREFIX = "bjd"
MAX_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Secret:
    tenant_id: TenantId
    device_id: str
    secret: str

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.secret.encode()).hexdigest()

    def text(self, prefix: str) -> str:
        return f"{prefix}.{self.tenant_id}.{self.device_id}.{self.secret}"

    def matches(self, stored_hash: str | None) -> bool:
        return stored_hash is not None and hmac.compare_digest(self.hash, stored_hash)


def new_secret(tenant_id: TenantId, device_id: str) -> Secret:
    return Secret(tenant_id, device_id, secrets.token_urlsafe(32))


def parse_secret(text: str, prefix: str) -> Secret:
    """Split a presented code or credential; anything malformed is simply not valid (401)."""
    parts = text.strip().split(".")
    if len(text) > MAX_LENGTH or len(parts) != 4 or parts[0] != prefix or not parts[3]:
        raise Unauthorized("Malformed device credential or claim code")
    try:
        tenant = TenantId(uuid.UUID(parts[1]))
        uuid.UUID(parts[2])
    except ValueError:
        raise Unauthorized("Malformed device credential or claim code") from None
    return Secret(tenant, parts[2], parts[3])
