"""The analysis repository's port and the result values that cross it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bijmantra.domain import DomainEvent
from bijmantra.domain.analysis import AnalysisJob, JobStatus, Withheld
from bijmantra.domain.analysis.scheduling import Reservation
from bijmantra.kernel import Page, PageRequest


class AnalysisRepository(Protocol):
    def add(self, job: AnalysisJob) -> None: ...

    async def get(self, analysis_db_id: str, *, for_update: bool = False) -> AnalysisJob | None: ...

    def save(self, job: AnalysisJob) -> None: ...

    async def active_count(self) -> int:
        """The organization's queued and running jobs, counted under a lock that serialises
        the organization's concurrent requests until the transaction ends."""
        ...

    async def recent(self, limit: int, *, active_only: bool) -> list[AnalysisJob]:
        """The organization's jobs, queued and running first, then newest first; only queued
        and running ones when ``active_only``."""
        ...

    async def of_variant_set(
        self, variant_set_db_id: str, page: PageRequest
    ) -> tuple[list[AnalysisJob], int]:
        """One page of the organization's jobs of ``variant_set_db_id`` (any status, any age),
        newest first, and how many there are."""
        ...

    async def store_results(
        self, analysis_db_id: str, tables: Mapping[str, bytes], artifacts: Sequence[Artifact]
    ) -> None:
        """Artifacts whose ``data`` is None are stored as pending figures."""
        ...

    async def attach(self, analysis_db_id: str, figures: Sequence[Artifact]) -> int:
        """Fill pending figures with their data; returns how many were still pending."""
        ...

    async def withhold(self, analysis_db_id: str, names: Sequence[str], reason: Withheld) -> int:
        """Mark pending figures as never to be attached, for ``reason``; returns how many were
        still pending (an attached or already withheld figure is left as it is)."""
        ...

    async def result_index(self, analysis_db_id: str) -> ResultIndex: ...

    async def result_page(
        self, analysis_db_id: str, table: str, page: PageRequest
    ) -> Page[bytes] | None: ...

    async def artifact(self, analysis_db_id: str, name: str) -> Artifact | None: ...

    async def computed_from(
        self, variant_set_db_id: str, limit: int
    ) -> tuple[list[JobReference], int]:
        """The organization's jobs of ``variant_set_db_id`` (any status), oldest first, at most
        ``limit`` of them, and how many there are."""
        ...

    async def delete(self, analysis_db_id: str) -> int:
        """Remove the job and every result of it now; the bytes of results it freed."""
        ...

    async def flush(self) -> list[DomainEvent]: ...


class AnalysisScheduler(Protocol):
    """Hands queued jobs of every organization to workers, fairly (ADR 0329)."""

    async def reserve(self, delivery: str) -> Reservation | None:
        """The job reserved for ``delivery`` (the id a job-request message names): the one an
        earlier delivery of that message reserved, else the next waiting job by
        ``scheduling.fair_order``, now reserved for it; None when no job is waiting.

        Two deliveries never reserve one job, and the same delivery always finds its job
        again, so a redelivery after a worker died resumes what that worker had taken."""
        ...


@dataclass(frozen=True, slots=True)
class JobReference:
    """A job named by what refuses a change: its id and its status."""

    analysis_db_id: str
    status: JobStatus


@dataclass(frozen=True, slots=True)
class Artifact:
    """A result file; ``data`` is None for a figure declared at completion, not yet attached.

    ``upper_triangle``: ``data`` is a symmetric ``.npy`` matrix already packed by its producer
    (its header, then rows ``m[i, i:]``; ADR 0070), served expanded."""

    name: str
    media_type: str
    data: bytes | None
    upper_triangle: bool = False
    withheld: Withheld | None = None  # a figure the worker will never attach, and why


@dataclass(frozen=True, slots=True)
class ResultIndex:
    tables: dict[str, int] = field(default_factory=dict)
    # name -> (media type, size); size None: a figure still being rendered
    artifacts: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    # name -> why the worker will never attach that figure (ADR 0369); never pending
    withheld: dict[str, Withheld] = field(default_factory=dict)

    @property
    def pending(self) -> list[str]:
        return [
            name
            for name, (_, size) in self.artifacts.items()
            if size is None and name not in self.withheld
        ]
