"""Analysis context: genomic analysis jobs, their attempts and outcomes."""

from bijmantra.domain.analysis.model import (
    ANALYSIS_PARAMETERS,
    AnalysisJob,
    AnalysisType,
    JobStatus,
)
from bijmantra.domain.analysis.results import MAX_PAGE_VALUES, check_matrix_page

__all__ = [
    "ANALYSIS_PARAMETERS",
    "MAX_PAGE_VALUES",
    "AnalysisJob",
    "AnalysisType",
    "JobStatus",
    "check_matrix_page",
]
