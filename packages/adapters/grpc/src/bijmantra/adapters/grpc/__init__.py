"""gRPC adapter: clients of other services, token verification, the shared error codec."""

from bijmantra.adapters.grpc.auth import IdentitySigningKeys, JwtVerifier, bearer_metadata
from bijmantra.adapters.grpc.errors import abort_with, error_from_rpc, rpc_error_metadata
from bijmantra.adapters.grpc.germplasm import GermplasmClient

__all__ = [
    "GermplasmClient",
    "IdentitySigningKeys",
    "JwtVerifier",
    "abort_with",
    "bearer_metadata",
    "error_from_rpc",
    "rpc_error_metadata",
]
