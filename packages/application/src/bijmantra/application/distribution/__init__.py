"""Use cases of the distribution context (ADR 0095): partners, seed requests, agreements,
dispatches that debit seed lots through the germplasm context, invoices, documents, mail."""

from bijmantra.application.distribution.agreements import Agreements
from bijmantra.application.distribution.dispatches import Dispatches
from bijmantra.application.distribution.invoices import Invoices
from bijmantra.application.distribution.partners import Partners
from bijmantra.application.distribution.requests import SeedRequests
from bijmantra.application.distribution.seedlots import GermplasmSeedLots
from bijmantra.application.ports.distribution import (
    DistributionStore,
    DocumentKind,
    Kind,
    StoredDocument,
)

__all__ = [
    "Agreements",
    "Dispatches",
    "DistributionStore",
    "DocumentKind",
    "GermplasmSeedLots",
    "Invoices",
    "Kind",
    "Partners",
    "SeedRequests",
    "StoredDocument",
]
