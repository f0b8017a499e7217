"""Analysis use cases: jobs for users, and the attempt protocol for worker replicas."""

from bijmantra.application.analysis.dto import AnalysisRequest, job_document
from bijmantra.application.analysis.jobs import (
    MAX_ACTIVE_PER_ORGANIZATION,
    CancelAnalysis,
    DeleteAnalysis,
    GetAnalysis,
    GetArtifact,
    GetResultPage,
    ListAnalyses,
    ListVariantSetAnalyses,
    RequestAnalysis,
    decode_request,
)
from bijmantra.application.analysis.worker import (
    AttachFigures,
    Claim,
    ClaimAnalysis,
    CompleteAnalysis,
    FailAnalysis,
    ReportProgress,
    ReserveAnalysis,
    StreamJobGenotypes,
)
from bijmantra.application.ports.analysis import Artifact, ResultIndex

__all__ = [
    "MAX_ACTIVE_PER_ORGANIZATION",
    "AnalysisRequest",
    "Artifact",
    "AttachFigures",
    "CancelAnalysis",
    "Claim",
    "ClaimAnalysis",
    "CompleteAnalysis",
    "DeleteAnalysis",
    "FailAnalysis",
    "GetAnalysis",
    "GetArtifact",
    "GetResultPage",
    "ListAnalyses",
    "ListVariantSetAnalyses",
    "ReportProgress",
    "RequestAnalysis",
    "ReserveAnalysis",
    "ResultIndex",
    "StreamJobGenotypes",
    "decode_request",
    "job_document",
]
