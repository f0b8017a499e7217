"""Germplasm bounded context: the rules BrAPI documents alone cannot express."""

from bijmantra.domain.germplasm.accessions import acquisition_date_problem
from bijmantra.domain.germplasm.pedigree import (
    MAX_CHART_GENERATIONS,
    ChartNode,
    PedigreeCycle,
    ancestry_chart,
    find_cycle,
)
from bijmantra.domain.germplasm.seedlots import InsufficientSeed, SeedLotTransfer, apply_transfers

__all__ = [
    "MAX_CHART_GENERATIONS",
    "ChartNode",
    "InsufficientSeed",
    "PedigreeCycle",
    "SeedLotTransfer",
    "acquisition_date_problem",
    "ancestry_chart",
    "apply_transfers",
    "find_cycle",
]
