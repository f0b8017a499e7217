"""The internal IdentityService (gRPC)."""

from __future__ import annotations

from typing import Any

import msgspec
from bijmantra.contracts.tenancy.v1 import identity_service_pb2 as pb
from bijmantra.contracts.tenancy.v1 import identity_service_pb2_grpc as pb_grpc
from bijmantra.identity.tokens import SigningKeyRing


class IdentityServicer(pb_grpc.IdentityServiceServicer):
    def __init__(self, ring: SigningKeyRing) -> None:
        self._ring = ring

    async def GetSigningKeys(
        self, request: pb.GetSigningKeysRequest, context: Any
    ) -> pb.GetSigningKeysResponse:
        return pb.GetSigningKeysResponse(jwks_json=msgspec.json.encode(self._ring.jwks()))
