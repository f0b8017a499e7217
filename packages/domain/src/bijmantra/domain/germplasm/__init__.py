"""Germplasm bounded context: the rules BrAPI documents alone cannot express."""

from bijmantra.domain.germplasm.accessions import acquisition_date_problem
from bijmantra.domain.germplasm.pedigree import PedigreeCycle, find_cycle
from bijmantra.domain.germplasm.seedlots import InsufficientSeed, SeedLotTransfer, apply_transfers

__all__ = [
    "InsufficientSeed",
    "PedigreeCycle",
    "SeedLotTransfer",
    "acquisition_date_problem",
    "apply_transfers",
    "find_cycle",
]
