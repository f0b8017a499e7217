"""Write use cases of the BrAPI engine: validate once, check references and rules, store,
emit ``<entity>.created|updated`` through the outbox — all in one transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from bijmantra.application.brapi.bounds import (
    MAX_SEARCH_RESULTS,
    MAX_WRITE_ITEMS,
    decode_json,
    storable_ids,
)
from bijmantra.application.brapi.criteria import search_criteria
from bijmantra.application.brapi.entity import Catalog, Entity, Ref, WriteContext
from bijmantra.application.brapi.schema import empty, shape, text_problem
from bijmantra.application.ports import UnitOfWork, UnitOfWorkFactory
from bijmantra.application.ports.documents import DocumentPage, ViewWrites
from bijmantra.application.security import Action, Permission, authorize
from bijmantra.application.use_case import refuse_full, refuse_used_up
from bijmantra.domain.tenancy.quotas import Resource
from bijmantra.domain.tenancy.storage import StoredResource
from bijmantra.kernel import (
    Clock,
    Conflict,
    FieldError,
    NotFound,
    PageRequest,
    Principal,
    SystemClock,
    Unprocessable,
    ValidationFailed,
    new_ids,
)

_encode = msgspec.json.encode


def _walk(node: Any, path: Sequence[str]) -> Iterator[dict[str, Any]]:
    """Containers (dicts) holding the last key of ``path``; ``*`` fans out over arrays."""
    if not path or node is None:
        return
    if len(path) == 1:
        if isinstance(node, dict):
            yield node
        return
    step, rest = path[0], path[1:]
    if step == "*":
        for item in node if isinstance(node, list) else ():
            yield from _walk(item, rest)
    elif isinstance(node, dict):
        yield from _walk(node.get(step), rest)


async def _resolve_references(context: WriteContext, documents: list[dict[str, Any]]) -> None:
    """Every referenced DbId must exist in the same organization; copy the names it carries."""
    problems: list[FieldError] = []
    for ref in context.entity.references:
        await _resolve(context, ref, documents, problems)
    if problems:
        raise Unprocessable("Referenced entities not found in this organization", problems)


def _ids(value: Any, listed: bool) -> list[str]:
    """The DbIds one container holds at a reference's key: one, or a list's (``ids.*``)."""
    if listed:
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
    return [value] if isinstance(value, str) else []


async def _resolve(
    context: WriteContext, ref: Ref, documents: list[dict[str, Any]], problems: list[FieldError]
) -> None:
    path = ref.path.split(".")
    listed = path[-1] == "*"  # a list of DbIds, e.g. a study's ``seasons.*``
    if listed:
        path = path[:-1]
    key = path[-1]
    sites = [
        (doc, c, db_id)
        for doc in documents
        for c in _walk(doc, path)
        for db_id in _ids(c.get(key), listed)
    ]
    if not sites:
        return
    found = await context.store.documents(ref.entity, sorted({db_id for _, _, db_id in sites}))
    for document, container, db_id in sites:
        target = found.get(db_id)
        if target is None:
            problems.append(
                FieldError(
                    f"{context.location(document)}.{ref.path}", f"unknown {ref.entity} {db_id!r}"
                )
            )
            continue
        for local, remote in ref.names.items():
            container[local] = target.get(remote)


@dataclass
class ResourceCommands:
    catalog: Catalog
    uow: UnitOfWorkFactory
    clock: Clock = field(default_factory=SystemClock)
    views: ViewWrites | None = None  # writes of ``Entity.view`` entities (``PUT /calls``)

    def _views(self) -> ViewWrites:
        if self.views is None:
            raise NotFound("This server writes no view entities")
        return self.views

    def _writable(self, principal: Principal, entity_name: str) -> Entity:
        """The entity a write names, once the caller may write in its context: every write's
        first step (an unknown entity is the catalog's 404)."""
        entity = self.catalog.entity(entity_name)
        authorize(principal, Permission(entity.context, Action.WRITE))
        return entity

    def _shape(self, entity: Entity, items: list[tuple[str, Any]]) -> list[dict[str, Any]]:
        """Validate requests against the official schema; every problem reported at once."""
        request_schema, document_schema = entity.new_request_schema, entity.document_schema
        skip = frozenset() if entity.client_ids else frozenset({entity.db_id})
        problems: list[FieldError] = []
        documents = []
        for location, item in items:
            if not isinstance(item, dict):
                problems.append(FieldError(location, f"expected a {entity.request_schema} object"))
                documents.append(empty(document_schema))
                continue
            if isinstance(item, dict):
                for name, aliases in entity.value_aliases.items():
                    if isinstance(item.get(name), str):
                        item[name] = aliases.get(item[name], item[name])
            shaped = shape(request_schema, item, location, problems, skip_required=skip)
            document = empty(document_schema)
            if isinstance(shaped, dict):
                for name, served in entity.served_values.items():
                    if isinstance(shaped.get(name), str):
                        shaped[name] = served.get(shaped[name], shaped[name])
                if entity.keeps_request or shaped.keys() <= document.keys():
                    document.update(shaped)
                else:
                    document.update((k, v) for k, v in shaped.items() if k in document)
            documents.append(document)
        if problems:
            raise ValidationFailed(f"{len(problems)} invalid {entity.schema} field(s)", problems)
        return documents

    async def _prepare(
        self, context: WriteContext, documents: list[dict[str, Any]], locations: list[str]
    ) -> None:
        context.locations = {id(d): loc for d, loc in zip(documents, locations, strict=True)}
        await _resolve_references(context, documents)
        await context.entity.rules.prepare(context, documents)

    async def create(
        self,
        principal: Principal,
        entity_name: str,
        body: bytes | list[Any],
        *,
        db_ids: Sequence[str] | None = None,
    ) -> DocumentPage:
        """``POST /{path}``: all or nothing; ``db_ids`` lets a trusted import keep upstream ids."""
        if self.catalog.entity(entity_name).view and isinstance(body, bytes):
            return await self._views().create(principal, entity_name, body)
        items = (
            decode_json(body, "a JSON array", max_items=MAX_WRITE_ITEMS)
            if isinstance(body, bytes)
            else body
        )
        async with self.uow(principal.tenant_id) as uow:
            documents = await self.create_in(uow, principal, entity_name, items, db_ids=db_ids)
            await uow.commit()
        return _page(documents)

    async def create_in(
        self,
        uow: UnitOfWork,
        principal: Principal,
        entity_name: str,
        items: Any,
        *,
        db_ids: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Create inside a caller's transaction (e.g. germplasm for a genotype import's samples)."""
        entity = self._writable(principal, entity_name)
        if not isinstance(items, list):
            raise ValidationFailed(
                f"Request body must be a JSON array of {entity.request_schema}",
                [FieldError("body", "expected array")],
            )
        locations = [f"[{i}]" for i in range(len(items))]
        documents = self._shape(entity, list(zip(locations, items, strict=True)))
        context = WriteContext(
            principal, entity, self.catalog, uow, creating=True, clock=self.clock
        )
        if entity.serial_writes:
            await uow.resources.take_turn(entity.name)
        await self._prepare(context, documents, locations)
        if not entity.client_ids:
            for document, db_id in zip(documents, db_ids or new_ids(len(documents)), strict=True):
                document[entity.db_id] = db_id
        pairs = [(document[entity.db_id], document) for document in documents]
        if entity.client_ids or db_ids:  # ids the server makes (UUIDv7) are fresh by construction
            await self._check_fresh(context, pairs)
        await context.save(entity.name, pairs, new=True)
        await entity.rules.after(context, documents)
        return documents

    async def _check_fresh(
        self, context: WriteContext, pairs: list[tuple[str, dict[str, Any]]]
    ) -> None:
        ids = [i for i, _ in pairs]
        duplicates = {i for i, n in Counter(ids).items() if n > 1}
        existing = await context.store.documents(context.entity.name, ids)
        if duplicates or existing:
            taken = sorted(duplicates | set(existing))
            raise Conflict(
                f"{context.entity.schema} already exists",
                [
                    FieldError(context.entity.db_id, f"{i!r} already exists or is repeated")
                    for i in taken
                ],
            )

    async def update(
        self, principal: Principal, entity_name: str, db_id: str, body: bytes
    ) -> bytes:
        """``PUT /{path}/{dbId}``: replace the client-writable fields of one document."""
        item = decode_json(body, "a JSON object")
        page = await self._update(principal, entity_name, [(db_id, "body", item)])
        return page.documents[1:-1]

    async def update_many(
        self, principal: Principal, entity_name: str, body: bytes
    ) -> DocumentPage:
        """``PUT /{path}`` with a map ``dbId -> request``: all or nothing."""
        if self.catalog.entity(entity_name).view:
            return await self._views().update_many(principal, entity_name, body)
        items = decode_json(
            body, "a JSON object mapping DbIds to objects", max_items=MAX_WRITE_ITEMS
        )
        if not isinstance(items, dict):
            raise ValidationFailed(
                "Request body must be a JSON object mapping DbIds to objects",
                [FieldError("body", "expected object")],
            )
        return await self._update(
            principal, entity_name, [(k, f"[{k}]", v) for k, v in items.items()]
        )

    async def _update(
        self, principal: Principal, entity_name: str, items: list[tuple[str, str, Any]]
    ) -> DocumentPage:
        entity = self._writable(principal, entity_name)
        ids = [db_id for db_id, _, _ in items]
        storable_ids(*ids)
        updates = self._shape(entity, [(location, item) for _, location, item in items])
        async with self.uow(principal.tenant_id) as uow:
            context = WriteContext(
                principal, entity, self.catalog, uow, creating=False, clock=self.clock
            )
            if entity.serial_writes:
                await uow.resources.take_turn(entity.name)
            current = await uow.resources.documents(entity.name, ids, for_update=True)
            missing = [i for i in ids if i not in current]
            if missing and not entity.client_ids:
                raise NotFound(
                    f"{entity.schema} not found",
                    [FieldError(entity.db_id, repr(i)) for i in missing],
                )
            documents = []
            for db_id, update in zip(ids, updates, strict=True):
                document = {**current.get(db_id, update), **update, entity.db_id: db_id}
                documents.append(document)
            await self._prepare(context, documents, [location for _, location, _ in items])
            await context.save(
                entity.name,
                [(i, d) for i, d in zip(ids, documents, strict=True) if i in current],
                new=False,
            )
            await context.save(
                entity.name,
                [(i, d) for i, d in zip(ids, documents, strict=True) if i not in current],
                new=True,
            )
            await entity.rules.after(context, documents)
            await uow.commit()
        return _page(documents)

    async def append(
        self, principal: Principal, entity_name: str, db_id: str, suffix: str, body: bytes
    ) -> bytes:
        """``POST /{path}/{dbId}/{suffix}``: append strings to an array field (list items)."""
        entity = self._writable(principal, entity_name)
        target = entity.appends[suffix]
        storable_ids(db_id)
        values = decode_json(body, "a JSON array of strings", max_items=MAX_WRITE_ITEMS)
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValidationFailed(
                "Request body must be a JSON array of strings",
                [FieldError("body", "expected array of strings")],
            )
        # The items skip ``shape``: its text rule is applied here (a NUL was a 500 at the write).
        problems = [FieldError(f"[{i}]", p) for i, v in enumerate(values) if (p := text_problem(v))]
        if problems:
            raise ValidationFailed(f"{len(problems)} invalid item(s)", problems)
        async with self.uow(principal.tenant_id) as uow:
            context = WriteContext(
                principal, entity, self.catalog, uow, creating=False, clock=self.clock
            )
            current = await uow.resources.documents(entity.name, [db_id], for_update=True)
            if not current:
                raise NotFound(f"{entity.schema} {db_id!r} not found")
            document = current[db_id]
            document[target] = [*(document.get(target) or []), *values]
            await self._prepare(context, [document], ["body"])
            await context.save(entity.name, [(db_id, document)], new=False)
            await uow.commit()
        return _encode(document)

    async def delete(self, principal: Principal, entity_name: str, body: bytes) -> list[str]:
        """``POST /delete/{path}``: soft-delete what a search request matches, all at once.

        A request without any filter is refused rather than read as "delete everything"."""
        entity = self._writable(principal, entity_name)
        criteria = search_criteria(entity, decode_json(body, "a JSON search request object") or {})
        if not criteria:
            raise ValidationFailed(
                "A delete request must name what to delete",
                [FieldError("body", "at least one filter is required")],
            )
        async with self.uow(principal.tenant_id) as uow:
            db_ids = await uow.resources.matching_ids(entity.name, criteria, MAX_SEARCH_RESULTS)
            await uow.resources.soft_delete(entity.name, db_ids)
            context = WriteContext(
                principal, entity, self.catalog, uow, creating=False, clock=self.clock
            )
            context.record(entity, "deleted", [(i, {entity.db_id: i}) for i in db_ids])
            await uow.commit()
        return db_ids

    async def admits_content(self, principal: Principal, entity_name: str, size: int) -> None:
        """Refuse now (the quota's 429) content of ``size`` bytes (declared, 0 if unknown) that
        the organization's day of uploads has no room for: asked before the body is read."""
        entity = self._writable(principal, entity_name)
        if entity.content is None:
            raise NotFound(f"{entity.schema} has no binary content")
        async with self.uow(principal.tenant_id) as uow:
            await refuse_used_up(uow, Resource.UPLOAD_BYTES, self.clock.now(), max(size, 0))
            await refuse_full(uow, StoredResource.UPLOAD_BYTES, max(size, 1))  # ADR 0343

    async def put_content(
        self, principal: Principal, entity_name: str, db_id: str, media_type: str, content: bytes
    ) -> bytes:
        """Store a resource's binary content; its document is updated to describe it."""
        entity = self._writable(principal, entity_name)
        if entity.content is None:
            raise NotFound(f"{entity.schema} has no binary content")
        _, policy = entity.content
        policy.check(media_type, content)
        async with self.uow(principal.tenant_id) as uow:
            # Before the content is written (ADR 0340): its size is known.
            await refuse_used_up(uow, Resource.UPLOAD_BYTES, self.clock.now(), len(content))
            current = await uow.resources.documents(entity.name, [db_id], for_update=True)
            if not current:
                raise NotFound(f"{entity.schema} {db_id!r} not found")
            document = current[db_id]
            policy.describe(document, media_type, content)
            await uow.resources.put_content(entity.name, db_id, media_type, content)
            context = WriteContext(
                principal, entity, self.catalog, uow, creating=False, clock=self.clock
            )
            await context.save(entity.name, [(db_id, document)], new=False)
            await uow.commit()
        return _encode(document)


def _page(documents: list[dict[str, Any]]) -> DocumentPage:
    return DocumentPage(
        _encode(documents), len(documents), len(documents), PageRequest(0, max(len(documents), 1))
    )
