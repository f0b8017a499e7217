"""The port of identity's signing-key ring: where the keys that sign access tokens live."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol


class SigningKeyStore(Protocol):
    """Identity's signing keys; every unretired key is published in the JWKS."""

    async def active(self) -> list[tuple[str, str, datetime]]:
        """(kid, private PEM, created at) of every unretired key, newest first."""
        ...

    async def retire_all_but_newest(self, keep: int) -> list[str]: ...

    async def add(
        self, kid: str, algorithm: str, private_pem: str, public_jwk: Mapping[str, object]
    ) -> None: ...
