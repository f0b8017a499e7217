"""Operations: seasons of work, work items on boards, dependencies, comments, time,
activity, and the links to trials (plot order, phenotyping rounds, harvested seed lots)."""

from bijmantra.application.operations.breeding import (
    COMPLETED,
    HARVEST_CONSUMER,
    BrapiBreedingRecords,
    BreedingLinks,
    RecordHarvest,
    harvest_lot_id,
)
from bijmantra.application.operations.collaboration import Collaboration, add_edge
from bijmantra.application.operations.items import READ, WRITE, SeasonCommands, WorkItemCommands
from bijmantra.application.operations.queries import OperationsQueries, item_filter
from bijmantra.application.ports.operations import (
    BreedingRecords,
    ItemFilter,
    OperationsRepository,
    SeasonTask,
)

__all__ = [
    "COMPLETED",
    "HARVEST_CONSUMER",
    "READ",
    "WRITE",
    "BrapiBreedingRecords",
    "BreedingLinks",
    "BreedingRecords",
    "Collaboration",
    "ItemFilter",
    "OperationsQueries",
    "OperationsRepository",
    "RecordHarvest",
    "SeasonCommands",
    "SeasonTask",
    "WorkItemCommands",
    "add_edge",
    "harvest_lot_id",
    "item_filter",
]
