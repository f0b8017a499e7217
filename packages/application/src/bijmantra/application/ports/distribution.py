"""Ports of the distribution context: its aggregates, the invoice counter, rendered documents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from bijmantra.kernel import Page, PageRequest


class Kind(StrEnum):
    """The aggregates the store keeps; each is stored and read whole, as one JSON document."""

    PARTNER = "partner"
    SEED_REQUEST = "seed_request"
    AGREEMENT = "agreement"
    DISPATCH = "dispatch"
    INVOICE = "invoice"


class DocumentKind(StrEnum):
    """The PDFs the worker renders."""

    AGREEMENT = "agreement"
    PACKING_LIST = "packing_list"
    INVOICE = "invoice"


@dataclass(frozen=True)
class StoredDocument:
    kind: DocumentKind
    owner_id: str
    content: bytes
    sha256: str
    source_sha256: str  # of the aggregate version it was rendered from


class DistributionStore(Protocol):
    """The unit of work's organization's distribution records (row-level security)."""

    async def get(
        self, kind: Kind, record_id: str, *, for_update: bool = False
    ) -> dict[str, Any] | None: ...

    async def put(self, kind: Kind, record_id: str, document: dict[str, Any], *, new: bool) -> None:
        """Insert (``new``) or replace a record; an invoice number is unique per organization."""
        ...

    async def page(
        self, kind: Kind, page: PageRequest, match: Mapping[str, Any]
    ) -> Page[dict[str, Any]]:
        """Records containing the ``match`` fragment (``jsonb @>``), newest first."""
        ...

    async def matching(
        self, kind: Kind, match: Mapping[str, Any], limit: int
    ) -> list[dict[str, Any]]: ...

    async def get_many(self, kind: Kind, record_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The records of these ids that are here, in any order, in one read."""
        ...

    async def take_invoice_numbers(self, year: int, count: int) -> list[int]:
        """The organization's next ``count`` numbers in ``year`` (1, 2, 3 … with no gap).

        The counter stays locked until the transaction ends: a rollback gives the numbers
        back, so concurrent issuers queue and no number is skipped or reused."""
        ...

    async def partner_mails_queued(self, day: str) -> int:
        """How many of the organization's records queued their partner's mail on ``day``
        (ISO date, UTC; queued, sent or failed since: ``COUNTED``), after waiting for the
        organization's other writes that mail (a lock held until the transaction ends): the
        day's cap holds under concurrency."""
        ...

    async def put_document(self, document: StoredDocument) -> None:
        """Keep a rendered document, replacing an earlier rendering of the same owner."""
        ...

    async def document(self, kind: DocumentKind, owner_id: str) -> StoredDocument | None: ...
