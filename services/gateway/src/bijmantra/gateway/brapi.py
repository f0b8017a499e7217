"""BrAPI v2.1 routes, generated from the engine's catalog: one declaration, every route.

Documents from domain-api arrive as encoded JSON (a page as one JSON array) and are
spliced into the envelope as bytes; the gateway never decodes them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from bijmantra.application.brapi.entity import Catalog, Entity, Op
from bijmantra.application.genotyping.views import LIST_FILTERS
from bijmantra.application.ports.documents import DocumentPage
from bijmantra.application.security import Action, Permission, permissions
from bijmantra.edge import REPEATABLE
from bijmantra.edge.envelopes import brapi_metadata
from bijmantra.edge.query import integer_value
from bijmantra.gateway.spreadsheet import safe_row
from bijmantra.genomics._matrix_json import expand_codes
from bijmantra.kernel import FieldError, NotFound, PageRequest, ValidationFailed
from litestar import HttpMethod, Request, Response
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.response import Stream
from litestar.types import Empty

JSON = "application/json"
PREFIX = "/brapi/v2"
BRAPI_CONTEXT = b'["https://brapi.org/jsonld/context/metadata.jsonld"]'
_encode = msgspec.json.encode
PAGING = frozenset({"page", "pageSize", "pageToken"})

AnyRequest = Request[Any, Any, Any]
Handler = Callable[..., Awaitable[Response[bytes] | Stream]]


def int_param(request: AnyRequest, name: str, default: int) -> int:
    return integer_value(name, request.query_params.get(name), default)


def page_request(request: AnyRequest) -> PageRequest:
    """``page`` (or v2.0's ``pageToken``, which this server spells as the page number)."""
    page = int_param(request, "pageToken", 0) if "page" not in request.query_params else 0
    return PageRequest(int_param(request, "page", page), int_param(request, "pageSize", 1000))


def query_of(request: AnyRequest) -> dict[str, list[str]]:
    return {k: request.query_params.getall(k) for k in request.query_params if k not in PAGING}


def _envelope(metadata: bytes, *result: bytes) -> bytes:
    """The BrAPI envelope around a result given in parts: one copy of a large page, not two."""
    return b"".join(
        (b'{"@context":', BRAPI_CONTEXT, b',"metadata":', metadata, b',"result":', *result, b"}")
    )


def list_response(page: DocumentPage, *, tokens: bool = False) -> Response[bytes]:
    pagination: dict[str, Any] = {
        "currentPage": page.request.page,
        "pageSize": page.request.page_size,
        "totalCount": page.total_count,
        "totalPages": page.total_pages,
    }
    if tokens:  # token-paged lists (calls, variants): the tokens are page numbers; "" = none
        current = page.request.page
        pagination["currentPageToken"] = str(current)
        pagination["nextPageToken"] = str(current + 1) if current + 1 < page.total_pages else ""
        pagination["prevPageToken"] = str(current - 1) if current > 0 else None
    metadata = {
        "datafiles": [],
        "pagination": pagination,
        "status": [
            {"message": f"{page.count} of {page.total_count} result(s)", "messageType": "INFO"}
        ],
    }
    body = _envelope(_encode(metadata), b'{"data":', page.documents, b"}")
    return Response(body, media_type=JSON)


_SINGLE_PAGINATION = {"currentPage": 0, "pageSize": 1, "totalCount": 1, "totalPages": 1}


def single_metadata(message: str) -> bytes:
    """Metadata of a one-object result (strict OpenAPI 3.0 reads ``pagination`` as non-null)."""
    return _encode(
        {**brapi_metadata(messages=[("INFO", message)]), "pagination": _SINGLE_PAGINATION}
    )


def single_response(document: bytes, message: str = "Success") -> Response[bytes]:
    metadata = single_metadata(message)
    return Response(_envelope(metadata, document), media_type=JSON)


def document_response(page: DocumentPage) -> Response[bytes]:
    """A page that is one document (the allele matrix); a coded matrix (ADR 0295) is
    written out in C straight into the body, between the envelope's head and tail."""
    if page.coded is None:
        return single_response(page.documents)
    coded = page.coded
    head = _envelope(single_metadata("Success"), page.documents)[:-1]  # without its "}"
    body = expand_codes(
        head, coded.codes, coded.rows, coded.columns, coded.tokens, coded.tail + b"}"
    )
    return Response(body, media_type=JSON)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # BrAPI path, e.g. "/germplasm/{germplasmDbId}"
    handler: Handler
    permission: Permission | None
    status_code: int = 200
    max_body: int | None = None  # bytes; larger requests get 413 before reaching a handler
    data_types: tuple[str, ...] = ("application/json",)  # what ``/serverinfo`` advertises

    def mount(self, repeatable: frozenset[str] = frozenset()) -> HTTPRouteHandler:
        """The route, taking several values of each ``repeatable`` query parameter."""
        param = _param(self.path)
        litestar_path = PREFIX + (
            self.path.replace("{" + param + "}", "{db_id:str}") if param else self.path
        )
        opt: dict[str, Any] = {REPEATABLE: repeatable}
        opt |= {"permission": self.permission} if self.permission else {"public": True}
        return HTTPRouteHandler(
            path=litestar_path,
            http_method=HttpMethod(self.method),
            opt=opt,
            status_code=self.status_code,
            # Empty: the application's limit applies (None would lift every limit).
            request_max_body_size=self.max_body or Empty,
        )(self.handler)


def _param(path: str) -> str | None:
    if "{" not in path:
        return None
    return path[path.index("{") + 1 : path.index("}")]


def entity_routes(entity: Entity, catalog: Catalog) -> list[Route]:
    """Every route of one declared entity (and its children, views and item appends)."""
    name, base, one = entity.name, f"/{entity.path}", f"/{entity.path}/{{{entity.db_id}}}"
    read, write = permissions(entity.context, Action.READ, Action.WRITE)
    routes: list[Route] = []

    async def list_(request: AnyRequest, state: State) -> Response[bytes]:
        paging = PageRequest(0, 1) if entity.single and not entity.view else page_request(request)
        page = await state.pages.list(
            request.auth, request.user.tenant_id, name, query_of(request), paging
        )
        if entity.single and not entity.view:  # the organization's one document
            if not page.count:
                raise NotFound(f"This organization has no {entity.schema}")
            return single_response(page.documents[1:-1])
        if entity.single:
            return document_response(page)
        return list_response(page, tokens=entity.token_paging)

    async def submit(request: AnyRequest, state: State) -> Response[bytes]:
        body = (await request.body()).strip()
        if not body.startswith(b"{"):
            raise ValidationFailed(
                f"Request body must be one {entity.request_schema} object",
                [FieldError("body", "expected object")],
            )
        page = await state.brapi.create(request.auth, name, b"[" + body + b"]")
        [created] = msgspec.json.decode(page.documents)
        return single_response(_encode({entity.db_id: created[entity.db_id]}), "Submitted")

    async def create(request: AnyRequest, state: State) -> Response[bytes]:
        return list_response(await state.brapi.create(request.auth, name, await request.body()))

    async def update_many(request: AnyRequest, state: State) -> Response[bytes]:
        page = await state.brapi.update_many(request.auth, name, await request.body())
        return list_response(page, tokens=entity.token_paging)

    async def derive(request: AnyRequest, state: State) -> Response[bytes]:
        page = await state.brapi.create(request.auth, name, await request.body())
        return single_response(page.documents[1:-1], "Created")

    async def get(request: AnyRequest, state: State, db_id: str) -> Response[bytes]:
        return single_response(await state.brapi.get(request.auth, name, db_id))

    async def update(request: AnyRequest, state: State, db_id: str) -> Response[bytes]:
        return single_response(
            await state.brapi.update(request.auth, name, db_id, await request.body()), "Updated"
        )

    async def search(request: AnyRequest, state: State) -> Response[bytes]:
        search_id = await state.brapi.search(request.auth, name, await request.body())
        result = _encode({"searchResultsDbId": search_id})
        body = _envelope(single_metadata("Search results are ready"), result)
        return Response(body, media_type=JSON, status_code=202)

    async def search_results(request: AnyRequest, state: State, db_id: str) -> Response[bytes]:
        page = await state.brapi.search_results(request.auth, name, db_id, page_request(request))
        if entity.single:
            return document_response(page)
        return list_response(page, tokens=entity.token_paging)

    async def delete(request: AnyRequest, state: State) -> Response[bytes]:
        db_ids = await state.brapi.delete(request.auth, name, await request.body())
        return single_response(_encode({f"{entity.db_id}s": db_ids}), "Deleted")

    table = {
        Op.LIST: [Route("GET", base, list_, read)],
        Op.CREATE: [Route("POST", base, create, write)],
        Op.UPDATE_MANY: [Route("PUT", base, update_many, write)],
        Op.GET: [Route("GET", one, get, read)],
        Op.UPDATE: [Route("PUT", one, update, write)],
        Op.SEARCH: [
            Route("POST", f"/search{base}", search, read, 202),
            Route("GET", f"/search{base}/{{searchResultsDbId}}", search_results, read),
        ],
        Op.DELETE: [Route("POST", f"/delete{base}", delete, write)],
        Op.SUBMIT: [Route("POST", base, submit, write)],
    }
    for op in Op:
        if op in entity.operations:
            routes += table[op]
    if entity.derive is not None:
        routes.append(Route("POST", f"{base}/{entity.derive}", derive, write))
    for suffix, field in entity.appends.items():
        routes.append(Route("POST", f"{one}/{suffix}", _append_handler(name, suffix, field), write))
    for suffix, (child, _) in entity.children.items():
        tokens = catalog.entity(child).token_paging
        routes.append(
            Route("GET", f"{one}/{suffix}", _children_handler(name, suffix, tokens), read)
        )
    for suffix in entity.tables:
        handler = _table_handler(name, suffix)
        routes.append(Route("GET", f"{base}/{suffix}", handler, read, data_types=TABLE_DATA_TYPES))
    if entity.content is not None:
        suffix, policy = entity.content
        routes += [
            Route(
                "PUT",
                f"{one}/{suffix}",
                _put_content_handler(name),
                write,
                max_body=policy.max_bytes,
            ),
            Route("GET", f"{one}/{suffix}", _content_handler(name), read),
        ]
    for (view_entity, suffix), declared in catalog.views.items():
        if view_entity == name and declared.published:
            routes.append(Route("GET", f"{one}/{suffix}", _view_handler(name, suffix), read))
    return routes


def _append_handler(entity: str, suffix: str, field: str) -> Handler:
    async def append(request: AnyRequest, state: State, db_id: str) -> Response[bytes]:
        return single_response(
            await state.brapi.append(request.auth, entity, db_id, suffix, await request.body())
        )

    return append


def _children_handler(entity: str, suffix: str, tokens: bool) -> Handler:
    async def children(request: AnyRequest, state: State, db_id: str) -> Response[bytes]:
        page = await state.brapi.children(
            request.auth, entity, db_id, suffix, query_of(request), page_request(request)
        )
        return list_response(page, tokens=tokens)

    return children


def _view_handler(entity: str, suffix: str) -> Handler:
    async def view(request: AnyRequest, state: State, db_id: str) -> Response[bytes]:
        query = {k: request.query_params.getall(k) for k in request.query_params}  # pageToken too
        document = await state.brapi.view(request.auth, entity, db_id, suffix, query)
        return single_response(document)

    return view


MAX_DECLARED = 1 << 62  # a Content-Length past any body bound still fits the check's int64


def _put_content_handler(entity: str) -> Handler:
    async def put_content(request: AnyRequest, state: State, db_id: str) -> Response[bytes]:
        media_type = request.headers.get("content-type", "")
        # Before the body is read: refused when the day of uploads has no room for its
        # declared length (ADR 0340).
        declared = request.headers.get("content-length", "")
        size = min(int(declared), MAX_DECLARED) if declared.isdigit() else 0
        await state.brapi.check_content(request.auth, entity, size)
        document = await state.brapi.put_content(
            request.auth, entity, db_id, media_type, await request.body()
        )
        return single_response(document, "Updated")

    return put_content


def _content_handler(entity: str) -> Handler:
    async def content(request: AnyRequest, state: State, db_id: str) -> Response[bytes]:
        media_type, body = await state.brapi.content(request.auth, entity, db_id)
        return Response(body, media_type=media_type)

    return content


TABLE_TYPES = {"text/csv": ",", "text/tsv": "\t", "text/tab-separated-values": "\t"}
# The BrAPI ``dataTypes`` enum names these two; the IANA TSV type is accepted as an alias.
TABLE_DATA_TYPES = (JSON, "text/csv", "text/tsv")


def _table_handler(entity: str, suffix: str) -> Handler:
    """A streamed table in JSON, CSV or TSV (``Accept``); the header is read before the
    status is sent, so a bad query is still a clean 4xx."""

    async def table(request: AnyRequest, state: State) -> Stream:
        accept = request.headers.get("accept", "")
        media_type = next((t for t in TABLE_TYPES if t in accept), JSON)
        chunks = state.brapi.table(request.auth, entity, suffix, query_of(request))
        first = await anext(chunks)
        if media_type == JSON:
            return Stream(_json_table(first, chunks), media_type=JSON)
        body = _delimited_table(first, chunks, TABLE_TYPES[media_type])
        return Stream(body, media_type=media_type)

    return table


async def _rest(first: Any, chunks: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    """Every chunk's ``rows_json`` (a JSON array), the first chunk's included."""
    if first.rows_json:
        yield first.rows_json
    async for chunk in chunks:
        if chunk.rows_json:
            yield chunk.rows_json


async def _json_table(first: Any, chunks: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    metadata = _encode(brapi_metadata(messages=[("INFO", "Success")]))
    yield b"".join(
        (
            b'{"@context":',
            BRAPI_CONTEXT,
            b',"metadata":',
            metadata,
            b',"result":{"headerRow":',
            first.header_row_json,
            b',"observationVariables":',
            first.observation_variables_json,
            b',"data":[',
        )
    )
    separator = b""
    async for rows in _rest(first, chunks):
        inner = rows[1:-1]
        if inner:
            yield separator + inner
            separator = b","
    yield b"]}}"


async def _delimited_table(
    first: Any, chunks: AsyncIterator[Any], delimiter: str
) -> AsyncIterator[bytes]:
    """BrAPI's CSV/TSV: header names then variable DbIds; a second row of variable names."""
    header = msgspec.json.decode(first.header_row_json)
    variables = msgspec.json.decode(first.observation_variables_json)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, quoting=csv.QUOTE_ALL, lineterminator="\n")

    def flush() -> bytes:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text.encode()

    # Every cell, header rows too (variable names are user text), is spreadsheet-safe.
    writer.writerow(safe_row([*header, *(v["observationVariableDbId"] for v in variables)]))
    writer.writerow(
        safe_row([*("" for _ in header), *(v["observationVariableName"] or "" for v in variables)])
    )
    yield flush()
    async for rows in _rest(first, chunks):
        writer.writerows(safe_row(row) for row in msgspec.json.decode(rows))
        yield flush()


def _vocabulary_handler(name: str) -> Handler:
    async def vocabulary(request: AnyRequest, state: State) -> Response[bytes]:
        return list_response(
            await state.brapi.vocabulary(request.auth, name, page_request(request))
        )

    return vocabulary


def catalog_routes(catalog: Catalog) -> list[Route]:
    routes = [r for entity in catalog.entities.values() for r in entity_routes(entity, catalog)]
    for vocabulary in catalog.vocabularies.values():
        routes.append(
            Route(
                "GET",
                f"/{vocabulary.path}",
                _vocabulary_handler(vocabulary.name),
                Permission(vocabulary.context, Action.READ),
            )
        )
    routes.append(Route("GET", "/serverinfo", _serverinfo_handler(routes), None))
    return routes


def _serverinfo_handler(routes: list[Route]) -> Handler:
    """``/serverinfo`` lists exactly the routes mounted (itself included)."""
    by_service: dict[str, set[str]] = {"serverinfo": {"GET"}}
    data_types: dict[str, set[str]] = {"serverinfo": {JSON}}
    for route in routes:
        service = route.path.removeprefix("/")
        by_service.setdefault(service, set()).add(route.method)
        data_types.setdefault(service, set()).update(route.data_types)
    calls = [
        {
            "service": service,
            "methods": sorted(methods),
            "versions": ["2.1"],
            "dataTypes": sorted(data_types[service]),
            "contentTypes": ["application/json"],
        }
        for service, methods in sorted(by_service.items())
    ]
    result = {
        "calls": calls,
        "contactEmail": "support@bijmantra.org",
        "documentationURL": "https://brapi.org/specification",
        "location": None,
        "organizationName": "Bijmantra",
        "organizationURL": "https://bijmantra.org",
        "serverDescription": "Bijmantra plant-breeding data platform",
        "serverName": "Bijmantra",
    }
    body = _envelope(single_metadata("Success"), _encode(result))

    async def serverinfo() -> Response[bytes]:
        return Response(body, media_type=JSON)

    return serverinfo


def repeatable_filters(catalog: Catalog) -> frozenset[str]:
    """The BrAPI query parameters that may be given more than once, any value matching (ADR
    0314): the entities' filters and the genotype views' lists. Paging, range bounds, the
    one ``positionRange`` and the response-shaping flags take one value."""
    entities = catalog.entities.values()
    filters = {name for entity in entities for name in entity.filters} | set(LIST_FILTERS)
    bounds = {name for entity in entities for name in entity.bounds}
    return frozenset(filters - bounds - PAGING - {"positionRange"})


def route_handlers(catalog: Catalog) -> list[HTTPRouteHandler]:
    repeatable = repeatable_filters(catalog)
    return [route.mount(repeatable) for route in catalog_routes(catalog)]
