"""Sensors use cases: enrolment, telemetry ingestion, history and study environment."""

from bijmantra.application.sensors.alerts import (
    AlertInbox,
    AlertRules,
    alert_document,
    rule_document,
)
from bijmantra.application.sensors.credentials import (
    CLAIM_PREFIX,
    CREDENTIAL_PREFIX,
    Secret,
    new_secret,
    parse_secret,
)
from bijmantra.application.sensors.enrolment import (
    AuthenticateDevice,
    DeviceEnrolment,
    ReleaseEdgeShare,
)
from bijmantra.application.sensors.ports import (
    AlertStore,
    SensorStore,
    SensorsUnitOfWork,
    SensorsUnitOfWorkFactory,
    StudyPlace,
    StudyPlaces,
)
from bijmantra.application.sensors.telemetry import (
    IngestTelemetry,
    ReadHistory,
    StudyEnvironment,
    history_csv,
)

__all__ = [
    "CLAIM_PREFIX",
    "CREDENTIAL_PREFIX",
    "AlertInbox",
    "AlertRules",
    "AlertStore",
    "AuthenticateDevice",
    "DeviceEnrolment",
    "IngestTelemetry",
    "ReadHistory",
    "ReleaseEdgeShare",
    "Secret",
    "SensorStore",
    "SensorsUnitOfWork",
    "SensorsUnitOfWorkFactory",
    "StudyEnvironment",
    "StudyPlace",
    "StudyPlaces",
    "alert_document",
    "history_csv",
    "new_secret",
    "parse_secret",
    "rule_document",
]
