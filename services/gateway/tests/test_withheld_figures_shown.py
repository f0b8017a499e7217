"""A figure the worker reports withheld over gRPC (ADR 0369) reaches the user: the platform
API lists it not pending with its reason, its GET is a 409 naming why at once (not a 503
"still being rendered"), and the console's analysis page says why instead of "drawing"."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import grpc
import numpy as np
from bijmantra.adapters.grpc import AnalysisWorkerClient
from bijmantra.application.analysis import (
    AnalysisRequest,
    Artifact,
    ClaimAnalysis,
    CompleteAnalysis,
    RequestAnalysis,
)
from bijmantra.application.console.sessions import ConsoleSession, secret_key
from bijmantra.application.genotyping import ImportGenotypes, ImportSpec
from bijmantra.domain.analysis import Withheld
from bijmantra.gateway.console.web import COOKIE
from bijmantra.kernel import Principal, TenantId
from bijmantra.testkit.fakes import fake_unit_of_work_factory
from bijmantra.testkit.genotype_fakes import DosageUpload

TENANT = TenantId(uuid.uuid4())
BREEDER = Principal("u1", TENANT, frozenset({"breeder"}))
WORKER = Principal("service:analytics-worker", TENANT, frozenset({"analysis-worker"}))


async def test_a_withheld_figure_is_said_by_the_api_and_the_console(
    gateway_on_fakes: Any,
) -> None:
    tokens = {"breeder-token": BREEDER, "worker-token": WORKER}
    async with gateway_on_fakes(tokens) as on:
        uow = fake_unit_of_work_factory(on.fakes.database)
        summary = await ImportGenotypes(uow)(
            BREEDER,
            ImportSpec("s", "vcf", "Cassava"),
            DosageUpload(["S0", "S1", "S2"], np.zeros((4, 3), dtype=np.int8)),
        )
        request = AnalysisRequest(type="grm", variant_set_db_id=str(summary["variantSetDbId"]))
        job_id = str((await RequestAnalysis(uow)(BREEDER, request))["analysisDbId"])
        claim = await ClaimAnalysis(uow)(WORKER, job_id, "w")
        pending = [Artifact("grm.png", "image/png", None), Artifact("qq.png", "image/png", None)]
        await CompleteAnalysis(uow)(
            WORKER, job_id, claim.attempt, summary={}, tables={}, artifacts=pending, timings={}
        )

        async def token(_: TenantId) -> str:
            return "worker-token"

        async with grpc.aio.insecure_channel(on.domain_target) as channel:
            worker = AnalysisWorkerClient(channel, token)
            attached = await worker.attach_figures(
                TENANT, job_id, [("qq.png", "image/png", b"png")], {"grm.png": "storage_full"}
            )
        assert attached == 1

        auth = {"Authorization": "Bearer breeder-token"}
        answer = await on.client.get(f"/api/v1/analyses/{job_id}", headers=auth)
        assert answer.status_code == 200, answer.text
        grm, qq = answer.json()["data"]["results"]["artifacts"]
        assert grm == {
            "name": "grm.png",
            "mediaType": "image/png",
            "size": None,
            "pending": False,
            "withheld": "storage_full",
            "withheldMessage": Withheld.STORAGE_FULL.message,
        }
        assert (qq["pending"], qq["size"], qq["withheld"]) == (False, 3, None)
        figure = await on.client.get(f"/api/v1/analyses/{job_id}/artifacts/grm.png", headers=auth)
        assert figure.status_code == 409, figure.text
        assert "storage_full" in figure.json()["error"]["message"]

        far = on.fakes.clock.now() + timedelta(hours=1)
        on.sessions.sessions[secret_key("browser-secret")] = ConsoleSession(
            BREEDER.subject, TENANT, "breeder-token", "refresh", far, "csrf", far
        )
        page = await on.client.get(f"/app/analyses/{job_id}", cookies={COOKIE: "browser-secret"})
        assert page.status_code == 200, page.text
        assert "Drawing the figures" not in page.text
        assert "grm.png" in page.text
        assert "request the analysis again" in page.text
