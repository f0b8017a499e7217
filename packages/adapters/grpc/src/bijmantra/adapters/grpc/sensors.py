"""Client of domain-api's SensorsService: members' calls forward their token, devices' calls
forward the device credential (or carry the claim code in the body)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from bijmantra.adapters.grpc.auth import bearer_metadata
from bijmantra.adapters.grpc.calls import ServiceTokenClient
from bijmantra.adapters.grpc.errors import error_from_rpc
from bijmantra.application.sensors.worker_calls import (
    PresenceReport,
    firings_body,
    readings_from_body,
    rules_from_body,
)
from bijmantra.contracts.sensors.v1 import sensors_service_pb2 as pb
from bijmantra.contracts.sensors.v1 import sensors_service_pb2_grpc as pb_grpc
from bijmantra.domain.sensors import AlertRule, Firing, TimedValue
from bijmantra.kernel import Page, PageRequest, TenantId
from bijmantra.observability.grpc_interceptors import request_id_metadata

import grpc

DEFAULT_TIMEOUT = 30.0


class SensorsClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = pb_grpc.SensorsServiceStub(channel)

    async def _call(self, method: str, request: Any, metadata: Any) -> Any:
        try:
            return await getattr(self._stub, method)(
                request, metadata=metadata, timeout=DEFAULT_TIMEOUT
            )
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None

    async def _document(self, method: str, request: Any, token: str) -> bytes:
        return bytes((await self._call(method, request, bearer_metadata(token))).document)

    async def create_profile(self, token: str, body: bytes) -> bytes:
        return await self._document("CreateProfile", pb.CreateProfileRequest(body=body), token)

    async def profiles(self, token: str) -> bytes:
        return await self._document("ListProfiles", pb.ListProfilesRequest(), token)

    async def register(self, token: str, body: bytes) -> bytes:
        return await self._document("RegisterDevice", pb.RegisterDeviceRequest(body=body), token)

    async def devices(self, token: str, page: PageRequest, ids: Sequence[str] = ()) -> Page[bytes]:
        request = pb.ListDevicesRequest(page=page.page, page_size=page.page_size, device_ids=ids)
        reply = await self._call("ListDevices", request, bearer_metadata(token))
        return Page(list(reply.documents), page, reply.total_count)

    async def device(self, token: str, device_id: str) -> bytes:
        return await self._document("GetDevice", pb.GetDeviceRequest(device_id=device_id), token)

    async def issue_claim(self, token: str, device_id: str) -> bytes:
        request = pb.IssueClaimCodeRequest(device_id=device_id)
        return await self._document("IssueClaimCode", request, token)

    async def revoke(self, token: str, device_id: str) -> bytes:
        request = pb.RevokeDeviceRequest(device_id=device_id)
        return await self._document("RevokeDevice", request, token)

    async def claim(self, body: bytes) -> bytes:
        request = pb.ClaimDeviceRequest(body=body)
        return bytes((await self._call("ClaimDevice", request, request_id_metadata())).document)

    async def ingest(self, credential: str, body: bytes) -> bytes:
        metadata = (("device-credential", credential), *request_id_metadata())
        request = pb.IngestTelemetryRequest(body=body)
        return bytes((await self._call("IngestTelemetry", request, metadata)).document)

    async def authenticate_device(self, credential: str) -> bytes:
        request = pb.AuthenticateDeviceRequest(credential=credential)
        return bytes((await self._call("AuthenticateDevice", request, ())).document)

    async def history(
        self, token: str, device_id: str, metric: str, start: str, end: str, resolution: str
    ) -> bytes:
        request = pb.ReadHistoryRequest(
            device_id=device_id, metric=metric, to=end, resolution=resolution, **{"from": start}
        )
        return await self._document("ReadHistory", request, token)

    async def environment(
        self, token: str, study_db_id: str, start: str, end: str, gdd_base: str
    ) -> bytes:
        request = pb.StudyEnvironmentRequest(
            study_db_id=study_db_id, to=end, gdd_base=gdd_base, **{"from": start}
        )
        return await self._document("StudyEnvironment", request, token)

    async def create_rule(self, token: str, body: bytes) -> bytes:
        return await self._document("CreateAlertRule", pb.CreateAlertRuleRequest(body=body), token)

    async def rules(self, token: str) -> bytes:
        return await self._document("ListAlertRules", pb.ListAlertRulesRequest(), token)

    async def alerts(self, token: str, page: PageRequest, status: str) -> Page[bytes]:
        request = pb.ListAlertsRequest(page=page.page, page_size=page.page_size, status=status)
        reply = await self._call("ListAlerts", request, bearer_metadata(token))
        return Page(list(reply.documents), page, reply.total_count)

    async def acknowledge(self, token: str, alert_id: str) -> bytes:
        request = pb.AcknowledgeAlertRequest(alert_id=alert_id)
        return await self._document("AcknowledgeAlert", request, token)

    async def clear(self, token: str, alert_id: str) -> bytes:
        return await self._document("ClearAlert", pb.ClearAlertRequest(alert_id=alert_id), token)


class SensorsWorkerClient(ServiceTokenClient):
    """The analytics-worker's side of SensorsWorkerService (ADR 0290), with a service token
    for the organization whose telemetry is being evaluated."""

    def __init__(
        self, channel: grpc.aio.Channel, token_for: Callable[[TenantId], Awaitable[str]]
    ) -> None:
        super().__init__(token_for)
        self._stub = pb_grpc.SensorsWorkerServiceStub(channel)

    async def rules_for(self, tenant: TenantId, device_id: str) -> list[AlertRule]:
        request = pb.RulesForDeviceRequest(device_id=device_id)
        response = await self._call(self._stub.RulesForDevice, request, tenant)
        return rules_from_body(tenant, response.document)

    async def open_alerts(self, tenant: TenantId, firings: Sequence[Firing]) -> set[str]:
        body = firings_body(tenant, firings)
        response = await self._call(self._stub.OpenAlerts, pb.OpenAlertsRequest(body=body), tenant)
        return set(response.alert_ids)

    async def readings_around(
        self, tenant: TenantId, device_id: str, metric: str, start: datetime, end: datetime
    ) -> list[TimedValue]:
        window = {"from": start.isoformat(), "to": end.isoformat()}
        request = pb.ReadingsAroundRequest(device_id=device_id, metric=metric, **window)
        response = await self._call(self._stub.ReadingsAround, request, tenant)
        return readings_from_body(response.document)

    async def report_presence(self, tenant: TenantId, report: PresenceReport) -> bool:
        request = pb.ReportPresenceRequest(
            report_id=report.report_id,
            device_id=report.device_id,
            status=report.change.value,
            at=report.at.isoformat(),
            last_seen_at=report.last_seen_at.isoformat() if report.last_seen_at else "",
        )
        response = await self._call(self._stub.ReportPresence, request, tenant)
        return bool(response.recorded)
