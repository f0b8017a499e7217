"""Inbound gRPC for the sensors context: enrolment, telemetry, history, study environment."""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec
from bijmantra.application.brapi.queries import ResourceQueries
from bijmantra.application.sensors import (
    AlertInbox,
    AlertRules,
    AuthenticateDevice,
    DeviceEnrolment,
    IngestTelemetry,
    ReadHistory,
    SensorsUnitOfWorkFactory,
    StudyEnvironment,
    StudyPlace,
    StudyPlaces,
)
from bijmantra.application.sensors.worker_calls import SensorsWorkerCalls, presence_report
from bijmantra.contracts.sensors.v1 import sensors_service_pb2 as pb
from bijmantra.contracts.sensors.v1 import sensors_service_pb2_grpc as pb_grpc
from bijmantra.domain_api.grpc_api import current_principal
from bijmantra.domain_api.paging import list_fields, requested_page
from bijmantra.kernel import Principal

# Called for a device, not a member: the AuthInterceptor lets these through without a bearer
# token and the use case checks the claim code or device credential itself.
DEVICE_METHODS = frozenset(
    f"/{pb.DESCRIPTOR.services_by_name['SensorsService'].full_name}/{name}"
    for name in ("ClaimDevice", "IngestTelemetry", "AuthenticateDevice")
)
CREDENTIAL_METADATA = "device-credential"
_encode = msgspec.json.encode


def _credential(context: Any) -> str:
    return str(dict(context.invocation_metadata() or ()).get(CREDENTIAL_METADATA, ""))


class SensorsServicer(pb_grpc.SensorsServiceServicer):
    def __init__(
        self,
        enrolment: DeviceEnrolment,
        ingest: IngestTelemetry,
        history: ReadHistory,
        environment: StudyEnvironment,
        authenticate: AuthenticateDevice,
        rules: AlertRules,
        inbox: AlertInbox,
    ) -> None:
        self._enrolment, self._ingest, self._history = enrolment, ingest, history
        self._environment, self._authenticate = environment, authenticate
        self._rules, self._inbox = rules, inbox

    @classmethod
    def over(cls, uow: SensorsUnitOfWorkFactory, places: StudyPlaces) -> SensorsServicer:
        """The servicer with its use cases over one unit of work; ``places`` locates studies."""
        return cls(
            DeviceEnrolment(uow),
            IngestTelemetry(uow),
            ReadHistory(uow),
            StudyEnvironment(uow, places),
            AuthenticateDevice(uow),
            AlertRules(uow),
            AlertInbox(uow),
        )

    async def CreateAlertRule(self, request: Any, context: Any) -> pb.CreateAlertRuleResponse:
        found = await self._rules.create(current_principal(), request.body)
        return pb.CreateAlertRuleResponse(document=_encode(found))

    async def ListAlertRules(self, request: Any, context: Any) -> pb.ListAlertRulesResponse:
        return pb.ListAlertRulesResponse(
            document=_encode(await self._rules.list(current_principal()))
        )

    async def ListAlerts(self, request: Any, context: Any) -> pb.ListAlertsResponse:
        page = requested_page(request)
        found = await self._inbox.list(current_principal(), page, request.status)
        return pb.ListAlertsResponse(**list_fields(found, _encode))

    async def AcknowledgeAlert(self, request: Any, context: Any) -> pb.AcknowledgeAlertResponse:
        found = await self._inbox.acknowledge(current_principal(), request.alert_id)
        return pb.AcknowledgeAlertResponse(document=_encode(found))

    async def ClearAlert(self, request: Any, context: Any) -> pb.ClearAlertResponse:
        found = await self._inbox.clear(current_principal(), request.alert_id)
        return pb.ClearAlertResponse(document=_encode(found))

    async def CreateProfile(self, request: Any, context: Any) -> pb.CreateProfileResponse:
        found = await self._enrolment.create_profile(current_principal(), request.body)
        return pb.CreateProfileResponse(document=_encode(found))

    async def ListProfiles(self, request: Any, context: Any) -> pb.ListProfilesResponse:
        found = await self._enrolment.profiles(current_principal())
        return pb.ListProfilesResponse(document=_encode(found))

    async def RegisterDevice(self, request: Any, context: Any) -> pb.RegisterDeviceResponse:
        found = await self._enrolment.register(current_principal(), request.body)
        return pb.RegisterDeviceResponse(document=_encode(found))

    async def ListDevices(self, request: Any, context: Any) -> pb.ListDevicesResponse:
        page = requested_page(request)
        found = await self._enrolment.list(current_principal(), page, request.device_ids)
        return pb.ListDevicesResponse(**list_fields(found, _encode))

    async def GetDevice(self, request: Any, context: Any) -> pb.GetDeviceResponse:
        found = await self._enrolment.get(current_principal(), request.device_id)
        return pb.GetDeviceResponse(document=_encode(found))

    async def IssueClaimCode(self, request: Any, context: Any) -> pb.IssueClaimCodeResponse:
        found = await self._enrolment.issue_claim(current_principal(), request.device_id)
        return pb.IssueClaimCodeResponse(document=_encode(found))

    async def RevokeDevice(self, request: Any, context: Any) -> pb.RevokeDeviceResponse:
        found = await self._enrolment.revoke(current_principal(), request.device_id)
        return pb.RevokeDeviceResponse(document=_encode(found))

    async def ClaimDevice(self, request: Any, context: Any) -> pb.ClaimDeviceResponse:
        return pb.ClaimDeviceResponse(document=_encode(await self._enrolment.claim(request.body)))

    async def IngestTelemetry(self, request: Any, context: Any) -> pb.IngestTelemetryResponse:
        found = await self._ingest(_credential(context), request.body)
        return pb.IngestTelemetryResponse(document=_encode(found))

    async def AuthenticateDevice(self, request: Any, context: Any) -> pb.AuthenticateDeviceResponse:
        found = await self._authenticate(request.credential)
        return pb.AuthenticateDeviceResponse(document=_encode(found))

    async def ReadHistory(self, request: Any, context: Any) -> pb.ReadHistoryResponse:
        found = await self._history(
            current_principal(),
            request.device_id,
            request.metric,
            getattr(request, "from"),
            request.to,
            request.resolution,
        )
        return pb.ReadHistoryResponse(document=_encode(found))

    async def StudyEnvironment(self, request: Any, context: Any) -> pb.StudyEnvironmentResponse:
        found = await self._environment(
            current_principal(),
            request.study_db_id,
            getattr(request, "from"),
            request.to,
            request.gdd_base,
        )
        return pb.StudyEnvironmentResponse(document=_encode(found))


