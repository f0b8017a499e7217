"""Analysis jobs bounded by the memory they need (ADR 0338), through the whole topology.

The stack's services run with a 16 MiB budget per job, so a set of 1,400 samples x 10
variants (a few hundred KB to import) asks for a GRM the budget refuses: a 422 naming what
fits, nothing queued; the samples it names then run. A worker with a budget smaller than
domain-api's fails such a job with its reason, once, never retried.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from bijmantra.devstack.stack import DevStack, running_stack
from bijmantra.testkit.analysis_polling import finished_analysis
from bijmantra.testkit.servers import free_port
from bijmantra.testkit.vcf import diploid_gt_vcf

pytestmark = [pytest.mark.e2e]

BUDGET_MIB = 16
ACK_WAIT = 2.0  # seconds before an unacknowledged job would be delivered again


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    env = {"ANALYSIS_MEMORY_MIB": str(BUDGET_MIB), "ANALYSIS_ACK_WAIT": str(ACK_WAIT)}
    with running_stack(tmp_path_factory.mktemp("memory-budget"), env=env) as stack:
        yield stack


@pytest.fixture(scope="module")
async def client(stack: DevStack) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {stack.login()}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60, headers=headers) as c:
        yield c


async def imported_set(client: httpx.AsyncClient, n_samples: int, n_variants: int) -> str:
    tag = uuid.uuid4().hex[:8]
    answer = await client.post(
        "/api/v1/genotypes/imports",
        params={"name": f"memory-{tag}", "commonCropName": "Cassava"},
        content=diploid_gt_vcf(n_samples, n_variants, sample_prefix=f"M{tag}-"),
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"]["variantSetDbId"])


def jobs_of(stack: DevStack, variant_set_db_id: str) -> list[tuple[Any, ...]]:
    assert stack.database is not None
    with psycopg.connect(stack.database.owner_url) as conn:
        return conn.execute(
            "SELECT analysis_db_id, status, attempt, error FROM domain.analysis_jobs "
            "WHERE variant_set_db_id = %s",
            (variant_set_db_id,),
        ).fetchall()


def requested_events(stack: DevStack, variant_set_db_id: str) -> int:
    assert stack.database is not None
    with psycopg.connect(stack.database.owner_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM domain.outbox o JOIN domain.analysis_jobs j "
            "ON j.analysis_db_id = o.aggregate_id "
            "WHERE o.type = 'analysis.requested' AND j.variant_set_db_id = %s",
            (variant_set_db_id,),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_grm_over_the_budget_is_refused_naming_what_fits_and_nothing_is_queued(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    set_id = await imported_set(client, 1_400, 10)
    answer = await client.post("/api/v1/analyses", json={"type": "grm", "variantSetDbId": set_id})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "unprocessable"
    assert error["message"].startswith(
        "This grm analysis (1,400 samples x 10 variants) needs about 24 MiB of working memory; "
        f"an analysis may use at most {BUDGET_MIB} MiB. Reduce: at most "
    )
    hint = next(d for d in error["details"] if d["location"] == "callSetDbIds")
    fits = int(hint["message"].split()[2].replace(",", ""))
    assert 0 < fits < 1_400
    assert jobs_of(stack, set_id) == []  # no job, no event: nothing for a worker to take

    document = (await client.get(f"/api/v1/variantsets/{set_id}")).json()["data"]
    chosen = [c["callSetDbId"] for c in document["callSets"][:fits]]
    body = {"type": "grm", "variantSetDbId": set_id, "callSetDbIds": chosen}
    answer = await client.post("/api/v1/analyses", json=body)
    assert answer.status_code == 202, answer.text
    done = await finished_analysis(client, answer.json()["data"]["analysisDbId"])
    assert done["status"] == "completed", done
    assert done["summary"]["nSamples"] == fits
    assert requested_events(stack, set_id) == 1


async def test_a_worker_with_a_smaller_budget_fails_the_job_with_its_reason_once(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    """domain-api (16 MiB) accepts the job; the only worker (1 MiB) refuses it before reading
    a chunk: failed, attempt 1, one run in its ledger, and no delivery again."""
    worker = stack.services.pop("analytics-worker")
    worker.send_signal(signal.SIGTERM)
    worker.wait(30)
    stack.start_service(
        "analytics-worker",
        replica="-small",
        env={"ANALYSIS_MEMORY_MIB": "1", "WORKER_HEALTH_PORT": str(free_port())},
    )
    set_id = await imported_set(client, 300, 10)
    answer = await client.post("/api/v1/analyses", json={"type": "grm", "variantSetDbId": set_id})
    assert answer.status_code == 202, answer.text
    job = answer.json()["data"]["analysisDbId"]
    done = await finished_analysis(client, job)
    assert done["status"] == "failed"
    assert done["error"] == (
        "Refused by the worker before reading: This grm analysis (300 samples x 10 variants) "
        "needs about 5 MiB of working memory; an analysis may use at most 1 MiB. "
        "No smaller request of this kind fits."
    )
    await asyncio.sleep(2 * ACK_WAIT)  # a redelivery would have opened a second attempt
    assert [(row[1], row[2]) for row in jobs_of(stack, set_id)] == [("failed", 1)]
    assert stack.database is not None
    with psycopg.connect(stack.database.owner_url) as conn:
        runs = conn.execute(
            "SELECT outcome FROM analytics.analysis_runs WHERE analysis_db_id = %s", (job,)
        ).fetchall()
    assert runs == [("failed",)]
    assert stack.services["analytics-worker-small"].poll() is None  # alive, not crashed
