"""Runs one analysis job per ``analysis.requested`` delivery, as one attempt.

Reserve (domain-api picks the next job fairly between organizations, ADR 0329) -> claim
(domain-api opens an attempt) -> stream the job's genotype chunks over gRPC, decoded
in place into the int8 matrix or blocks the kernel reads (``feed``) -> compute in a thread
-> hand results back with ``CompleteAnalysis``. Progress goes to domain-api (and so onto the
event stream) at most every ``PROGRESS_INTERVAL``; a ``False`` answer means the job was
cancelled or taken over, and the attempt stops. The worker's own ledger
(``analytics.analysis_runs``) records every attempt it ran.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from typing import Any

import msgspec
from bijmantra.adapters.grpc import AnalysisWorkerClient
from bijmantra.adapters.postgres.placement import PlacementEngines, as_placements
from bijmantra.adapters.postgres.worker_tables import record_run_finished, record_run_started
from bijmantra.analytics_worker import plots
from bijmantra.analytics_worker.analyses import (
    ANALYSES,
    PER_VARIANT,
    STREAMING,
    JobInput,
    Outcome,
    feed_for,
)
from bijmantra.analytics_worker.chunk_decoding import BlockBuffers
from bijmantra.application.events import EventEnvelope
from bijmantra.domain.analysis import (
    DEFAULT_JOB_MEMORY,
    AnalysisType,
    JobShape,
    Withheld,
    memory_refusal,
)
from bijmantra.kernel import BijmantraError, RateLimited, StorageFull, TenantId, Unavailable
from bijmantra.observability import get_logger
from bijmantra.observability.metrics import ANALYSIS_JOB_DURATION
from sqlalchemy.ext.asyncio import AsyncEngine

log = get_logger(__name__)
ANALYSIS_CONSUMER = "analysis-jobs"
PROGRESS_INTERVAL = 0.5  # seconds between progress reports
READ_SHARE = 0.5  # share of the progress bar given to reading genotypes


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Stopped(Exception):
    """The job was cancelled, or another attempt superseded this one."""


class _Progress:
    def __init__(
        self,
        client: AnalysisWorkerClient,
        tenant: TenantId,
        job_id: str,
        attempt: int,
        *,
        silent: bool = False,
    ) -> None:
        """``silent``: redrawing a completed job's figures, which has no progress to show."""
        self._client, self._tenant, self._job_id, self._attempt = client, tenant, job_id, attempt
        self._silent = silent
        # The claim has just told everyone the job started: the first report waits an interval
        # rather than costing a round trip (and an event) before the second chunk is read.
        self._last = time.monotonic()

    async def __call__(self, fraction: float, stage: str, *, force: bool = False) -> None:
        if self._silent:
            return
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        if not await self._client.progress(
            self._tenant, self._job_id, self._attempt, fraction, stage
        ):
            raise Stopped(stage)


def _observe_job(analysis: str, outcome: str, started: float) -> None:
    ANALYSIS_JOB_DURATION.labels(analysis, outcome).observe(time.perf_counter() - started)


