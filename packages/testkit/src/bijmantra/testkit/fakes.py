"""In-memory fakes of the application ports, for fast unit tests of use cases.

They honour the same contracts as the real adapters (tenant scoping, all-or-nothing
commit, outbox-on-commit, claim/mark semantics), so a use case tested here behaves the
same against PostgreSQL and NATS.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from bijmantra.application.email import OutgoingEmail
from bijmantra.application.events import EventEnvelope, OutboxRecord, envelope_for
from bijmantra.application.ports.documents import (
    Contains,
    Criteria,
    Criterion,
    DocumentPage,
    Range,
)
from bijmantra.application.revocation import RevocationState, TokenFacts
from bijmantra.domain.analysis import AnalysisJob
from bijmantra.kernel import PageRequest, TenantId
from bijmantra.testkit.analysis_fakes import FakeAnalysisRepository, Results
from bijmantra.testkit.distribution import DistributionTables, FakeDistributionStore
from bijmantra.testkit.genotype_fakes import FakeGenotypeStore, _StoredSet
from bijmantra.testkit.operations import FakeOperationsRepository, OperationsState
from bijmantra.testkit.storage_fakes import FakeStorageReader, StorageCapTables
from bijmantra.testkit.transaction import FakeTransaction
from bijmantra.testkit.usage_fakes import FakeUsageReader, UsageTables

_encode = msgspec.json.encode
Documents = dict[tuple[TenantId, str, str], bytes]


def contains(document: Any, fragment: Any) -> bool:
    """PostgreSQL ``jsonb @>`` semantics for the fragments the engine builds."""
    if isinstance(fragment, dict):
        return isinstance(document, dict) and all(
            k in document and contains(document[k], v) for k, v in fragment.items()
        )
    if isinstance(fragment, list):
        return isinstance(document, list) and all(
            any(contains(d, f) for d in document) for f in fragment
        )
    return bool(document == fragment)


def _matches(document: dict[str, Any], criteria: Criteria) -> bool:
    return all(_meets(document, criterion) for criterion in criteria)


def _meets(document: dict[str, Any], criterion: Criterion) -> bool:
    if isinstance(criterion, Contains):
        return criterion.holds([v for name in criterion.names for v in _at_path(document, name)])
    if isinstance(criterion, Range):
        value: Any = document
        for step in criterion.path:
            value = value.get(step) if isinstance(value, dict) else None
        return criterion.holds(value)
    return any(contains(document, f) for f in criterion)


def _page(bodies: list[bytes], total: int, page: PageRequest) -> DocumentPage:
    return DocumentPage(b"[" + b",".join(bodies) + b"]", len(bodies), total, page)


@dataclass
class InMemoryDatabase:
    documents: Documents = field(default_factory=dict)
    variant_sets: dict[tuple[TenantId, str], _StoredSet] = field(default_factory=dict)
    analyses: dict[tuple[TenantId, str], AnalysisJob] = field(default_factory=dict)
    results: Results = field(default_factory=dict)
    outbox: list[EventEnvelope] = field(default_factory=list)
    published: set[str] = field(default_factory=set)
    distribution: DistributionTables = field(default_factory=DistributionTables)
    operations: dict[TenantId, OperationsState] = field(default_factory=dict)
    contents: dict[tuple[TenantId, str, str], tuple[str, bytes]] = field(default_factory=dict)
    usage: UsageTables = field(default_factory=UsageTables)
    storage: StorageCapTables = field(default_factory=StorageCapTables)


def _at_path(value: Any, path: Sequence[str]) -> list[Any]:
    """The values at a dotted path whose ``*`` steps enter arrays (jsonpath's ``[*]``)."""
    if not path:
        return [value]
    step, rest = path[0], path[1:]
    if step == "*":
        return (
            [v for item in value for v in _at_path(item, rest)] if isinstance(value, list) else []
        )
    return _at_path(value[step], rest) if isinstance(value, dict) and step in value else []


def _as_text(value: Any) -> str | None:
    """A top-level field as PostgreSQL's ``document->>field`` gives it (what ``stream`` sorts)."""
    if value is None or isinstance(value, str):
        return value
    return _encode(value).decode()


class FakeResourceStore:
    """Writes go to a staging copy that ``commit`` publishes, like a transaction."""

    def __init__(
        self,
        documents: Documents,
        tenant: TenantId,
        contents: dict[tuple[TenantId, str, str], tuple[str, bytes]] | None = None,
    ) -> None:
        self.staged = dict(documents)
        self.staged_contents = dict(contents or {})
        self._tenant = tenant

    def _visible(self, entity: str) -> list[tuple[str, bytes]]:
        return sorted(
            (i, b) for (t, e, i), b in self.staged.items() if t == self._tenant and e == entity
        )

    async def documents(
        self, entity: str, db_ids: Sequence[str], *, for_update: bool = False
    ) -> dict[str, dict[str, Any]]:
        found = {i: self.staged.get((self._tenant, entity, i)) for i in db_ids}
        return {i: msgspec.json.decode(b) for i, b in found.items() if b is not None}

    async def document_bytes(self, entity: str, db_id: str) -> bytes | None:
        return self.staged.get((self._tenant, entity, db_id))

    async def take_turn(self, entity: str) -> None:
        """Nothing to wait for: a fake unit of work never interleaves with another's writes."""

    def _hits(self, entity: str, criteria: Criteria) -> list[tuple[str, bytes]]:
        return [
            (i, b) for i, b in self._visible(entity) if _matches(msgspec.json.decode(b), criteria)
        ]

    async def page(self, entity: str, criteria: Criteria, page: PageRequest) -> DocumentPage:
        hits = self._hits(entity, criteria)
        found = _page(
            [b for _, b in hits[page.offset : page.offset + page.page_size]], len(hits), page
        )
        return dataclasses.replace(found, version=await self.version(entity))

    async def version(self, entity: str) -> int:
        """Changes whenever the entity's documents do (a digest of them, never 0)."""
        return hash(tuple(self._visible(entity))) & 0x7FFF_FFFF_FFFF_FFFF or 1

    async def versions(self, entities: Sequence[str]) -> dict[str, int]:
        return {entity: await self.version(entity) for entity in entities}

    async def page_of_ids(
        self, entity: str, db_ids: Sequence[str], page: PageRequest
    ) -> DocumentPage:
        window = db_ids[page.offset : page.offset + page.page_size]
        bodies = [
            b for i in window if (b := self.staged.get((self._tenant, entity, i))) is not None
        ]
        return _page(bodies, len(db_ids), page)

    async def distinct_values(self, entity: str, criteria: Criteria, field: str) -> list[Any]:
        found = [msgspec.json.decode(b).get(field) for _, b in self._hits(entity, criteria)]
        distinct = {msgspec.json.encode(v): v for v in found if v is not None}
        return list(distinct.values())

    async def matching(self, entity: str, criteria: Criteria, limit: int) -> list[dict[str, Any]]:
        return [msgspec.json.decode(b) for _, b in self._hits(entity, criteria)[:limit]]

    async def matching_ids(self, entity: str, criteria: Criteria, limit: int) -> list[str]:
        return [i for i, _ in self._hits(entity, criteria)[:limit]]

    async def matching_each(
        self, entity: str, criteria: Sequence[Criteria], limit: int
    ) -> list[list[dict[str, Any]]]:
        return [await self.matching(entity, each, limit) for each in criteria]

    async def lineage(
        self, entity: str, root: str, link: Sequence[str], generations: int
    ) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        frontier = [root]
        for _ in range(generations):
            read = await self.documents(entity, [i for i in frontier if i not in found])
            found |= read
            frontier = [i for d in read.values() for i in _at_path(d, link) if isinstance(i, str)]
        return found

    async def reachable(
        self, entity: str, roots: Sequence[str], link: Sequence[str]
    ) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        frontier = list(roots)
        while frontier:
            read = await self.documents(entity, [i for i in set(frontier) if i not in found])
            found |= {
                k: [i for i in _at_path(d, link) if isinstance(i, str)] for k, d in read.items()
            }
            frontier = [i for k in read for i in found[k]]
        return found

    async def linking(
        self, entity: str, link: Sequence[str], db_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        ids = await self.linking_ids(entity, link, db_ids)
        return list((await self.documents(entity, ids)).values())

    async def linking_ids(
        self, entity: str, link: Sequence[str], db_ids: Sequence[str]
    ) -> list[str]:
        wanted, visible = set(db_ids), self._visible(entity)
        return [i for i, b in visible if wanted & set(_at_path(msgspec.json.decode(b), link))]

    async def insert(self, entity: str, documents: Sequence[tuple[str, dict[str, Any]]]) -> None:
        for db_id, document in documents:
            key = (self._tenant, entity, db_id)
            assert key not in self.staged, "primary key violation"
            self.staged[key] = _encode(document)

    async def update(self, entity: str, documents: Sequence[tuple[str, dict[str, Any]]]) -> None:
        for db_id, document in documents:
            self.staged[(self._tenant, entity, db_id)] = _encode(document)

    async def soft_delete(self, entity: str, db_ids: Sequence[str]) -> None:
        for db_id in db_ids:
            self.staged.pop((self._tenant, entity, db_id), None)

    async def stream(
        self, entity: str, criteria: Criteria, order: Sequence[str], chunk_size: int
    ) -> AsyncIterator[list[dict[str, Any]]]:
        found = [msgspec.json.decode(b) for _, b in self._hits(entity, criteria)]
        keys = [[_as_text(d.get(name)) for name in order] for d in found]
        ordered = [
            d
            for _, d in sorted(
                zip(keys, found, strict=True),
                key=lambda kd: [(v is None, v or "") for v in kd[0]],
            )
        ]
        for start in range(0, len(ordered), chunk_size):
            yield ordered[start : start + chunk_size]

    async def put_content(self, entity: str, db_id: str, media_type: str, content: bytes) -> None:
        self.staged_contents[(self._tenant, entity, db_id)] = (media_type, content)

    async def content(self, entity: str, db_id: str) -> tuple[str, bytes] | None:
        if (self._tenant, entity, db_id) not in self.staged:  # a deleted document's is gone
            return None
        return self.staged_contents.get((self._tenant, entity, db_id))

    async def distinct(self, sources: Sequence[tuple[str, str]], page: PageRequest) -> DocumentPage:
        values = sorted(
            {
                v
                for entity, name in sources
                for _, b in self._visible(entity)
                if isinstance(v := msgspec.json.decode(b).get(name), str)
            }
        )
        return _page(
            [_encode(v) for v in values[page.offset : page.offset + page.page_size]],
            len(values),
            page,
        )


class FakeSearchResultStore:
    def __init__(self) -> None:
        self.saved: dict[tuple[TenantId, str, str], list[str]] = {}

    async def save(self, tenant_id: TenantId, entity: str, db_ids: Sequence[str]) -> str:
        search_id = str(len(self.saved) + 1)
        self.saved[(tenant_id, entity, search_id)] = list(db_ids)
        return search_id

    async def load(self, tenant_id: TenantId, entity: str, search_id: str) -> list[str] | None:
        return self.saved.get((tenant_id, entity, search_id))


class FakeUnitOfWork(FakeTransaction[InMemoryDatabase]):
    checks_tenant = True
    resources: FakeResourceStore
    genotypes: FakeGenotypeStore
    analyses: FakeAnalysisRepository
    distribution: FakeDistributionStore
    operations: FakeOperationsRepository
    usage: FakeUsageReader
    storage: FakeStorageReader

    def __init__(self, db: InMemoryDatabase, tenant: TenantId) -> None:
        super().__init__(db, tenant)
        self.committed = False

    def _open(self) -> None:
        self.resources = FakeResourceStore(
            self._tables.documents, self.tenant_id, self._tables.contents
        )
        self.genotypes = FakeGenotypeStore(self._tables.variant_sets, self.tenant_id)
        self.analyses = FakeAnalysisRepository(
            self._tables.analyses, self._tables.results, self.tenant_id
        )
        self.distribution = FakeDistributionStore(self._tables.distribution, self.tenant_id)
        self.operations = FakeOperationsRepository(self._tables.operations, self.tenant_id)
        self.usage = FakeUsageReader(self._tables.usage, self.tenant_id)
        tables = self._tables
        self.storage = FakeStorageReader(
            tables.storage, self.tenant_id, tables.variant_sets, tables.contents, tables.results
        )

    async def commit(self) -> None:
        for event in [*await self.genotypes.flush(), *await self.analyses.flush()]:
            self.record(event)
        self._tables.documents.clear()
        self._tables.documents.update(self.resources.staged)
        self._tables.contents.update(self.resources.staged_contents)
        self._tables.variant_sets.update(self.genotypes.staged)
        self._tables.analyses.update(self.analyses.staged)
        self._tables.results.update(self.analyses.results)
        for key in self.genotypes.deleted:
            self._tables.variant_sets.pop(key, None)
        for key in self.analyses.deleted:
            self._tables.analyses.pop(key, None)
            self._tables.results.pop(key, None)
        self.distribution.publish()
        self.operations.commit()
        self._tables.outbox.extend(envelope_for(e, source="fake") for e in self._take_events())
        self.committed = True


def fake_unit_of_work_factory(db: InMemoryDatabase) -> Callable[[TenantId], FakeUnitOfWork]:
    return lambda tenant: FakeUnitOfWork(db, tenant)


@dataclass
class FakeOutboxBatch:
    db: InMemoryDatabase
    records: list[OutboxRecord]
    more: bool = False

    async def mark_published(self, event_ids: Sequence[str]) -> None:
        self.db.published.update(event_ids)


class FakeOutboxStore:
    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db
        self._claimed: set[str] = set()

    @contextlib.asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[FakeOutboxBatch]:
        pending = [
            e
            for e in self._db.outbox
            if e.id not in self._db.published and e.id not in self._claimed
        ]
        batch = pending[:limit]
        self._claimed.update(e.id for e in batch)
        try:
            yield FakeOutboxBatch(
                self._db, [OutboxRecord.of(e) for e in batch], more=len(pending) > limit
            )
        finally:
            self._claimed.difference_update(e.id for e in batch)


class FakePublisher:
    """Records publications; ``fail_ids`` simulates events whose ack never came."""

    def __init__(self) -> None:
        self.published: list[OutboxRecord] = []
        self.fail_ids: set[str] = set()

    async def publish_batch(self, records: Sequence[OutboxRecord]) -> list[str]:
        acked = [r for r in records if r.id not in self.fail_ids]
        self.published.extend(acked)
        return [e.id for e in acked]


class RecordingEmailSender:
    """The ``EmailSender`` port in memory: keeps every message; ``fail_next`` makes the next
    sends raise, as an SMTP server that refuses would."""

    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []
        self.fail_next = 0

    async def send(self, email: OutgoingEmail) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("SMTP server refused the message (fake)")
        self.sent.append(email)

    def to(self, address: str) -> list[OutgoingEmail]:
        return [m for m in self.sent if m.to.lower() == address.lower()]


class FakeRevocationList:
    """The ``RevocationList`` port in memory (no expiry: a fake lives for one test)."""

    def __init__(self) -> None:
        self.tokens: set[str] = set()
        self.sessions: set[str] = set()
        self.members: dict[tuple[str, str], float] = {}
        self.organizations: dict[str, float] = {}

    async def revoke_token(self, token_id: str, ttl: int) -> None:
        self.tokens.add(token_id)

    async def revoke_session(self, session_id: str, ttl: int) -> None:
        self.sessions.add(session_id)

    async def revoke_member(
        self, tenant_id: TenantId, subject: str, through: float, ttl: int
    ) -> None:
        self.members[(str(tenant_id), subject)] = through

    async def revoke_organization(self, tenant_id: TenantId, through: float, ttl: int) -> None:
        self.organizations[str(tenant_id)] = through

    async def begin(self) -> float:
        return 0.0  # a fake's list is complete since ever

    async def state(self, facts: TokenFacts) -> RevocationState:
        return RevocationState(
            facts.token_id in self.tokens,
            facts.session_id in self.sessions,
            self.members.get((str(facts.tenant_id), facts.subject)),
            self.organizations.get(str(facts.tenant_id)),
        )
