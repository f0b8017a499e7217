"""A service's ports as fakes, by the names its composition root takes them, so a test
builds ``DomainAdapters(**DomainFakes().ports(), verifier=...)`` and keeps the tables to
look at (ADR 0260)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bijmantra.kernel import FixedClock
from bijmantra.testkit.analysis_scheduler import FakeAnalysisScheduler
from bijmantra.testkit.event_fakes import (
    FakeAuditStore,
    FakeDocumentLookup,
    FakeEventSubscriptions,
)
from bijmantra.testkit.export_fakes import ExportTables, fake_exports_unit_of_work_factory
from bijmantra.testkit.fakes import (
    FakeSearchResultStore,
    InMemoryDatabase,
    fake_unit_of_work_factory,
)
from bijmantra.testkit.sensors import (
    SensorTables,
    fake_sensors_unit_of_work_factory,
)


@dataclass
class DomainFakes:
    """Every port of domain-api but the token verifier (each test names its callers)."""

    database: InMemoryDatabase = field(default_factory=InMemoryDatabase)
    sensors: SensorTables = field(default_factory=SensorTables)
    exports: ExportTables = field(default_factory=ExportTables)
    clock: FixedClock = field(default_factory=lambda: FixedClock(datetime(2026, 5, 1, tzinfo=UTC)))
    searches: FakeSearchResultStore = field(default_factory=FakeSearchResultStore)
    subscriptions: FakeEventSubscriptions = field(default_factory=FakeEventSubscriptions)
    audit: FakeAuditStore = field(init=False)
    analysis_scheduler: FakeAnalysisScheduler = field(init=False)

    def __post_init__(self) -> None:
        self.audit = FakeAuditStore(self.clock)
        self.analysis_scheduler = FakeAnalysisScheduler(self.database)

    def ports(self) -> dict[str, Any]:
        return {
            "uow": fake_unit_of_work_factory(self.database),
            "sensors_uow": fake_sensors_unit_of_work_factory(self.sensors),
            "exports_uow": fake_exports_unit_of_work_factory(self.exports),
            "searches": self.searches,
            "audit": self.audit,
            "analysis_scheduler": self.analysis_scheduler,
            "subscriptions": self.subscriptions,
            "clock": self.clock,
            "lookup": FakeDocumentLookup(self.database.documents),
        }
