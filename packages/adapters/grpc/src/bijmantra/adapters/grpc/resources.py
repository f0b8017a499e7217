"""Client of domain-api's generic BrAPI ResourceService; forwards the caller's token."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from bijmantra.adapters.grpc.calls import call_with_token, stream_with_token
from bijmantra.application.ports.documents import CodedMatrix, DocumentPage
from bijmantra.contracts.brapi.v1 import resource_service_pb2 as pb
from bijmantra.contracts.brapi.v1 import resource_service_pb2_grpc as pb_grpc
from bijmantra.kernel import PageRequest

import grpc

TABLE_TIMEOUT = 600.0  # a streamed table of a whole season may take minutes to read
Query = Mapping[str, Sequence[str]]


def _query(query: Query) -> dict[str, pb.Values]:
    return {name: pb.Values(values=list(values)) for name, values in query.items()}


def _page(page: PageRequest) -> pb.PageRequest:
    return pb.PageRequest(page=page.page, page_size=page.page_size)


def _document_page(response: Any, page: PageRequest) -> DocumentPage:
    """Any ``<Rpc>Response`` that carries a ``page``."""
    coded = None
    if response.page.HasField("coded"):
        found = response.page.coded
        coded = CodedMatrix(
            found.codes, found.rows, found.columns, list(found.tokens), found.tail_json
        )
    return DocumentPage(
        response.page.documents_json,
        response.page.count,
        response.page.total_count,
        page,
        version=response.page.version,
        coded=coded,
    )


def _written(response: Any) -> DocumentPage:
    """The page of what a create or bulk update wrote: all of it, as one page."""
    return _document_page(response, PageRequest(0, max(response.page.count, 1)))


class ResourceClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = pb_grpc.ResourceServiceStub(channel)

    async def list(self, token: str, entity: str, query: Query, page: PageRequest) -> DocumentPage:
        found = await self.list_if_changed(token, entity, query, page, known_version=0)
        assert found is not None  # no known version: always a page
        return found

    async def list_if_changed(
        self,
        token: str,
        entity: str,
        query: Query,
        page: PageRequest,
        *,
        known_version: int,
        contains: str = "",
    ) -> DocumentPage | None:
        """A page, or ``None`` when the caller's copy read at ``known_version`` is current;
        ``contains``: the console's name search (ADR 0385)."""
        request = pb.ListResourcesRequest(
            entity=entity,
            query=_query(query),
            page=_page(page),
            known_version=known_version,
            contains=contains,
        )
        response = await call_with_token(self._stub.ListResources, request, token)
        return None if response.unchanged else _document_page(response, page)

    async def get(self, token: str, entity: str, db_id: str) -> bytes:
        request = pb.GetResourceRequest(entity=entity, db_id=db_id)
        return (await call_with_token(self._stub.GetResource, request, token)).document_json

    async def view(
        self, token: str, entity: str, db_id: str, view: str, query: Query | None = None
    ) -> bytes:
        request = pb.GetViewRequest(
            entity=entity, db_id=db_id, view=view, query=_query(query or {})
        )
        return (await call_with_token(self._stub.GetView, request, token)).document_json

    async def children(
        self, token: str, entity: str, db_id: str, children: str, query: Query, page: PageRequest
    ) -> DocumentPage:
        request = pb.ListChildrenRequest(
            entity=entity, db_id=db_id, children=children, query=_query(query), page=_page(page)
        )
        return _document_page(await call_with_token(self._stub.ListChildren, request, token), page)

    async def vocabulary(self, token: str, vocabulary: str, page: PageRequest) -> DocumentPage:
        request = pb.ListVocabularyRequest(vocabulary=vocabulary, page=_page(page))
        return _document_page(
            await call_with_token(self._stub.ListVocabulary, request, token), page
        )

    async def create(self, token: str, entity: str, body: bytes) -> DocumentPage:
        request = pb.CreateResourcesRequest(entity=entity, body_json=body)
        return _written(await call_with_token(self._stub.CreateResources, request, token))

    async def update(self, token: str, entity: str, db_id: str, body: bytes) -> bytes:
        request = pb.UpdateResourceRequest(entity=entity, db_id=db_id, body_json=body)
        return (await call_with_token(self._stub.UpdateResource, request, token)).document_json

    async def update_many(self, token: str, entity: str, body: bytes) -> DocumentPage:
        request = pb.UpdateResourcesRequest(entity=entity, body_json=body)
        return _written(await call_with_token(self._stub.UpdateResources, request, token))

    async def append(self, token: str, entity: str, db_id: str, field: str, body: bytes) -> bytes:
        request = pb.AppendItemsRequest(entity=entity, db_id=db_id, field=field, body_json=body)
        return (await call_with_token(self._stub.AppendItems, request, token)).document_json

    async def search(self, token: str, entity: str, body: bytes) -> str:
        response = await call_with_token(
            self._stub.Search, pb.SearchRequest(entity=entity, body_json=body), token
        )
        return response.search_results_db_id

    async def search_results(
        self, token: str, entity: str, search_id: str, page: PageRequest
    ) -> DocumentPage:
        request = pb.GetSearchResultsRequest(
            entity=entity, search_results_db_id=search_id, page=_page(page)
        )
        return _document_page(
            await call_with_token(self._stub.GetSearchResults, request, token), page
        )

    async def delete(self, token: str, entity: str, body: bytes) -> builtins.list[str]:
        request = pb.DeleteResourcesRequest(entity=entity, body_json=body)
        return list((await call_with_token(self._stub.DeleteResources, request, token)).db_ids)

    def table(
        self, token: str, entity: str, table: str, query: Query
    ) -> AsyncIterator[pb.StreamTableResponse]:
        """The table's chunks as they arrive; the first carries the header."""
        request = pb.StreamTableRequest(entity=entity, table=table, query=_query(query))
        return stream_with_token(self._stub.StreamTable, request, token, TABLE_TIMEOUT)

    async def put_content(
        self, token: str, entity: str, db_id: str, media_type: str, content: bytes
    ) -> bytes:
        request = pb.PutContentRequest(
            entity=entity, db_id=db_id, media_type=media_type, content=content
        )
        return (await call_with_token(self._stub.PutContent, request, token)).document_json

    async def check_content(self, token: str, entity: str, size: int) -> None:
        """Raise the quota's 429 when the organization's day of uploads has no room for
        ``size`` bytes (ADR 0340): asked before the body is read."""
        request = pb.CheckContentRequest(entity=entity, size=size)
        await call_with_token(self._stub.CheckContent, request, token, keyed=False)

    async def content(self, token: str, entity: str, db_id: str) -> tuple[str, bytes]:
        request = pb.GetContentRequest(entity=entity, db_id=db_id)
        response = await call_with_token(self._stub.GetContent, request, token)
        return response.media_type, response.content
