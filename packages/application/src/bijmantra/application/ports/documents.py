"""Ports of the BrAPI engine: a document store per organization and a search-result store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bijmantra.kernel import PageRequest, Principal, TenantId


@dataclass(frozen=True, slots=True)
class Range:
    """A numeric bound on one document field (ends inclusive, None open): a document
    matches when the value at ``path`` is a number within it."""

    path: tuple[str, ...]
    low: float | None = None
    high: float | None = None

    def holds(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


@dataclass(frozen=True, slots=True)
class Contains:
    """The console's search box (ADR 0385): a document matches when one of the strings at
    ``names`` holds ``term`` as a substring, ignoring case. ``term`` is literal text: a ``%``
    or ``_`` in it means that character, never a wildcard."""

    term: str
    names: tuple[tuple[str, ...], ...]

    def holds(self, names: Sequence[Any]) -> bool:
        wanted = self.term.lower()
        return any(isinstance(name, str) and wanted in name.lower() for name in names)


# A query: every criterion must match (AND); a document matches a tuple criterion when it
# contains any of its JSON fragments (OR), in the sense of PostgreSQL's ``jsonb @>``, a
# ``Range`` when the number at its path lies within it, and ``Contains`` when a name holds it.
Criterion = tuple[dict[str, Any], ...] | Range | Contains
Criteria = tuple[Criterion, ...]


@dataclass(frozen=True, slots=True)
class CodedMatrix:
    """A document's one large matrix of strings, as one byte per cell (row-major) naming
    one of ``tokens`` (each a JSON string): the document is the page's ``documents``, then
    ``[[tokens[code], ...], ...]``, then ``tail``. An allele-matrix page travels as a sixth
    of its JSON and the gateway writes the text once, into the response (ADR 0295)."""

    codes: bytes
    rows: int
    columns: int
    tokens: list[bytes]
    tail: bytes = b""

    def text(self) -> bytes:
        """The matrix as JSON, in Python: for in-process readers (the gateway uses C)."""
        width = self.columns
        rows = (
            b"[" + b",".join([self.tokens[c] for c in self.codes[r * width : (r + 1) * width]])
            for r in range(self.rows)
        )
        return b"[" + b"],".join(rows) + (b"]]" if self.rows else b"]")


@dataclass(frozen=True, slots=True)
class DocumentPage:
    """One page of documents, already encoded: ``documents`` is a JSON array (or, with
    ``coded``, the text before its matrix: :meth:`json` is the whole)."""

    documents: bytes
    count: int
    total_count: int
    request: PageRequest
    # The entity's data version the page was read at (0: not versioned); the same version
    # later means the same page, so a gateway may answer it again (ADR 0040).
    version: int = 0
    coded: CodedMatrix | None = None

    def json(self) -> bytes:
        if self.coded is None:
            return self.documents
        return self.documents + self.coded.text() + self.coded.tail

    @property
    def total_pages(self) -> int:
        size = self.request.page_size
        return (self.total_count + size - 1) // size


class ResourceStore(Protocol):
    """BrAPI documents of the unit of work's organization, by entity and DbId."""

    async def documents(
        self, entity: str, db_ids: Sequence[str], *, for_update: bool = False
    ) -> dict[str, dict[str, Any]]: ...

    async def document_bytes(self, entity: str, db_id: str) -> bytes | None: ...

    async def take_turn(self, entity: str) -> None:
        """Wait until no other transaction of this organization holds its turn to write
        ``entity``, then hold it until this transaction ends: a write that reads before it
        writes (is this DbId free? does this edge close a cycle?) then sees every earlier
        one whole. Other organizations and other entities never wait."""
        ...

    async def page(self, entity: str, criteria: Criteria, page: PageRequest) -> DocumentPage:
        """A page and, read in the same statement, the entity's data version."""
        ...

    async def version(self, entity: str) -> int:
        """The entity's data version: it changes with every committed write to the entity."""
        ...

    async def versions(self, entities: Sequence[str]) -> dict[str, int]:
        """``version`` of several entities in one statement (0: never written)."""
        ...

    async def page_of_ids(
        self, entity: str, db_ids: Sequence[str], page: PageRequest
    ) -> DocumentPage:
        """The given page of ``db_ids`` (a stored search result), in that order; gone ids "
        "skipped."""
        ...

    async def matching(
        self, entity: str, criteria: Criteria, limit: int
    ) -> list[dict[str, Any]]: ...

    async def matching_ids(self, entity: str, criteria: Criteria, limit: int) -> list[str]: ...

    async def matching_each(
        self, entity: str, criteria: Sequence[Criteria], limit: int
    ) -> list[list[dict[str, Any]]]:
        """``matching`` for each of several criteria, in one statement: the first ``limit``
        documents of each, in the order the criteria are given (a page's per-row lists)."""
        ...

    async def lineage(
        self, entity: str, root: str, link: Sequence[str], generations: int
    ) -> dict[str, dict[str, Any]]:
        """The documents reachable from ``root`` (included) by following the DbIds found at
        the path ``link`` (``*`` enters an array), at most ``generations`` documents deep:
        an ancestry in one statement instead of one read per generation."""
        ...

    async def reachable(
        self, entity: str, roots: Sequence[str], link: Sequence[str]
    ) -> dict[str, list[str]]:
        """The documents reachable from any of ``roots`` (included) by following ``link``,
        however deep, each once, as the DbIds each one's ``link`` names (not the document):
        the ancestry of many nodes in one statement, and no more of the entity than that."""
        ...

    async def linking(
        self, entity: str, link: Sequence[str], db_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Every document whose ``link`` names any of ``db_ids``, by DbId: one statement
        whose cost grows with the entity's rows plus ``db_ids``, not their product."""
        ...

    async def linking_ids(
        self, entity: str, link: Sequence[str], db_ids: Sequence[str]
    ) -> list[str]: ...

    async def insert(
        self, entity: str, documents: Sequence[tuple[str, dict[str, Any]]]
    ) -> None: ...

    async def update(
        self, entity: str, documents: Sequence[tuple[str, dict[str, Any]]]
    ) -> None: ...

    async def soft_delete(self, entity: str, db_ids: Sequence[str]) -> None:
        """Hide documents from every read; the rows stay, stamped, as history."""
        ...

    def stream(
        self, entity: str, criteria: Criteria, order: Sequence[str], chunk_size: int
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every matching document, ordered by top-level fields, in chunks (a server cursor)."""
        ...

    async def distinct_values(self, entity: str, criteria: Criteria, field: str) -> list[Any]:
        """Distinct non-null values of one top-level field over the matching documents."""
        ...

    async def put_content(
        self, entity: str, db_id: str, media_type: str, content: bytes
    ) -> None: ...

    async def content(self, entity: str, db_id: str) -> tuple[str, bytes] | None: ...

    async def distinct(self, sources: Sequence[tuple[str, str]], page: PageRequest) -> DocumentPage:
        """Distinct non-null string values of ``(entity, field)`` pairs, as a page of JSON "
        "strings."""
        ...


class ViewSource(Protocol):
    """Entities whose documents are views over another store (``Entity.view``, ADR 0191):
    the engine hands their reads here. ``params`` are a query map (lists of strings) or a
    decoded search request."""

    async def list(
        self, principal: Principal, entity: str, params: Mapping[str, Any], page: PageRequest
    ) -> DocumentPage: ...

    async def get(self, principal: Principal, entity: str, db_id: str) -> bytes: ...

    async def search(self, principal: Principal, entity: str, request: dict[str, Any]) -> str: ...

    async def search_results(
        self, principal: Principal, entity: str, search_id: str, page: PageRequest
    ) -> DocumentPage: ...


class ViewWrites(Protocol):
    """Writes of view entities (``PUT /calls``, ``POST /variantsets/extract``): the body as
    the client sent it."""

    async def create(self, principal: Principal, entity: str, body: bytes) -> DocumentPage: ...

    async def update_many(self, principal: Principal, entity: str, body: bytes) -> DocumentPage: ...


class DocumentLookup(Protocol):
    """One stored document of an organization, by entity and DbId: the query side of a
    single-entity GET, which writes nothing and so needs no unit of work (ADR 0040)."""

    async def document_bytes(
        self, tenant_id: TenantId, entity: str, db_id: str
    ) -> bytes | None: ...


class SearchResultStore(Protocol):
    """Search results kept for a while (TTL) so clients can page them: POST then GET."""

    async def save(self, tenant_id: TenantId, entity: str, db_ids: Sequence[str]) -> str:
        """Keep ``db_ids``; ``RateLimited`` when the organization would hold more than its
        bound of results at once (``MAX_HELD_SEARCH_BYTES``)."""
        ...

    async def load(self, tenant_id: TenantId, entity: str, search_id: str) -> list[str] | None: ...