class SensorsWorkerServicer(pb_grpc.SensorsWorkerServiceServicer):
    """The analytics-worker's calls (ADR 0290); the interceptor admits only its role here."""

    def __init__(self, calls: SensorsWorkerCalls) -> None:
        self._calls = calls

    async def RulesForDevice(self, request: Any, context: Any) -> pb.RulesForDeviceResponse:
        found = await self._calls.rules_for_device(current_principal(), request.device_id)
        return pb.RulesForDeviceResponse(document=_encode(found))

    async def OpenAlerts(self, request: Any, context: Any) -> pb.OpenAlertsResponse:
        answer = await self._calls.standing_alerts(current_principal(), request.body)
        return pb.OpenAlertsResponse(opened=answer.opened, alert_ids=answer.alert_ids)

    async def ReadingsAround(self, request: Any, context: Any) -> pb.ReadingsAroundResponse:
        window = getattr(request, "from"), request.to
        found = await self._calls.readings_around(
            current_principal(), request.device_id, request.metric, *window
        )
        return pb.ReadingsAroundResponse(document=_encode(found))

    async def ReportPresence(self, request: Any, context: Any) -> pb.ReportPresenceResponse:
        report = presence_report(
            request.report_id, request.device_id, request.status, request.at, request.last_seen_at
        )
        recorded = await self._calls.report_presence(current_principal(), report)
        return pb.ReportPresenceResponse(recorded=recorded)


def _date(value: object) -> date | None:
    """A BrAPI date or date-time string's date; anything else is no date."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


class BrapiStudyPlaces:
    """``StudyPlaces`` answered by the core context's own query service (the study document)."""

    def __init__(self, queries: ResourceQueries) -> None:
        self._queries = queries

    async def __call__(self, principal: Principal, study_db_id: str) -> StudyPlace:
        study = msgspec.json.decode(await self._queries.get(principal, "study", study_db_id))
        location = study.get("locationDbId")
        return StudyPlace(
            location if isinstance(location, str) and location else None,
            _date(study.get("startDate")),
            _date(study.get("endDate")),
        )
