"""Germplasm bounded context: the rules BrAPI documents alone cannot express."""

from bijmantra.domain.germplasm.accessions import acquisition_date_problem
from bijmantra.domain.germplasm.pedigree import (
    MAX_CHART_GENERATIONS,
    ChartNode,
    Offspring,
    ParentLink,
    PedigreeCycle,
    PedigreeNode,
    ancestry_chart,
    find_cycle,
    pedigree_graph,
    progeny_by_parent,
    progeny_of,
)
from bijmantra.domain.germplasm.seedlots import (
    InsufficientSeed,
    SeedLotTransfer,
    apply_transfers,
    stored_amount,
    transfer_problems,
)

__all__ = [
    "MAX_CHART_GENERATIONS",
    "ChartNode",
    "InsufficientSeed",
    "Offspring",
    "ParentLink",
    "PedigreeCycle",
    "PedigreeNode",
    "SeedLotTransfer",
    "acquisition_date_problem",
    "ancestry_chart",
    "apply_transfers",
    "find_cycle",
    "pedigree_graph",
    "progeny_by_parent",
    "progeny_of",
    "stored_amount",
    "transfer_problems",
]
