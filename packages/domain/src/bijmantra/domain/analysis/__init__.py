"""Analysis context: genomic analysis jobs, their attempts and outcomes."""

from bijmantra.domain.analysis.figures import Withheld
from bijmantra.domain.analysis.memory import (
    DEFAULT_JOB_MEMORY,
    JobShape,
    memory_refusal,
    working_memory,
)
from bijmantra.domain.analysis.model import (
    ANALYSIS_PARAMETERS,
    MAX_ATTEMPTS,
    AnalysisJob,
    AnalysisType,
    JobStatus,
)
from bijmantra.domain.analysis.results import MAX_PAGE_VALUES, check_matrix_page

__all__ = [
    "ANALYSIS_PARAMETERS",
    "DEFAULT_JOB_MEMORY",
    "MAX_ATTEMPTS",
    "MAX_PAGE_VALUES",
    "AnalysisJob",
    "AnalysisType",
    "JobShape",
    "JobStatus",
    "Withheld",
    "check_matrix_page",
    "memory_refusal",
    "working_memory",
]
