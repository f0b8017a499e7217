"""Inbound gRPC for the operations context: each RPC hands its request to a use case."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bijmantra.application.operations import (
    BreedingLinks,
    Collaboration,
    OperationsQueries,
    SeasonCommands,
    WorkItemCommands,
)
from bijmantra.application.operations.dto import (
    dependency_data,
    encode,
    item_data,
    season_data,
)
from bijmantra.contracts.operations.v1 import operations_service_pb2 as pb
from bijmantra.contracts.operations.v1 import operations_service_pb2_grpc as pb_grpc
from bijmantra.domain.operations import Season, WorkItem, json_ready
from bijmantra.domain_api.grpc_api import current_principal
from bijmantra.domain_api.paging import page_fields, requested_page
from bijmantra.kernel import Page, PageRequest, Principal

ItemPages = Callable[[Principal, str, PageRequest], Awaitable[Page[bytes]]]


def _documents(page: Page[bytes]) -> pb.DocumentPage:
    return pb.DocumentPage(**page_fields(page, bytes))


def _season(season: Season) -> pb.Document:
    return pb.Document(document=encode(season_data(season)), etag=season.etag)


def _item(item: WorkItem) -> pb.Document:
    return pb.Document(document=encode(item_data(item)), etag=item.etag)


def _if_match(request: Any) -> str | None:
    return request.if_match if request.HasField("if_match") else None


@dataclass
class OperationsUseCases:
    seasons: SeasonCommands
    items: WorkItemCommands
    collaboration: Collaboration
    queries: OperationsQueries
    links: BreedingLinks


class OperationsServicer(pb_grpc.OperationsServiceServicer):
    def __init__(self, use: OperationsUseCases) -> None:
        self._use = use

    async def _item_page(self, read: ItemPages, request: Any) -> pb.DocumentPage:
        """One page of what hangs off an item (comments, time, dependencies, activity)."""
        page = requested_page(request)
        return _documents(await read(current_principal(), request.work_item_id, page))

    async def CreateSeason(
        self, request: pb.CreateSeasonRequest, context: Any
    ) -> pb.CreateSeasonResponse:
        season = await self._use.seasons.create(current_principal(), request.body)
        return pb.CreateSeasonResponse(season=_season(season))

    async def GetSeason(self, request: pb.GetSeasonRequest, context: Any) -> pb.GetSeasonResponse:
        document, etag = await self._use.queries.season(current_principal(), request.season_id)
        return pb.GetSeasonResponse(season=pb.Document(document=document, etag=etag))

    async def UpdateSeason(
        self, request: pb.UpdateSeasonRequest, context: Any
    ) -> pb.UpdateSeasonResponse:
        season = await self._use.seasons.update(
            current_principal(), request.season_id, request.body, _if_match(request)
        )
        return pb.UpdateSeasonResponse(season=_season(season))

    async def ListSeasons(
        self, request: pb.ListSeasonsRequest, context: Any
    ) -> pb.ListSeasonsResponse:
        page = await self._use.queries.seasons(current_principal(), requested_page(request))
        return pb.ListSeasonsResponse(page=_documents(page))

    async def GetBurndown(
        self, request: pb.GetBurndownRequest, context: Any
    ) -> pb.GetBurndownResponse:
        document = await self._use.queries.burndown(current_principal(), request.season_id)
        return pb.GetBurndownResponse(document=document)

    async def CreateWorkItem(
        self, request: pb.CreateWorkItemRequest, context: Any
    ) -> pb.CreateWorkItemResponse:
        item = await self._use.items.create(current_principal(), request.body)
        return pb.CreateWorkItemResponse(item=_item(item))

    async def GetWorkItem(
        self, request: pb.GetWorkItemRequest, context: Any
    ) -> pb.GetWorkItemResponse:
        document, etag = await self._use.queries.item(current_principal(), request.work_item_id)
        return pb.GetWorkItemResponse(item=pb.Document(document=document, etag=etag))

    async def UpdateWorkItem(
        self, request: pb.UpdateWorkItemRequest, context: Any
    ) -> pb.UpdateWorkItemResponse:
        item = await self._use.items.update(
            current_principal(), request.work_item_id, request.body, _if_match(request)
        )
        return pb.UpdateWorkItemResponse(item=_item(item))

    async def ListWorkItems(
        self, request: pb.ListWorkItemsRequest, context: Any
    ) -> pb.ListWorkItemsResponse:
        page = await self._use.queries.items(
            current_principal(), dict(request.filters), requested_page(request)
        )
        return pb.ListWorkItemsResponse(page=_documents(page))

    async def AddComment(
        self, request: pb.AddCommentRequest, context: Any
    ) -> pb.AddCommentResponse:
        comment = await self._use.collaboration.comment(
            current_principal(), request.work_item_id, request.body
        )
        return pb.AddCommentResponse(document=encode(json_ready(comment)))

    async def ListComments(
        self, request: pb.ListCommentsRequest, context: Any
    ) -> pb.ListCommentsResponse:
        return pb.ListCommentsResponse(
            page=await self._item_page(self._use.queries.comments, request)
        )

    async def AddTimeEntry(
        self, request: pb.AddTimeEntryRequest, context: Any
    ) -> pb.AddTimeEntryResponse:
        entry = await self._use.collaboration.log_time(current_principal(), request.body)
        return pb.AddTimeEntryResponse(document=encode(json_ready(entry)))

    async def ListTimeEntries(
        self, request: pb.ListTimeEntriesRequest, context: Any
    ) -> pb.ListTimeEntriesResponse:
        return pb.ListTimeEntriesResponse(
            page=await self._item_page(self._use.queries.time_entries, request)
        )

    async def AddDependency(
        self, request: pb.AddDependencyRequest, context: Any
    ) -> pb.AddDependencyResponse:
        dependency = await self._use.collaboration.depend(current_principal(), request.body)
        return pb.AddDependencyResponse(document=encode(dependency_data(dependency)))

    async def RemoveDependency(
        self, request: pb.RemoveDependencyRequest, context: Any
    ) -> pb.RemoveDependencyResponse:
        await self._use.collaboration.undepend(
            current_principal(), request.predecessor_id, request.successor_id
        )
        return pb.RemoveDependencyResponse()

    async def ListDependencies(
        self, request: pb.ListDependenciesRequest, context: Any
    ) -> pb.ListDependenciesResponse:
        return pb.ListDependenciesResponse(
            page=await self._item_page(self._use.queries.dependencies, request)
        )

    async def ListItemActivity(
        self, request: pb.ListItemActivityRequest, context: Any
    ) -> pb.ListItemActivityResponse:
        return pb.ListItemActivityResponse(
            page=await self._item_page(self._use.queries.activity, request)
        )

    async def GetPlotOrder(
        self, request: pb.GetPlotOrderRequest, context: Any
    ) -> pb.GetPlotOrderResponse:
        document = await self._use.links.plot_order(
            current_principal(), request.work_item_id, request.pattern or "serpentine"
        )
        return pb.GetPlotOrderResponse(document=document)

    async def GetRoundProgress(
        self, request: pb.GetRoundProgressRequest, context: Any
    ) -> pb.GetRoundProgressResponse:
        document = await self._use.links.round_progress(current_principal(), request.work_item_id)
        return pb.GetRoundProgressResponse(document=document)
