"""In-memory fakes of the application ports, for fast unit tests of use cases.

They honour the same contracts as the real adapters (tenant scoping, all-or-nothing
commit, outbox-on-commit, claim/mark semantics), so a use case tested here behaves the
same against PostgreSQL and NATS.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import msgspec

from bijmantra.application.events import EventEnvelope, envelope_for
from bijmantra.application.germplasm import GermplasmFilter, document_for
from bijmantra.domain.germplasm import Germplasm
from bijmantra.kernel import Page, PageRequest, TenantId

_FILTER_ATTRIBUTES = {
    "germplasm_db_ids": "germplasm_db_id",
    "germplasm_names": "germplasm_name",
    "germplasm_puis": "germplasm_pui",
    "common_crop_names": "common_crop_name",
    "accession_numbers": "accession_number",
    "collections": "collection",
    "genus": "genus",
    "species": "species",
}


@dataclass
class InMemoryDatabase:
    germplasm: dict[tuple[TenantId, str], Germplasm] = field(default_factory=dict)
    outbox: list[EventEnvelope] = field(default_factory=list)
    published: set[str] = field(default_factory=set)


class FakeGermplasmRepository:
    def __init__(self, db: InMemoryDatabase, tenant: TenantId) -> None:
        self._db, self._tenant = db, tenant
        self.pending: list[Germplasm] = []

    def add(self, germplasm: Germplasm) -> None:
        self.pending.append(germplasm)

    async def existing_ids(self, germplasm_db_ids: Sequence[str]) -> set[str]:
        return {i for i in germplasm_db_ids if (self._tenant, i) in self._db.germplasm}


class FakeGermplasmReadModel:
    def __init__(self, db: InMemoryDatabase, tenant: TenantId) -> None:
        self._db, self._tenant = db, tenant

    def _visible(self) -> list[Germplasm]:
        return [g for (t, _), g in sorted(self._db.germplasm.items(), key=lambda kv: kv[0][1]) if t == self._tenant]

    async def get_document(self, germplasm_db_id: str) -> bytes | None:
        found = self._db.germplasm.get((self._tenant, germplasm_db_id))
        return None if found is None else msgspec.json.encode(document_for(found))

    async def list_documents(self, criteria: GermplasmFilter, page: PageRequest) -> Page[bytes]:
        def matches(g: Germplasm) -> bool:
            for name, attribute in _FILTER_ATTRIBUTES.items():
                wanted = getattr(criteria, name)
                if wanted and getattr(g, attribute) not in wanted:
                    return False
            if criteria.synonyms and not {s.synonym for s in g.synonyms} & set(criteria.synonyms):
                return False
            refs = g.external_references
            if criteria.external_reference_ids and not {r.reference_id for r in refs} & set(criteria.external_reference_ids):
                return False
            sources = {r.reference_source for r in refs}
            return not (criteria.external_reference_sources and not sources & set(criteria.external_reference_sources))

        hits = [g for g in self._visible() if matches(g)]
        window = hits[page.offset : page.offset + page.page_size]
        return Page([msgspec.json.encode(document_for(g)) for g in window], page, len(hits))


class FakeUnitOfWork:
    def __init__(self, db: InMemoryDatabase, tenant: TenantId) -> None:
        self._db, self.tenant_id = db, tenant
        self.germplasm = FakeGermplasmRepository(db, tenant)
        self.germplasm_views = FakeGermplasmReadModel(db, tenant)
        self.committed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.germplasm.pending.clear()  # uncommitted work is discarded, like a rollback

    async def commit(self) -> None:
        for germplasm in self.germplasm.pending:
            assert germplasm.tenant_id == self.tenant_id, "row-level security would reject this"
            self._db.germplasm[(self.tenant_id, germplasm.germplasm_db_id)] = germplasm
            self._db.outbox.extend(envelope_for(e, source="fake") for e in germplasm.pull_events())
        self.germplasm.pending.clear()
        self.committed = True


def fake_unit_of_work_factory(db: InMemoryDatabase):  # type: ignore[no-untyped-def]
    return lambda tenant: FakeUnitOfWork(db, tenant)


@dataclass
class _Batch:
    db: InMemoryDatabase
    envelopes: list[EventEnvelope]

    async def mark_published(self, event_ids: Sequence[str]) -> None:
        self.db.published.update(event_ids)


class FakeOutboxStore:
    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db
        self._claimed: set[str] = set()

    @contextlib.asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[_Batch]:
        batch = [e for e in self._db.outbox if e.id not in self._db.published and e.id not in self._claimed][:limit]
        self._claimed.update(e.id for e in batch)
        try:
            yield _Batch(self._db, batch)
        finally:
            self._claimed.difference_update(e.id for e in batch)


class FakePublisher:
    """Records publications; ``fail_ids`` simulates events whose ack never came."""

    def __init__(self) -> None:
        self.published: list[EventEnvelope] = []
        self.fail_ids: set[str] = set()

    async def publish_batch(self, envelopes: Sequence[EventEnvelope]) -> list[str]:
        acked = [e for e in envelopes if e.id not in self.fail_ids]
        self.published.extend(acked)
        return [e.id for e in acked]
