"""A figure the worker will not attach is reported withheld, with why (ADR 0369), against the
real database: a figure that raises while drawing is listed ``not_drawn``, and when the
organization's storage cap refuses the drawn figures the worker reports them
``storage_full`` in a call the cap does not refuse. Either way the figure is not pending and
asking for it is a 409 at once; a late twin attach changes nothing; another organization
reaches none of it. Before, each stayed ``pending`` for good and its GET answered 503."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import pytest
from bijmantra.adapters.grpc import AnalysisWorkerClient
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.analytics_worker import plots
from bijmantra.analytics_worker.analyses import Outcome
from bijmantra.analytics_worker.jobs import AnalysisRunner
from bijmantra.application.analysis import (
    AnalysisRequest,
    Artifact,
    AttachFigures,
    ClaimAnalysis,
    CompleteAnalysis,
    GetAnalysis,
    GetArtifact,
    RequestAnalysis,
)
from bijmantra.application.ports import UnitOfWorkFactory
from bijmantra.domain.analysis import Withheld
from bijmantra.domain.genotyping import CallSet, VariantSet
from bijmantra.domain.tenancy.quotas import DailyQuotas, Resource
from bijmantra.domain.tenancy.storage import StorageCaps, StoredResource
from bijmantra.genomics.formats import VcfParser
from bijmantra.kernel import Conflict, NotFound, Principal, TenantId
from bijmantra.testkit.provision import ProvisionedDatabase
from bijmantra.testkit.vcf import random_vcf
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration
AT = datetime(2026, 12, 7, tzinfo=UTC)
RESULTS = StoredResource.ANALYSIS_RESULT_BYTES


@pytest.fixture(scope="module")
async def engine(database: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database.domain_url, pool_size=4)
    yield engine
    await engine.dispose()


def _worker(tenant: TenantId) -> Principal:
    return Principal("service:analytics-worker", tenant, frozenset({"analysis-worker"}))


def _breeder(tenant: TenantId) -> Principal:
    return Principal("breeder", tenant, frozenset({"breeder"}))


class DomainApi:
    """The worker's client, answered as domain-api's ``AttachFigures`` servicer answers it."""

    def __init__(self, factory: UnitOfWorkFactory) -> None:
        self._attach = AttachFigures(factory)
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    async def attach_figures(
        self,
        tenant: TenantId,
        analysis_db_id: str,
        figures: list[tuple[str, str, bytes]],
        withheld: Mapping[str, str] | None = None,
    ) -> int:
        self.calls.append(([name for name, _, _ in figures], dict(withheld or {})))
        return await self._attach(
            _worker(tenant),
            analysis_db_id,
            [Artifact(name, media_type, data) for name, media_type, data in figures],
            {name: Withheld(reason) for name, reason in (withheld or {}).items()},
        )


async def _completed(factory: UnitOfWorkFactory, tenant: TenantId, stems: list[str]) -> str:
    """A QC job of ``tenant`` completed with a 3-byte table and the figures of ``stems``
    pending."""
    written = random_vcf(np.random.default_rng(3), 6, 3)
    parser = VcfParser(block_lines=4)
    blocks = parser.feed(written.text().encode()) + parser.finish()
    call_sets = [CallSet(f"cs-{uuid.uuid4()}", f"s{j}", "g", j) for j in range(3)]
    variant_set = VariantSet(tenant, f"vs-{uuid.uuid4()}", "calls", "vcf", call_sets)
    async with factory(tenant) as uow:
        writer = await uow.genotypes.create(variant_set)
        for block in blocks:
            await writer.append(block)
        variant_set.imported(await writer.close(), {}, actor="t", at=AT)
        await uow.genotypes.seal(variant_set)
        await uow.commit()
    request = AnalysisRequest(type="qc", variant_set_db_id=variant_set.variant_set_db_id)
    job_id = str((await RequestAnalysis(factory)(_breeder(tenant), request))["analysisDbId"])
    claim = await ClaimAnalysis(factory)(_worker(tenant), job_id, "worker-a")
    pending = [
        Artifact(name, media_type, None)
        for stem in stems
        for name, media_type in plots.later(plots.qq, [], stem=stem).files
    ]
    await CompleteAnalysis(factory)(
        _worker(tenant),
        job_id,
        claim.attempt,
        summary={},
        tables={"t": b"[1]"},
        artifacts=pending,
        timings={},
    )
    return job_id


def _broken(*, stem: str) -> plots.Files:
    raise RuntimeError(f"{stem} cannot be drawn")


FINE = plots.later(plots.qq, np.linspace(0.01, 1, 20), stem="qq")
BROKEN = plots.later(_broken, stem="maf")


async def _artifacts(factory: UnitOfWorkFactory, tenant: TenantId, job_id: str) -> Any:
    document = await GetAnalysis(factory)(_breeder(tenant), job_id)
    return {a["name"]: a for a in document["results"]["artifacts"]}


async def test_a_figure_that_raises_is_listed_not_drawn_and_refused_at_once(
    engine: AsyncEngine,
) -> None:
    tenant = TenantId(uuid.uuid4())
    factory = unit_of_work_factory(engine, source="t")
    job_id = await _completed(factory, tenant, ["qq", "maf"])
    domain_api = DomainApi(factory)
    runner = AnalysisRunner(cast(AnalysisWorkerClient, domain_api), engine, block_buffer_bytes=0)
    await runner._attach_figures(tenant, job_id, Outcome({}, figures=[BROKEN, FINE]))
    artifacts = await _artifacts(factory, tenant, job_id)
    for name in ("maf.png", "maf.svg"):
        assert artifacts[name]["pending"] is False
        assert artifacts[name]["size"] is None
        assert artifacts[name]["withheld"] == "not_drawn"
        assert artifacts[name]["withheldMessage"] == Withheld.NOT_DRAWN.message
    assert artifacts["qq.png"]["pending"] is False
    assert artifacts["qq.png"]["size"] > 0
    assert artifacts["qq.png"]["withheld"] is None
    started = time.monotonic()
    with pytest.raises(Conflict, match="not_drawn"):
        await GetArtifact(factory, patience=30)(_breeder(tenant), job_id, "maf.png")
    assert time.monotonic() - started < 2  # said at once, not after the patience
    # a late twin (another replica drew it after all) changes nothing
    assert await domain_api.attach_figures(tenant, job_id, [("maf.png", "image/png", b"x")]) == 0
    assert (await _artifacts(factory, tenant, job_id))["maf.png"]["withheld"] == "not_drawn"
    # another organization reaches none of it (row-level security)
    other = TenantId(uuid.uuid4())
    with pytest.raises(NotFound):
        await domain_api.attach_figures(other, job_id, [], {"qq.png": "quota"})
    with pytest.raises(NotFound):
        await GetArtifact(factory, patience=0)(_breeder(other), job_id, "maf.png")
    assert (await _artifacts(factory, tenant, job_id))["qq.png"]["withheld"] is None


async def test_figures_the_storage_cap_refuses_are_listed_storage_full(
    engine: AsyncEngine,
) -> None:
    tenant = TenantId(uuid.uuid4())
    capped = unit_of_work_factory(engine, source="t", caps=StorageCaps({RESULTS: 3}))
    job_id = await _completed(capped, tenant, ["qq", "maf"])  # 3 bytes: at the cap
    domain_api = DomainApi(capped)
    runner = AnalysisRunner(cast(AnalysisWorkerClient, domain_api), engine, block_buffer_bytes=0)
    await runner._attach_figures(tenant, job_id, Outcome({}, figures=[BROKEN, FINE]))
    refused, report = domain_api.calls
    assert refused[0] == ["qq.png", "qq.svg"]
    assert report[0] == []  # the report carries no bytes, so the cap does not refuse it
    artifacts = await _artifacts(capped, tenant, job_id)
    assert {n: a["withheld"] for n, a in artifacts.items()} == {
        "maf.png": "not_drawn",
        "maf.svg": "not_drawn",
        "qq.png": "storage_full",
        "qq.svg": "storage_full",
    }
    assert not any(a["pending"] for a in artifacts.values())
    assert "request the analysis again" in artifacts["qq.png"]["withheldMessage"]
    with pytest.raises(Conflict, match="storage_full"):
        await GetArtifact(capped, patience=30)(_breeder(tenant), job_id, "qq.svg")
    # room freed later: a late twin of the attach still changes nothing
    roomy = DomainApi(unit_of_work_factory(engine, source="t"))
    assert await roomy.attach_figures(tenant, job_id, FINE.render()) == 0
    assert (await _artifacts(capped, tenant, job_id))["qq.png"]["size"] is None


async def test_figures_past_the_days_quota_are_listed_quota(engine: AsyncEngine) -> None:
    """The day's quota of result bytes refuses the attach at its commit (429); the report of
    the refused figures charges nothing, so the used-up quota does not refuse it."""
    tenant = TenantId(uuid.uuid4())
    day = unit_of_work_factory(
        engine, source="t", quotas=DailyQuotas({Resource.ANALYSIS_RESULT_BYTES: 3})
    )
    job_id = await _completed(day, tenant, ["qq"])  # 3 bytes: the day's quota used up
    domain_api = DomainApi(day)
    runner = AnalysisRunner(cast(AnalysisWorkerClient, domain_api), engine, block_buffer_bytes=0)
    await runner._attach_figures(tenant, job_id, Outcome({}, figures=[FINE]))
    assert [figures for figures, _ in domain_api.calls] == [["qq.png", "qq.svg"], []]
    artifacts = await _artifacts(day, tenant, job_id)
    assert {n: (a["withheld"], a["pending"]) for n, a in artifacts.items()} == {
        "qq.png": ("quota", False),
        "qq.svg": ("quota", False),
    }
    with pytest.raises(Conflict, match="quota"):
        await GetArtifact(day, patience=30)(_breeder(tenant), job_id, "qq.png")
