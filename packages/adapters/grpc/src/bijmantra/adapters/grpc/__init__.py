"""gRPC adapter: clients of other services, token verification, the shared error codec."""

from bijmantra.adapters.grpc.audit import AuditClient
from bijmantra.adapters.grpc.auth import IdentitySigningKeys, JwtVerifier, bearer_metadata
from bijmantra.adapters.grpc.errors import (
    ErrorInterceptor,
    abort_with,
    error_from_rpc,
    rpc_error_metadata,
)
from bijmantra.adapters.grpc.genotyping import (
    CHANNEL_OPTIONS,
    MESSAGE_SIZE_OPTIONS,
    AnalysisClient,
    AnalysisWorkerClient,
    DosageChunk,
    GenotypingClient,
    WorkerClaim,
)
from bijmantra.adapters.grpc.operations import OperationsClient
from bijmantra.adapters.grpc.resources import ResourceClient
from bijmantra.adapters.grpc.sensors import SensorsClient

__all__ = [
    "CHANNEL_OPTIONS",
    "MESSAGE_SIZE_OPTIONS",
    "AnalysisClient",
    "AnalysisWorkerClient",
    "AuditClient",
    "DosageChunk",
    "ErrorInterceptor",
    "GenotypingClient",
    "IdentitySigningKeys",
    "JwtVerifier",
    "OperationsClient",
    "ResourceClient",
    "SensorsClient",
    "WorkerClaim",
    "abort_with",
    "bearer_metadata",
    "error_from_rpc",
    "rpc_error_metadata",
]
