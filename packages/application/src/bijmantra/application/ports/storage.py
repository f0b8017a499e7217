"""What an organization stores now of what it keeps until deleted, and its cap (ADR 0343),
read inside its unit of work from the stored rows themselves, so that an organization at its
cap is refused before an import's body is read, an upload's content is received or an
analysis is queued."""

from __future__ import annotations

from typing import Protocol

from bijmantra.domain.tenancy.storage import Standing, StoredResource


class StorageReader(Protocol):
    async def standing(self, resource: StoredResource) -> Standing | None:
        """What the organization stores of ``resource`` and its cap (its own, else the
        deployment's); ``None``, reading nothing, when the deployment does not cap it."""
        ...
