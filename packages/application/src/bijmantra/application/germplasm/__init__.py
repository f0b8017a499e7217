"""Germplasm use cases."""

from bijmantra.application.germplasm.commands import CreateGermplasm
from bijmantra.application.germplasm.dto import (
    GermplasmDocument,
    GermplasmNewRequest,
    decode_new_requests,
    document_for,
)
from bijmantra.application.germplasm.queries import GermplasmFilter, GetGermplasm, ListGermplasm

__all__ = [
    "CreateGermplasm",
    "GermplasmDocument",
    "GermplasmFilter",
    "GermplasmNewRequest",
    "GetGermplasm",
    "ListGermplasm",
    "decode_new_requests",
    "document_for",
]