class AnalysisRunner:
    def __init__(
        self,
        client: AnalysisWorkerClient,
        engine: AsyncEngine | PlacementEngines,
        *,
        block_buffer_bytes: int,
        memory_budget: int = DEFAULT_JOB_MEMORY,
        worker: str | None = None,
    ) -> None:
        """``block_buffer_bytes``: GRM block buffers kept between jobs (``feed.BlockBuffers``);
        ``memory_budget``: bytes one job may need (ADR 0338), checked before anything is read."""
        self._client = client
        self._memory_budget = memory_budget
        self._placements = as_placements(engine)
        self.worker = worker or worker_name()
        self._buffers = BlockBuffers(block_buffer_bytes)

    async def __call__(self, envelope: EventEnvelope) -> None:
        """Run the job this delivery reserves: the next one by fairness between
        organizations, which need not be the job the message names (ADR 0329)."""
        delivery = str(envelope.data["analysis_db_id"])
        reserved = await self._client.reserve(TenantId(uuid.UUID(envelope.tenant_id)), delivery)
        if reserved is None:
            log.info("no analysis waiting; delivery dropped", delivery=delivery)
            return
        tenant, job_id = reserved.tenant_id, reserved.analysis_db_id
        claim = await self._client.claim(tenant, job_id, self.worker)
        if not claim.proceed:
            log.info("analysis already finished; delivery dropped", analysis=job_id)
            return
        attempt = claim.attempt
        spec = msgspec.json.decode(claim.job_json)
        if claim.figures_only:
            await self._draw_again(tenant, job_id, attempt, spec)
            return
        job_started = time.perf_counter()
        await self._ledger(tenant, job_id, attempt, started=True)
        progress = _Progress(self._client, tenant, job_id, attempt)
        log.info("analysis started", analysis=job_id, type=spec["type"], attempt=attempt)
        try:
            self._check_memory(spec)
            started = time.perf_counter()
            job, computing = await self._read(tenant, job_id, attempt, spec, progress)
            read_seconds = time.perf_counter() - started
            await progress(READ_SHARE, f"computing {spec['type']}", force=True)
            outcome = await computing
            compute_seconds = (
                time.perf_counter() - started - (0.0 if job.streamed else read_seconds)
            )
        except Stopped:
            log.info("analysis stopped: cancelled or superseded", analysis=job_id, attempt=attempt)
            await self._ledger(tenant, job_id, attempt, outcome="stopped")
            _observe_job(spec["type"], "stopped", job_started)
            return
        except Unavailable:
            # domain-api unreachable: no ack, so JetStream redelivers and a new attempt resumes
            await self._ledger(tenant, job_id, attempt, outcome="interrupted")
            raise
        except Exception as error:
            if isinstance(error, BijmantraError):
                message = error.message
            elif isinstance(error, ValueError):  # the kernels' way of refusing their input
                message = str(error)
            else:  # a bug: retrying the same input cannot help, so fail the job visibly
                log.exception("analysis crashed", analysis=job_id, attempt=attempt)
                message = f"internal error ({type(error).__name__}); the failure is logged"
            accepted = await self._client.fail(tenant, job_id, attempt, message)
            log.info("analysis failed", analysis=job_id, attempt=attempt, error=message)
            await self._ledger(
                tenant, job_id, attempt, outcome="failed" if accepted else "superseded"
            )
            _observe_job(spec["type"], "failed", job_started)
            return
        try:
            accepted = await self._complete(
                tenant, job_id, attempt, outcome, read_seconds, compute_seconds
            )
        except (RateLimited, StorageFull) as refused:
            # The organization's day of results is used up (ADR 0340), or its cap of stored
            # results (ADR 0343): the job fails, final; delivered again, it would take the
            # shared worker from everyone for the same refusal.
            accepted = await self._client.fail(tenant, job_id, attempt, refused.message)
            log.info("analysis results refused", analysis=job_id, error=refused.message)
            outcome_name = "failed" if accepted else "superseded"
            await self._ledger(tenant, job_id, attempt, outcome=outcome_name)
            _observe_job(spec["type"], "failed", job_started)
            return
        await self._ledger(
            tenant,
            job_id,
            attempt,
            outcome="completed" if accepted else "superseded",
            read_seconds=read_seconds,
            compute_seconds=compute_seconds,
        )
        _observe_job(spec["type"], "completed" if accepted else "superseded", job_started)
        log.info("analysis finished", analysis=job_id, attempt=attempt, accepted=accepted)
        if accepted:  # the message is acked only after this: a lost replica's figures are redrawn
            await self._attach_figures(tenant, job_id, outcome)

    def _check_memory(self, spec: dict[str, Any]) -> None:
        """Fail the job, before a byte is allocated for it, when its peak would exceed this
        worker's budget (domain-api refuses such requests; its budget may be larger, or the
        job older than the rule): a failed job is final, never retried into an OOM kill."""
        kind = AnalysisType(spec["type"])
        phenotypes = spec.get("phenotypes") or {}
        shape = JobShape(
            len(spec["samples"]),
            int(spec["nVariants"]),
            len(phenotypes) if kind.needs_phenotypes else None,
        )
        refusal = memory_refusal(kind, spec.get("parameters") or {}, shape, self._memory_budget)
        if refusal is not None:
            raise BijmantraError(f"Refused by the worker before reading: {refusal.message}")

    async def _draw_again(
        self, tenant: TenantId, job_id: str, attempt: int, spec: dict[str, Any]
    ) -> None:
        """The replica that completed the job died before attaching its figures: recompute
        (the figures are drawn from the results) and attach them; the job stays as it is."""
        log.info("analysis completed without its figures; drawing them", analysis=job_id)
        progress = _Progress(self._client, tenant, job_id, attempt, silent=True)
        _, computing = await self._read(tenant, job_id, attempt, spec, progress)
        await self._attach_figures(tenant, job_id, await computing)

    async def _attach_figures(self, tenant: TenantId, job_id: str, outcome: Outcome) -> None:
        """Attach the drawn figures; report the others withheld, with why (ADR 0369), so none
        stays pending for good. A report stores no bytes: the cap that refused the figures
        does not refuse it."""
        if not outcome.figures:
            return
        files, not_drawn = await asyncio.to_thread(plots.drawn, outcome.figures, job_id)
        withheld = dict.fromkeys(not_drawn, Withheld.NOT_DRAWN.value)
        try:
            attached = await self._client.attach_figures(tenant, job_id, files, withheld)
        except (RateLimited, StorageFull) as refused:  # the job stays completed, without figures
            log.warning("figures refused", analysis=job_id, error=refused.message)
            reason = Withheld.QUOTA if isinstance(refused, RateLimited) else Withheld.STORAGE_FULL
            withheld |= {name: reason.value for name, _, _ in files}
            await self._client.attach_figures(tenant, job_id, [], withheld)
            return
        log.info("figures attached", analysis=job_id, figures=attached, withheld=len(withheld))

    async def _read(
        self, tenant: TenantId, job_id: str, attempt: int, spec: dict[str, Any], progress: _Progress
    ) -> tuple[JobInput, asyncio.Future[Outcome]]:
        """Stream the job's chunks; a streaming kernel is already running when this returns."""
        n_variants, n_samples = int(spec["nVariants"]), len(spec["samples"])
        analysis = ANALYSES[spec["type"]]
        streaming = spec["type"] in STREAMING
        parameters = spec.get("parameters") or {}
        feed = feed_for(spec["type"], n_variants, n_samples, parameters, self._buffers)
        chrom: list[str] = []
        pos: list[int] = []
        ids: list[str] = []
        job = JobInput(
            feed.dosages,
            chrom,
            pos,
            ids,
            spec["samples"],
            parameters,
            spec.get("phenotypes") or {},
            n_variants=n_variants,
        )
        computing = asyncio.ensure_future(asyncio.to_thread(analysis, job)) if streaming else None
        chunks = self._client.genotypes(
            tenant, job_id, attempt, variants=spec["type"] in PER_VARIANT
        )
        received = 0
        try:
            async for chunk in chunks:
                await feed.room()  # no further ahead of the kernel than its blocks in flight
                feed.put(chunk)  # a table look-up per byte: ~1 ms per chunk, not worth a thread
                chrom += chunk.chrom
                pos += chunk.pos
                ids += chunk.variant_db_ids
                received += chunk.n_variants
                done = chunk.variant_start + chunk.n_variants
                await progress(READ_SHARE * done / max(n_variants, 1), "reading genotypes")
            if received != n_variants:
                raise BijmantraError(f"expected {n_variants} variants, received {received}")
        except BaseException as error:
            feed.close(error)
            if computing is not None:
                await asyncio.gather(computing, return_exceptions=True)
            raise
        feed.close()
        return job, computing or asyncio.ensure_future(asyncio.to_thread(analysis, job))

    async def _complete(
        self,
        tenant: TenantId,
        job_id: str,
        attempt: int,
        outcome: Outcome,
        read: float,
        compute: float,
    ) -> bool:
        tables = {name: msgspec.json.encode(rows) for name, rows in outcome.tables.items()}
        return await self._client.complete(
            tenant,
            job_id,
            attempt,
            summary=msgspec.json.encode(outcome.summary),
            tables=tables,
            artifacts=outcome.artifacts,
            figures=[file for figure in outcome.figures for file in figure.files],
            read_seconds=read,
            compute_seconds=compute,
        )

    async def _ledger(
        self,
        tenant: TenantId,
        job_id: str,
        attempt: int,
        *,
        started: bool = False,
        outcome: str = "",
        read_seconds: float | None = None,
        compute_seconds: float | None = None,
    ) -> None:
        async with self._placements.transaction(tenant) as conn:
            if started:
                await record_run_started(conn, tenant, job_id, attempt, self.worker)
            else:
                await record_run_finished(
                    conn,
                    job_id,
                    attempt,
                    outcome,
                    read_seconds=read_seconds,
                    compute_seconds=compute_seconds,
                )
