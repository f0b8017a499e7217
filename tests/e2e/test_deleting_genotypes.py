"""An organization at its storage caps deletes its own analyses and variant sets through the
platform API (ADR 0345), and the write that was refused ``storage_full`` passes right after.
A set with analyses is refused naming them; a viewer, a breeder (for a set) and another
organization delete nothing; a replayed delete is a 404 (a keyed one gets its first answer);
each delete reaches the audit trail."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from bijmantra.devstack.stack import DevStack, running_stack

from .test_storage_caps import assert_storage_full, finished, imported_set, owner

pytestmark = [pytest.mark.e2e]
PASSWORD = "pw-deleting-1"
CALLS_CAP = 2_000  # one import of 20 samples x 60 variants (1,200) fits, a second does not


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    env = {"STORAGE_CAP_GENOTYPE_CALLS": str(CALLS_CAP)}
    with running_stack(tmp_path_factory.mktemp("deleting"), env=env) as stack:
        yield stack


def member(stack: DevStack, role: str) -> tuple[uuid.UUID, httpx.Client]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@deleting.example.org"
    organization = stack.register_member(email, PASSWORD, [role])
    headers = {"Authorization": f"Bearer {stack.login(email, PASSWORD)}"}
    return organization, httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=60)


def eventually(check: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def qc(client: httpx.Client, set_id: str) -> httpx.Response:
    return client.post("/api/v1/analyses", json={"type": "qc", "variantSetDbId": set_id})


def test_deleting_frees_the_room_that_refused_a_write(stack: DevStack) -> None:
    (organization, client), (_, other) = member(stack, "data-manager"), member(stack, "admin")
    (_, viewer), (_, breeder) = member(stack, "viewer"), member(stack, "breeder")
    with client, other, viewer, breeder:
        created = imported_set(client, 20, 60)
        assert created.status_code == 201, created.text
        set_id = created.json()["data"]["variantSetDbId"]
        assert imported_set(client, 20, 60).status_code == 409  # 2,400 of the 2,000 it may keep
        job_id = qc(client, set_id).json()["data"]["analysisDbId"]
        assert finished(client, job_id)["status"] == "completed"

        # The set is refused while its analysis remains, naming it.
        refused = client.delete(f"/api/v1/variantsets/{set_id}")
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "conflict"
        assert {"location": f"analyses.{job_id}", "message": "completed"} in error["details"]
        # Nobody else deletes anything: another organization's ids are unknown to it, a
        # viewer may not delete, a breeder may delete analyses but not an import.
        assert other.delete(f"/api/v1/variantsets/{set_id}").status_code == 404
        assert other.post(f"/api/v1/analyses/{job_id}/delete").status_code == 404
        assert viewer.delete(f"/api/v1/variantsets/{set_id}").status_code == 403
        assert viewer.post(f"/api/v1/analyses/{job_id}/delete").status_code == 403
        assert breeder.delete(f"/api/v1/variantsets/{set_id}").status_code == 403

        # At its cap of results (its operator's: exactly what it keeps), no analysis queues.
        kept = owner(
            stack,
            "SELECT sum(octet_length(data)) FROM domain.analysis_results WHERE tenant_id = %s",
            organization,
        )
        owner(
            stack,
            "INSERT INTO domain.organization_quotas (tenant_id, resource, daily_limit) "
            "VALUES (%s, 'stored_analysis_result_bytes', %s) RETURNING 1",
            organization,
            kept,
        )
        full = qc(client, set_id)
        assert full.status_code == 409, full.text
        assert_storage_full(full.json()["error"]["details"], "stored_analysis_result_bytes", kept)

        key = {"Idempotency-Key": uuid.uuid4().hex}
        deleted = client.post(f"/api/v1/analyses/{job_id}/delete", headers=key)
        assert deleted.status_code == 200, deleted.text
        answer = deleted.json()["data"]
        assert answer == {
            "analysisDbId": job_id,
            "type": "qc",
            "status": "completed",
            "variantSetDbId": set_id,
            "resultBytes": kept,
        }
        again = client.post(f"/api/v1/analyses/{job_id}/delete", headers=key)
        assert again.json()["data"] == answer  # the kept answer of the keyed request
        assert client.post(f"/api/v1/analyses/{job_id}/delete").status_code == 404  # replayed
        assert client.get(f"/api/v1/analyses/{job_id}").status_code == 404
        results = "SELECT count(*) FROM domain.analysis_results WHERE tenant_id = %s"
        assert owner(stack, results, organization) == 0

        # The room is back: the refused analysis queues now. While it is queued or running the
        # set is refused, and so is deleting the job itself until it is cancelled or done.
        queued = qc(client, set_id)
        assert queued.status_code == 202, queued.text
        second = queued.json()["data"]["analysisDbId"]
        running = client.delete(f"/api/v1/variantsets/{set_id}")
        assert running.status_code == 409, running.text
        assert f"analyses.{second}" in {d["location"] for d in running.json()["error"]["details"]}
        client.delete(f"/api/v1/analyses/{second}")  # cancel: 200, or 409 once it finished
        assert finished(client, second)["status"] in ("cancelled", "completed")
        assert client.post(f"/api/v1/analyses/{second}/delete").status_code == 200

        removed = client.delete(f"/api/v1/variantsets/{set_id}")
        assert removed.status_code == 200, removed.text
        assert removed.json()["data"] == {
            "variantSetDbId": set_id,
            "variantSetName": removed.json()["data"]["variantSetName"],
            "variantCount": 60,
            "callSetCount": 20,
            "genotypeCalls": 1_200,
        }
        left = owner(
            stack,
            "SELECT (SELECT count(*) FROM domain.variant_sets WHERE tenant_id = %s) "
            "+ (SELECT count(*) FROM domain.call_sets WHERE tenant_id = %s) "
            "+ (SELECT count(*) FROM domain.variants WHERE tenant_id = %s) "
            "+ (SELECT count(*) FROM domain.genotype_chunks WHERE tenant_id = %s)",
            *[organization] * 4,
        )
        assert left == 0  # nothing of the set is kept: calls, variants, call sets
        assert client.get(f"/api/v1/variantsets/{set_id}").status_code == 404
        assert client.delete(f"/api/v1/variantsets/{set_id}").status_code == 404  # replayed
        assert imported_set(client, 20, 60).status_code == 201  # the refused import fits now

        def audited() -> bool:
            entries = client.get("/api/v1/audit", params={"page_size": 500}).json()["data"]
            done = {(e["event_type"], e["subject"], e["actor"]) for e in entries}
            return {
                ("genotyping.variant_set_deleted", set_id),
                ("analysis.deleted", job_id),
                ("analysis.deleted", second),
            } <= {(kind, subject) for kind, subject, actor in done if actor}

        assert eventually(audited), "each delete is in the organization's audit trail"
