"""How a BrAPI entity is declared: once, as data the engine reads.

A declaration names the official schemas (fields and types come from them), the DbId, the
query filters, the references to other entities and the operations served. Everything
generic — routing, query parsing, paging, search, envelopes, errors, events — is the
engine's; an entity brings code only for a real business rule (``EntityRules``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from bijmantra.application.brapi.schema import Schema, SchemaSet
from bijmantra.application.events import bulk_data, bulk_type
from bijmantra.application.ports import UnitOfWork
from bijmantra.application.ports.documents import Criteria, DocumentPage, ResourceStore
from bijmantra.domain import DomainEvent
from bijmantra.kernel import Clock, NotFound, PageRequest, Principal, SystemClock

Path = tuple[str, ...]
ViewQuery = Mapping[str, Sequence[str]]  # a request's query string, as views receive it


class Op(StrEnum):
    """Operations an entity may serve; the gateway mounts exactly the declared ones."""

    LIST = "list"  # GET /{path}
    GET = "get"  # GET /{path}/{dbId}
    CREATE = "create"  # POST /{path} (array of new requests)
    UPDATE = "update"  # PUT /{path}/{dbId}
    UPDATE_MANY = "update_many"  # PUT /{path} (map dbId -> request), all-or-nothing
    SEARCH = "search"  # POST /search/{path} + GET /search/{path}/{searchResultsDbId}
    DELETE = "delete"  # POST /delete/{path} (a search request): soft delete, kept as history
    SUBMIT = "submit"  # POST /{path} with ONE request object; answers {dbId: the new id}


READ_ONLY = frozenset({Op.LIST, Op.GET})
CRUD = frozenset({Op.LIST, Op.GET, Op.CREATE, Op.UPDATE})
WITH_SEARCH = CRUD | {Op.SEARCH}


@dataclass(frozen=True)
class Match:
    """A filter on document paths (any may match); ``*`` steps into an array."""

    paths: tuple[Path, ...]

    @classmethod
    def on(cls, *paths: str) -> Match:
        """``Match.on("a", "b.*.c")``: dotted paths."""
        return cls(tuple(tuple(p.split(".")) for p in paths))


def fields(*names: str) -> dict[str, Match]:
    """Filters named like the top-level field they match."""
    return {name: Match.on(name) for name in names}


def external_reference_filters() -> dict[str, Match]:
    """The external-reference filters every BrAPI entity with ``externalReferences`` takes."""
    by_id = Match.on("externalReferences.*.referenceId")
    return {
        "externalReferenceId": by_id,
        "externalReferenceID": by_id,
        "externalReferenceSource": Match.on("externalReferences.*.referenceSource"),
    }


@dataclass(frozen=True)
class Bound:
    """A numeric range filter: ``minPosition`` is ``Bound("position", "low")``."""

    path: str  # dotted
    end: str  # "low" or "high"


@dataclass(frozen=True)
class Through:
    """Filters answered by another entity's documents that name this one: a plate's
    ``sampleDbId`` keeps the plates whose samples match (their ``plateDbId``)."""

    entity: str
    key: str  # the field of the other entity's documents holding this entity's DbId
    filters: frozenset[str]  # query filter names passed on to the other entity
    search_fields: frozenset[str]  # search body fields passed on


@dataclass(frozen=True)
class Ref:
    """A reference to another entity of the same organization, checked on every write.

    ``names`` copies fields of the referenced document into keys beside the DbId (e.g. a
    study's ``trialName`` from its trial), so reads never join. ``path`` is dotted; ``*``
    steps into arrays, and a final ``*`` names a list of DbIds (a study's ``seasons.*``).
    """

    path: str
    entity: str
    names: Mapping[str, str] = field(default_factory=dict)


class EntityRules(Protocol):
    """Business rules of one entity, run inside the write transaction."""

    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        """Check and complete documents before they are stored; raise to abort the write."""
        ...

    async def after(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        """Maintain dependent documents after the write, in the same transaction."""
        ...


@dataclass(frozen=True)
class TableChunk:
    """A piece of a streamed table: the header comes first, then rows (strings, "" for none)."""

    header_row: Sequence[str] = ()
    variables: Sequence[dict[str, Any]] = ()  # {observationVariableDbId, observationVariableName}
    rows: Sequence[Sequence[str]] = ()


class TableBuilder(Protocol):
    """``GET /{path}/{suffix}``: a table streamed from the store, chunk by chunk."""

    def build(self, store: ResourceStore, criteria: Criteria) -> AsyncIterator[TableChunk]: ...


class ContentPolicy(Protocol):
    """What binary content an entity accepts (``PUT /{path}/{dbId}/{suffix}``) and how its
    document then describes it."""

    @property
    def max_bytes(self) -> int: ...

    def check(self, media_type: str, content: bytes) -> None:
        """Raise ``ValidationFailed`` for content the entity does not accept."""
        ...

    def describe(self, document: dict[str, Any], media_type: str, content: bytes) -> None: ...


class NoRules:
    async def prepare(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        return None

    async def after(self, context: WriteContext, documents: list[dict[str, Any]]) -> None:
        return None


WRITES = frozenset({Op.CREATE, Op.UPDATE, Op.UPDATE_MANY, Op.SUBMIT})


@dataclass(frozen=True)
class Entity:
    """One entity's declaration. What BrAPI's naming conventions imply may be left out
    (ADR 0300): the path is the name plus ``s``, the DbId the schema's name in camel case plus
    ``DbId``, writes take ``<Schema>NewRequest`` (an entity without writes names its schema),
    a search takes ``<Schema>SearchRequest``. A declaration states only where the spec
    departs from them (``path="studies"``)."""

    name: str  # engine key, also the event prefix: ``<name>.created``
    context: str  # bounded context, for permissions
    schemas: SchemaSet
    schema: str  # response schema
    operations: frozenset[Op]
    path: str = ""  # URL segment under /brapi/v2
    request_schema: str = ""  # POST/PUT item schema
    db_id: str = ""
    filters: Mapping[str, Match] = field(default_factory=dict)
    search_schema: str | None = None
    search_aliases: Mapping[str, str] = field(default_factory=dict)  # search field -> filter name
    unsupported_filters: Sequence[str] = ()  # spec filters this server refuses with 400
    bounds: Mapping[str, Bound] = field(default_factory=dict)  # range filters (query or search)
    through: Through | None = None
    # Response-shaping flags (e.g. ``includeParents``) accepted with their full-output default.
    ignored_parameters: Sequence[str] = ()
    references: Sequence[Ref] = ()
    value_aliases: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # field -> {request schema's value: the value stored and served}, applied after validation,
    # where the spec's request and response enums disagree on a spelling.
    served_values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    client_ids: bool = False  # the DbId is chosen by the client (e.g. a pedigree node's germplasm)
    # One organization's writes take turns (``ResourceStore.take_turn``) before they read:
    # their rules read, then write what they read decided (whether a client's DbId is free,
    # whether an edge closes a cycle), so two writes at once would each miss the other's.
    serial_writes: bool = False
    appends: Mapping[str, str] = field(
        default_factory=dict
    )  # POST /{path}/{dbId}/{suffix} -> array field
    children: Mapping[str, tuple[str, str]] = field(
        default_factory=dict
    )  # suffix -> (entity, filter)
    rules: EntityRules = field(default_factory=NoRules)
    event_version: int = 1
    tables: Mapping[str, TableBuilder] = field(default_factory=dict)  # suffix -> builder
    content: tuple[str, ContentPolicy] | None = None  # (suffix, policy) for binary content
    view: bool = False  # served by the engine's ``ViewSource`` (genotype views), not documents
    single: bool = False  # a list answers one object (``/allelematrix``), not a page of them
    token_paging: bool = False  # lists carry BrAPI's (deprecated) page tokens too
    # The stored document keeps request fields its response schema lacks (a vendor order's
    # plates): the rules need them, and serving them breaks no schema (none forbids extras).
    keeps_request: bool = False
    # POST /{path}/{derive}: a new one made from a request (``/variantsets/extract``)
    derive: str | None = None

    def __post_init__(self) -> None:
        if self.client_ids and not self.serial_writes:
            raise ValueError(f"{self.name}: a client's DbId is checked free, then inserted")
        writes = bool(self.operations & WRITES)
        conventional = {
            "path": f"{self.name}s",
            "db_id": f"{self.schema[0].lower()}{self.schema[1:]}DbId",
            "request_schema": f"{self.schema}NewRequest" if writes else self.schema,
        }
        if Op.SEARCH in self.operations:
            conventional["search_schema"] = f"{self.schema}SearchRequest"
        for key, value in conventional.items():
            if not getattr(self, key):
                object.__setattr__(self, key, value)  # frozen: filled once, while constructing

    @property
    def document_schema(self) -> Schema:
        return self.schemas.named(self.schema)

    @property
    def new_request_schema(self) -> Schema:
        return self.schemas.named(self.request_schema)


@dataclass(frozen=True)
class Vocabulary:
    """A read-only list of distinct values drawn from fields of other entities (e.g. crops),
    or a fixed list the server defines (e.g. observation levels)."""

    name: str
    path: str
    context: str
    sources: Sequence[tuple[str, str]]  # (entity, field)
    fixed: Sequence[Any] = ()


class ViewBuilder(Protocol):
    """A view of one document; ``params`` is the request's query (most views ignore it)."""

    async def __call__(
        self,
        reader: DocumentReader,
        document: dict[str, Any],
        params: ViewQuery,
        /,
    ) -> dict[str, Any]: ...


class DocumentReader(Protocol):
    """What a view may read: other documents of the same organization, each entity only
    with the caller's permission to read it (a view is one read, never a way around one)."""

    async def documents(self, entity: str, db_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    async def parts(
        self, owner: str, kind: str, db_ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Stored documents of ``kind`` that no route serves but that belong to entity
        ``owner`` (a reference's blocks of bases), read with the permission to read ``owner``."""
        ...

    async def matching(
        self, entity: str, containment: dict[str, Any], limit: int = ...
    ) -> list[dict[str, Any]]: ...

    async def page(self, entity: str, query: ViewQuery, page: PageRequest) -> DocumentPage:
        """A page of the entity as its BrAPI list answers ``query``."""
        ...

    async def first(self, entity: str, query: ViewQuery, limit: int) -> list[dict[str, Any]]:
        """The first ``limit`` documents of that list, without counting the rest."""
        ...

    async def first_each(
        self, entity: str, queries: Sequence[ViewQuery], limit: int
    ) -> list[list[dict[str, Any]]]:
        """``first`` for each query, in one read (one list per row of a page)."""
        ...

    async def lineage(
        self, entity: str, root: str, link: str, generations: int
    ) -> dict[str, dict[str, Any]]:
        """``ResourceStore.lineage`` with ``link`` dotted (``parents.*.germplasmDbId``)."""
        ...


@dataclass(frozen=True)
class View:
    """A derived read of one entity (``GET /germplasm/{id}/mcpd``)."""

    entity: str
    suffix: str  # URL segment after /{path}/{dbId}
    schema: str  # response schema, for documentation and tests
    build: ViewBuilder
    # False: a page-shaped read for the console (ADR 0307), reached over gRPC only; no
    # BrAPI route serves it.
    published: bool = True


@dataclass(frozen=True)
class Module:
    """A BrAPI module: the unit a later issue adds (Phenotyping, Genotyping) by declarations."""

    name: str
    entities: Sequence[Entity]
    vocabularies: Sequence[Vocabulary] = ()
    views: Sequence[View] = ()


class Catalog:
    """Every entity the server knows, by name."""

    def __init__(self, modules: Sequence[Module]) -> None:
        self.modules = tuple(modules)
        self.entities = {e.name: e for m in modules for e in m.entities}
        self.vocabularies = {v.name: v for m in modules for v in m.vocabularies}
        self.views = {(v.entity, v.suffix): v for m in modules for v in m.views}

    def entity(self, name: str) -> Entity:
        try:
            return self.entities[name]
        except KeyError:
            raise NotFound(f"Unknown BrAPI entity {name!r}") from None


@dataclass
class WriteContext:
    """What rules see of a write: the store of the caller's organization and the catalog."""

    principal: Principal
    entity: Entity
    catalog: Catalog
    uow: UnitOfWork
    creating: bool
    clock: Clock = field(default_factory=SystemClock)  # rules read "now" here, never the OS
    locations: dict[int, str] = field(default_factory=dict)  # id(document) -> request location

    @property
    def store(self) -> ResourceStore:
        return self.uow.resources

    def location(self, document: dict[str, Any]) -> str:
        return self.locations.get(id(document), "body")

    async def save(
        self, entity_name: str, documents: Sequence[tuple[str, dict[str, Any]]], *, new: bool
    ) -> None:
        """Store documents of any entity and record their events (rules maintain dependents)."""
        if not documents:
            return
        entity = self.catalog.entity(entity_name)
        if new:
            await self.store.insert(entity.name, documents)
        else:
            await self.store.update(entity.name, documents)
        self.record(entity, "created" if new else "updated", documents)

    def record(
        self, entity: Entity, verb: str, documents: Sequence[tuple[str, dict[str, Any]]]
    ) -> None:
        """``<entity>.<verb>`` through the outbox with the write: one event for one document,
        one bulk event (``<entity>.<verb>.bulk``, ADR 0090) for several."""
        if not documents:
            return
        event_type = f"{entity.name}.{verb}"
        first_id, first_document = documents[0]
        self.uow.record(
            DomainEvent(
                type=event_type if len(documents) == 1 else bulk_type(event_type),
                tenant_id=self.principal.tenant_id,
                aggregate_id=first_id,
                data=first_document if len(documents) == 1 else bulk_data(documents),
                schema_version=entity.event_version,
                actor=self.principal.subject,
                occurred_at=self.clock.now(),
            )
        )
