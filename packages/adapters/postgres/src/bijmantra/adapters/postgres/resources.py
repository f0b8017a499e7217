"""The BrAPI document store: one table, ``domain.resources``, for every entity (ADR 0040).

Each row keeps the document twice: ``document jsonb`` for filters (``@>`` containment,
GIN ``jsonb_path_ops``) and ``body bytea``, the exact JSON encoded once on write, so a
page is one query whose result is the bytes of a JSON array, never re-encoded. Writes of
many documents are one statement over one JSON array, not one per row; soft-deleted
rows (``deleted_at``) stay as history and are invisible to every read (ADR 0090).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
from bijmantra.adapters.postgres.engine import driver_connection
from bijmantra.adapters.postgres.plans import PLANNED_PER_CALL, planned_per_call
from bijmantra.adapters.postgres.resource_criteria import LIVE as _LIVE
from bijmantra.adapters.postgres.resource_criteria import jsonpath, narrowed, where
from bijmantra.application.ports.documents import Criteria, DocumentPage
from bijmantra.kernel import PageRequest
from bijmantra.kernel.pagination import MAX_PAGE_BYTES, page_too_large
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_encode = msgspec.json.encode
_decode = msgspec.json.decode

# A batch travels as two binary arrays (ids, encoded documents): one parameter each, however
# many rows; PostgreSQL parses each document once (into ``document``) and stores the bytes
# as sent (``body``), byte for byte the encoding made here.
_INSERT = (
    "INSERT INTO domain.resources (tenant_id, entity, db_id, document, body) SELECT "
    "nullif(current_setting('app.tenant_id', true), '')::uuid, %(entity)s, r.db_id, "
    "CAST(convert_from(r.body, 'UTF8') AS jsonb), r.body FROM unnest(CAST(%(ids)b AS text[]), "
    "%(bodies)b) AS r(db_id, body)"
)
_UPDATE = (
    "UPDATE domain.resources t SET document = CAST(convert_from(r.body, 'UTF8') AS jsonb), body "
    "= r.body, updated_at = now() FROM unnest(CAST(%(ids)b AS text[]), %(bodies)b) AS r(db_id, "
    "body) WHERE t.entity = %(entity)s AND t.db_id = r.db_id AND t.deleted_at IS NULL"
)
DOCUMENT_BODY = (
    "SELECT body FROM domain.resources WHERE entity = %(entity)s AND db_id = %(db_id)s AND "
    "deleted_at IS NULL"
)
_DOCUMENTS = (
    "SELECT db_id, body FROM domain.resources WHERE entity = %(entity)s AND db_id = "
    "ANY(CAST(%(ids)s AS text[])) AND deleted_at IS NULL"
)
_DOCUMENTS_FOR_UPDATE = (
    "SELECT db_id, body FROM domain.resources WHERE entity = %(entity)s AND db_id = "
    "ANY(CAST(%(ids)s AS text[])) AND deleted_at IS NULL ORDER BY db_id FOR UPDATE"
)
# One organization's writes of one entity, one transaction at a time (``take_turn``).
_TAKE_TURN = (
    "SELECT pg_advisory_xact_lock(hashtextextended('resources/' || %(entity)s || '/' || "
    "current_setting('app.tenant_id', true), 0))"
)
_VERSION_OF = (
    "SELECT coalesce((SELECT version FROM domain.resource_versions WHERE entity = %(entity)s), 0)"
)
# ``soft_delete``: up to MAX_SEARCH_RESULTS DbIds, planned for them (ADR 0353).
_SOFT_DELETE = planned_per_call(
    text(
        "UPDATE domain.resources SET deleted_at = now() "
        "WHERE entity = :entity AND db_id = ANY(:ids) AND deleted_at IS NULL"
    )
)
_DROP_CONTENTS = planned_per_call(
    text("DELETE FROM domain.resource_contents WHERE entity = :entity AND db_id = ANY(:ids)")
)
_VERSION = "coalesce((SELECT version FROM domain.resource_versions WHERE entity = %(entity)s), 0)"


def _array(documents: bytes | None) -> bytes:
    return b"[" + (documents or b"") + b"]"


# A page's bodies joined in order, but only while their running size stays within
# MAX_PAGE_BYTES (ADR 0376): PostgreSQL never builds more, and the page's whole size is
# still known (``size``) to refuse it. ``octet_length`` reads a stored body's size, not the body.
_RUNNING_SIZE = "sum(octet_length(body)) OVER (ORDER BY %s) AS running"
_BOUNDED_AGGREGATE = (
    "SELECT count(*) AS n, max(running) AS size, string_agg(body, '\\x2c'::bytea ORDER BY %s) "
    "FILTER (WHERE running <= %%(max_bytes)s) AS bodies"
)


def _check_size(size: int | None) -> None:
    if size is not None and size > MAX_PAGE_BYTES:
        raise page_too_large(size)


_BUMP_VERSIONS = (
    "INSERT INTO domain.resource_versions (tenant_id, entity, version) SELECT "
    "nullif(current_setting('app.tenant_id', true), '')::uuid, e, "
    "nextval('domain.resource_version_seq') FROM unnest(CAST(%(entities)s AS text[])) AS e "
    "ORDER BY e ON CONFLICT (tenant_id, entity) DO UPDATE SET version = excluded.version"
)

# ``lineage``: the DbIds reachable from the root, one level per recursion step (UNION drops a
# repeated (id, depth); the depth bound ends a cycle), then their documents in one read.
_LINEAGE = (
    "WITH RECURSIVE walk(db_id, depth) AS (SELECT CAST(%(root)s AS text), 1 UNION SELECT "
    "linked.value #>> '{}', w.depth + 1 FROM walk w JOIN domain.resources r ON r.entity = "
    "%(entity)s AND r.db_id = w.db_id AND r.deleted_at IS NULL CROSS JOIN LATERAL "
    "jsonb_path_query(r.document, CAST(%(link)s AS jsonpath)) AS linked(value) WHERE w.depth < "
    "%(generations)s AND jsonb_typeof(linked.value) = 'string') SELECT db_id, body FROM "
    "domain.resources WHERE entity = %(entity)s AND db_id IN (SELECT db_id FROM walk) AND "
    "deleted_at IS NULL"
)

# ``reachable``: the same walk from many roots, without depths: UNION keeps each DbId once,
# so the recursion ends when no new one turns up (a cycle included). Each step reads the
# walked nodes' rows by key (``_STEP``): a join the planner may hash would scan every row of
# the entity once per generation, and a 10,000-deep chain is 10,000 generations (ADR 0349).
_STEP = (
    "CROSS JOIN LATERAL (SELECT r.document FROM domain.resources r WHERE r.entity = "
    "%(entity)s AND r.db_id = w.db_id AND r.deleted_at IS NULL LIMIT 1) r CROSS JOIN LATERAL "
    "jsonb_path_query(r.document, CAST(%(link)s AS jsonpath)) AS linked(value) WHERE "
    "jsonb_typeof(linked.value) = 'string'"
)
# It answers each node's links as text[], not its body: a walk over 60,000 ancestors sent
# and decoded every node's whole document (with its progeny) to read two DbIds of it.
_REACHABLE = (
    "WITH RECURSIVE walk(db_id) AS (SELECT unnest(CAST(%(roots)s AS text[])) UNION SELECT "
    f"linked.value #>> '{{}}' FROM walk w {_STEP}) SELECT d.db_id, ARRAY(SELECT linked.value "
    "#>> '{}' FROM jsonb_path_query(d.document, CAST(%(link)s AS jsonpath)) AS linked(value) "
    "WHERE jsonb_typeof(linked.value) = 'string') FROM domain.resources d WHERE d.entity = "
    "%(entity)s AND d.db_id IN (SELECT db_id FROM walk) AND d.deleted_at IS NULL"
)

# ``linking``: the documents whose ``link`` names any of many DbIds. Not ``@> ANY``: under
# row-level security PostgreSQL may not use the GIN index for ``@>`` (jsonb_contains is not
# leakproof), so each of the entity's rows was tested against every DbId listed (rows x
# DbIds); here each row's few links are looked up in the hashed list once (ADR 0349).
_LINKING = (
    "SELECT {column} FROM domain.resources r WHERE entity = %(entity)s AND deleted_at IS NULL "
    "AND EXISTS (SELECT FROM jsonb_path_query(r.document, CAST(%(link)s AS jsonpath)) AS "
    "linked(value) WHERE jsonb_typeof(linked.value) = 'string' AND linked.value #>> '{{}}' = "
    "ANY(CAST(%(ids)s AS text[]))) ORDER BY db_id"
)


class PostgresResourceStore:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._written: set[str] = set()
        self.stored_bytes = 0  # file contents this transaction stored (ADR 0340)

    async def bump_versions(self) -> None:
        """Give every entity this transaction wrote a new data version (ADR 0040).

        Called by the unit of work just before COMMIT, so the version rows are locked only
        for the commit itself, always in entity order (no deadlock between writers)."""
        if self._written:
            driver = await driver_connection(self._connection)
            await driver.execute(_BUMP_VERSIONS, {"entities": sorted(self._written)})
            self._written.clear()

    async def version(self, entity: str) -> int:
        row = await self._binary_row(_VERSION_OF, {"entity": entity})
        assert row is not None
        return int(row[0])

    async def versions(self, entities: Sequence[str]) -> dict[str, int]:
        driver = await driver_connection(self._connection)
        cursor = driver.cursor(binary=True)
        await cursor.execute(
            "SELECT entity, version FROM domain.resource_versions "
            "WHERE entity = ANY(CAST(%(entities)s AS text[]))",
            {"entities": list(entities)},
        )
        found = {str(entity): int(version) for entity, version in await cursor.fetchall()}
        return {entity: found.get(entity, 0) for entity in entities}

    async def documents(
        self, entity: str, db_ids: Sequence[str], *, for_update: bool = False
    ) -> dict[str, dict[str, Any]]:
        if not db_ids:
            return {}
        # Binary: a bulk write's references (1,000 observation units) arrive as their bytes,
        # not as hex text the server encodes and the driver decodes again.
        driver = await driver_connection(self._connection)
        cursor = driver.cursor(binary=True)
        await cursor.execute(
            _DOCUMENTS_FOR_UPDATE if for_update else _DOCUMENTS,
            {"entity": entity, "ids": list(db_ids)},
            prepare=PLANNED_PER_CALL,  # a list of DbIds (ADR 0349, 0353)
        )
        return {db_id: _decode(body) for db_id, body in await cursor.fetchall()}

    async def _binary_row(
        self, query: str, params: dict[str, Any], *, prepare: bool | None = None
    ) -> tuple[Any, ...] | None:
        """One row in PostgreSQL's binary format: a page's bytea arrives as its bytes, not
        as hex text twice its size that the server encodes and psycopg decodes again."""
        driver = await driver_connection(self._connection)
        cursor = driver.cursor(binary=True)
        await cursor.execute(query, params, prepare=prepare)
        return await cursor.fetchone()

    async def _wheres(
        self, each: Sequence[tuple[Criteria, str]], params: dict[str, Any]
    ) -> list[str]:
        """The WHERE of each criteria, narrowed to the finder's candidates (ADR 0351): one
        round trip asks each finder for at most its cap + 1 DbIds (LIMIT without ORDER BY:
        fewer means all of them), then the caller's statement is planned
        for them (never prepared: a list of DbIds, ADR 0349, 0353)."""
        built = [(where(criteria, params, prefix), prefix) for criteria, prefix in each]
        finders = [
            f"SELECT {n}, {finder.cap}, ARRAY(SELECT {finder.call} LIMIT {finder.cap + 1})"
            for n, ((_, calls), _) in enumerate(built)
            for finder in calls
        ]
        candidates: dict[int, list[tuple[list[str], int]]] = {}
        if finders:
            driver = await driver_connection(self._connection)
            cursor = driver.cursor(binary=True)
            await cursor.execute(" UNION ALL ".join(finders), params)
            for n, cap, ids in await cursor.fetchall():
                candidates.setdefault(n, []).append((ids, cap))
        return [
            narrowed(test, candidates.get(n, []), params, prefix)
            for n, ((test, _), prefix) in enumerate(built)
        ]

    async def document_bytes(self, entity: str, db_id: str) -> bytes | None:
        row = await self._binary_row(DOCUMENT_BODY, {"entity": entity, "db_id": db_id})
        return None if row is None else bytes(row[0])

    async def page(self, entity: str, criteria: Criteria, page: PageRequest) -> DocumentPage:
        params: dict[str, Any] = {"entity": entity, "limit": page.page_size, "offset": page.offset}
        (where,) = await self._wheres([(criteria, "")], params)
        row = await self._binary_row(
            f"SELECT (SELECT count(*) FROM domain.resources WHERE {where}), p.n, p.bodies, "
            f"{_VERSION}, p.size FROM ({_BOUNDED_AGGREGATE % 'db_id'} FROM ("
            f"SELECT db_id, body, {_RUNNING_SIZE % 'db_id'} FROM ("
            f"SELECT db_id, body FROM domain.resources WHERE {where} "
            "ORDER BY db_id LIMIT %(limit)s OFFSET %(offset)s) s) s) p",
            {**params, "max_bytes": MAX_PAGE_BYTES},
            prepare=PLANNED_PER_CALL,  # a list of DbIds (ADR 0349, 0353)
        )
        assert row is not None  # aggregates always answer one row
        _check_size(row[4])
        return DocumentPage(_array(row[2]), int(row[1]), int(row[0]), page, version=int(row[3]))

    async def page_of_ids(
        self, entity: str, db_ids: Sequence[str], page: PageRequest
    ) -> DocumentPage:
        wanted = list(db_ids[page.offset : page.offset + page.page_size])
        row = await self._binary_row(
            f"SELECT n, bodies, size FROM ({_BOUNDED_AGGREGATE % 'ord'} FROM (SELECT w.ord, "
            f"r.body, {_RUNNING_SIZE % 'w.ord'} "
            "FROM unnest(CAST(%(ids)s AS text[])) WITH ORDINALITY AS w(db_id, ord) "
            "JOIN domain.resources r "
            "ON r.entity = %(entity)s AND r.db_id = w.db_id AND r.deleted_at IS NULL) s) p",
            {"entity": entity, "ids": wanted, "max_bytes": MAX_PAGE_BYTES},
        )
        assert row is not None
        _check_size(row[2])
        return DocumentPage(_array(row[1]), int(row[0]), len(db_ids), page)

    async def _first_matching(
        self, column: str, entity: str, criteria: Criteria, limit: int
    ) -> list[Any]:
        """``column`` of the first ``limit`` live documents (by id) that meet ``criteria``."""
        params: dict[str, Any] = {"entity": entity, "limit": limit}
        # On the driver, binary (as ``documents``): SQLAlchemy's text() path took about a
        # third of domain-api's CPU on a workbench page (ADR 0313).
        (where,) = await self._wheres([(criteria, "")], params)
        driver = await driver_connection(self._connection)
        cursor = driver.cursor(binary=True)
        await cursor.execute(
            f"SELECT {column} FROM domain.resources WHERE {where} ORDER BY db_id LIMIT %(limit)s",
            params,
            prepare=PLANNED_PER_CALL,  # a list of DbIds (ADR 0349, 0353)
        )
        return [row[0] for row in await cursor.fetchall()]

    async def matching(self, entity: str, criteria: Criteria, limit: int) -> list[dict[str, Any]]:
        return [
            _decode(body) for body in await self._first_matching("body", entity, criteria, limit)
        ]

    async def matching_ids(self, entity: str, criteria: Criteria, limit: int) -> list[str]:
        return await self._first_matching("db_id", entity, criteria, limit)

    async def matching_each(
        self, entity: str, criteria: Sequence[Criteria], limit: int
    ) -> list[list[dict[str, Any]]]:
        """One ``UNION ALL`` branch per criteria, each the statement ``matching`` runs, tagged
        with its place; the text varies only with how many there are (a page's rows)."""
        if not criteria:
            return []
        params: dict[str, Any] = {"entity": entity, "limit": limit}
        wheres = await self._wheres([(each, f"g{n}") for n, each in enumerate(criteria)], params)
        branches = [
            f"(SELECT {n} AS n, db_id, body FROM domain.resources WHERE {where} "
            "ORDER BY db_id LIMIT %(limit)s)"
            for n, where in enumerate(wheres)
        ]
        driver = await driver_connection(self._connection)
        cursor = driver.cursor(binary=True)
        union = " UNION ALL ".join(branches)
        await cursor.execute(
            f"SELECT n, body FROM ({union}) b ORDER BY n, db_id",
            params,
            prepare=PLANNED_PER_CALL,  # a list of DbIds (ADR 0349, 0353)
        )
        found: list[list[dict[str, Any]]] = [[] for _ in criteria]
        for n, body in await cursor.fetchall():
            found[n].append(_decode(body))
        return found

    async def lineage(
        self, entity: str, root: str, link: Sequence[str], generations: int
    ) -> dict[str, dict[str, Any]]:
        driver = await driver_connection(self._connection)
        cursor = driver.cursor(binary=True)
        await cursor.execute(
            _LINEAGE,
            {"entity": entity, "root": root, "link": jsonpath(link), "generations": generations},
        )
        return {db_id: _decode(body) for db_id, body in await cursor.fetchall()}

    async def reachable(
        self, entity: str, roots: Sequence[str], link: Sequence[str]
    ) -> dict[str, list[str]]:
        if not roots:
            return {}
        driver = await driver_connection(self._connection)
        cursor = driver.cursor(binary=True)
        await cursor.execute(
            _REACHABLE,
            {"entity": entity, "roots": list(roots), "link": jsonpath(link)},
            prepare=PLANNED_PER_CALL,  # a list of DbIds (ADR 0349, 0353)
        )
        return {db_id: list(linked) for db_id, linked in await cursor.fetchall()}

    async def _linking(
        self, column: str, entity: str, link: Sequence[str], db_ids: Sequence[str]
    ) -> list[Any]:
        if not db_ids:
            return []
        driver = await driver_connection(self._connection)
        cursor = driver.cursor(binary=True)
        await cursor.execute(
            _LINKING.format(column=column),
            {"entity": entity, "link": jsonpath(link), "ids": list(db_ids)},
            prepare=PLANNED_PER_CALL,  # a list of DbIds (ADR 0349, 0353)
        )
        return [row[0] for row in await cursor.fetchall()]

    async def linking(
        self, entity: str, link: Sequence[str], db_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        return [_decode(body) for body in await self._linking("body", entity, link, db_ids)]

    async def linking_ids(
        self, entity: str, link: Sequence[str], db_ids: Sequence[str]
    ) -> list[str]:
        return await self._linking("db_id", entity, link, db_ids)

    async def take_turn(self, entity: str) -> None:
        driver = await driver_connection(self._connection)
        await driver.execute(_TAKE_TURN, {"entity": entity})

    async def insert(self, entity: str, documents: Sequence[tuple[str, dict[str, Any]]]) -> None:
        await self._write(_INSERT, entity, documents)

    async def update(self, entity: str, documents: Sequence[tuple[str, dict[str, Any]]]) -> None:
        await self._write(_UPDATE, entity, documents)

    async def _write(
        self, statement: str, entity: str, documents: Sequence[tuple[str, dict[str, Any]]]
    ) -> None:
        if not documents:
            return
        self._written.add(entity)
        driver = await driver_connection(self._connection)
        await driver.cursor(binary=True).execute(
            statement,
            {
                "entity": entity,
                "ids": [db_id for db_id, _ in documents],
                "bodies": [_encode(document) for _, document in documents],
            },
        )

    async def soft_delete(self, entity: str, db_ids: Sequence[str]) -> None:
        self._written.add(entity)
        await self._connection.execute(_SOFT_DELETE, {"entity": entity, "ids": list(db_ids)})
        # A deleted document's content is read by no one again (its row stays as history):
        # it goes, so the space counts no more against the organization's cap (ADR 0343).
        await self._connection.execute(_DROP_CONTENTS, {"entity": entity, "ids": list(db_ids)})

    async def stream(
        self, entity: str, criteria: Criteria, order: Sequence[str], chunk_size: int
    ) -> AsyncIterator[list[dict[str, Any]]]:
        params: dict[str, Any] = {"entity": entity}
        keys = []
        for i, name in enumerate(order):
            params[f"o{i}"] = name
            keys.append(f"document->>CAST(%(o{i})s AS text)")
        # A season's observations (100,000 rows of ~1 kB) sort in memory, not in temp files;
        # LOCAL: the setting ends with this read transaction.
        await self._connection.execute(text("SET LOCAL work_mem = '128MB'"))
        (where,) = await self._wheres([(criteria, "")], params)
        driver = await driver_connection(self._connection)
        # A server-side cursor in binary: bodies arrive as their bytes, not as hex text.
        async with driver.cursor(name="resource_stream", binary=True) as cursor:
            await cursor.execute(
                f"SELECT body FROM domain.resources WHERE {where} "
                f"ORDER BY {', '.join([*keys, 'db_id'])}",
                params,
            )
            while rows := await cursor.fetchmany(chunk_size):
                yield [_decode(body) for (body,) in rows]

    async def distinct_values(self, entity: str, criteria: Criteria, field: str) -> list[Any]:
        params: dict[str, Any] = {"entity": entity, "field": field}
        (where,) = await self._wheres([(criteria, "")], params)
        driver = await driver_connection(self._connection)
        cursor = driver.cursor(binary=True)
        await cursor.execute(
            "SELECT DISTINCT document->CAST(%(field)s AS text) FROM domain.resources "
            f"WHERE {where} AND document->CAST(%(field)s AS text) <> 'null'",
            params,
            prepare=PLANNED_PER_CALL,  # a list of DbIds (ADR 0349, 0353)
        )
        return [value for (value,) in await cursor.fetchall() if value is not None]

    async def put_content(self, entity: str, db_id: str, media_type: str, content: bytes) -> None:
        self.stored_bytes += len(content)
        await self._connection.execute(
            text(
                "INSERT INTO domain.resource_contents (tenant_id, entity, db_id, media_type, "
                "content) "
                "VALUES (nullif(current_setting('app.tenant_id', true), '')::uuid, :entity, "
                ":db_id, :media_type, :content) "
                "ON CONFLICT (tenant_id, entity, db_id) DO UPDATE SET media_type = "
                "excluded.media_type, "
                "content = excluded.content, updated_at = now()"
            ),
            {"entity": entity, "db_id": db_id, "media_type": media_type, "content": content},
        )

    async def content(self, entity: str, db_id: str) -> tuple[str, bytes] | None:
        row = (
            await self._connection.execute(
                text(
                    "SELECT c.media_type, c.content FROM domain.resource_contents c "
                    "JOIN domain.resources r USING (tenant_id, entity, db_id) "
                    "WHERE c.entity = :entity AND c.db_id = :db_id AND r.deleted_at IS NULL"
                ),
                {"entity": entity, "db_id": db_id},
            )
        ).one_or_none()
        return None if row is None else (row[0], bytes(row[1]))

    async def distinct(self, sources: Sequence[tuple[str, str]], page: PageRequest) -> DocumentPage:
        params: dict[str, Any] = {"limit": page.page_size, "offset": page.offset}
        selects = []
        for i, (entity, field) in enumerate(sources):
            params[f"e{i}"], params[f"f{i}"] = entity, field
            selects.append(
                f"SELECT document->>CAST(:f{i} AS text) AS v FROM domain.resources "
                f"WHERE entity = :e{i} AND {_LIVE} "
                f"AND jsonb_typeof(document->CAST(:f{i} AS text)) = 'string'"
            )
        union = " UNION ".join(selects)
        row = (
            await self._connection.execute(
                text(
                    f"WITH v AS ({union}) SELECT (SELECT count(*) FROM v), "
                    "(SELECT count(*) FROM (SELECT v FROM v ORDER BY v LIMIT :limit OFFSET "
                    ":offset) s), "
                    "(SELECT json_agg(v ORDER BY v)::text FROM (SELECT v FROM v ORDER BY v "
                    "LIMIT :limit OFFSET :offset) s)"
                ),
                params,
            )
        ).one()
        return DocumentPage((row[2] or "[]").encode(), int(row[1]), int(row[0]), page)
