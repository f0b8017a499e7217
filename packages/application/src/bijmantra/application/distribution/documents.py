"""Rendered documents: the worker stores each PDF here; its SHA-256 goes into the audit
trail as a ``distribution.document_rendered`` event in the same transaction."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bijmantra.application.distribution.common import READ, WRITE, load, record_event
from bijmantra.application.distribution.inputs import choice, record_id
from bijmantra.application.ports import UnitOfWork, UnitOfWorkFactory
from bijmantra.application.ports.distribution import DocumentKind, Kind, StoredDocument
from bijmantra.application.security import authorize
from bijmantra.kernel import Clock, FieldError, NotFound, Principal, ValidationFailed

MAX_PDF_BYTES = 16 << 20
OWNER = {
    DocumentKind.AGREEMENT: Kind.AGREEMENT,
    DocumentKind.PACKING_LIST: Kind.DISPATCH,
    DocumentKind.INVOICE: Kind.INVOICE,
}
# The document a collection's ``/pdf`` serves.
DEFAULT_DOCUMENT = {
    Kind.AGREEMENT: DocumentKind.AGREEMENT,
    Kind.DISPATCH: DocumentKind.PACKING_LIST,
    Kind.INVOICE: DocumentKind.INVOICE,
}


def document_kind(value: str) -> DocumentKind:
    return choice(value, DocumentKind, "kind", "document kind")


async def _existing_owner(uow: UnitOfWork, document_type: DocumentKind, owner_id: str) -> str:
    """The id of the record a document of ``document_type`` belongs to; a missing one is 404."""
    kind = OWNER[document_type]
    owner = record_id(owner_id, kind.value)
    await load(uow, kind, owner, dict)
    return owner


@dataclass
class Documents:
    uow: UnitOfWorkFactory
    clock: Clock

    async def store(
        self, principal: Principal, kind: str, owner_id: str, content: bytes, source_sha256: str
    ) -> str:
        """Keep one rendering per source (the hash of the event data it was drawn from): a
        source kept already changes nothing and answers the kept PDF's hash, whatever bytes
        came, so a redelivery or a replayed dead letter that a later release renders
        differently never swaps the PDF a partner was sent nor records it twice (ADR 0372)."""
        authorize(principal, WRITE)
        document_type = document_kind(kind)
        if not content.startswith(b"%PDF-") or len(content) > MAX_PDF_BYTES:
            raise ValidationFailed(
                "Not a PDF", [FieldError("content", f"a PDF of at most {MAX_PDF_BYTES} bytes")]
            )
        sha256 = hashlib.sha256(content).hexdigest()
        async with self.uow(principal.tenant_id) as uow:
            owner = await _existing_owner(uow, document_type, owner_id)
            kept = await uow.distribution.document(document_type, owner)
            if kept is not None and kept.source_sha256 == source_sha256:
                return kept.sha256
            await uow.distribution.put_document(
                StoredDocument(document_type, owner, content, sha256, source_sha256)
            )
            record_event(
                uow,
                principal,
                "document_rendered",
                owner,
                {
                    "kind": document_type.value,
                    "owner_id": owner,
                    "sha256": sha256,
                    "source_sha256": source_sha256,
                    "bytes": len(content),
                },
                self.clock.now(),
            )
            await uow.commit()
        return sha256

    async def pdf(self, principal: Principal, record: str, kind: Kind | str) -> StoredDocument:
        """The PDF of a record (``kind``: a collection or a document kind)."""
        authorize(principal, READ)
        document_type = DEFAULT_DOCUMENT[kind] if isinstance(kind, Kind) else document_kind(kind)
        async with self.uow(principal.tenant_id) as uow:
            owner = await _existing_owner(uow, document_type, record)
            stored = await uow.distribution.document(document_type, owner)
        if stored is None:
            raise NotFound(f"The {document_type.value} PDF has not been rendered yet")
        return stored
