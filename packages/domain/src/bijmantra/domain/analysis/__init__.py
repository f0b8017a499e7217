"""Analysis context: genomic analysis jobs, their attempts and outcomes."""

from bijmantra.domain.analysis.model import (
    ANALYSIS_PARAMETERS,
    AnalysisJob,
    AnalysisType,
    JobStatus,
)

__all__ = ["ANALYSIS_PARAMETERS", "AnalysisJob", "AnalysisType", "JobStatus"]
