"""Daily quotas per organization (ADR 0340) through the whole topology: a device's batch past
its organization's readings of the day, and a BrAPI write past its events of the day, are
refused with a 429 in each API's envelope (``Retry-After`` to 00:00 UTC) and store nothing;
another organization writes on. An analysis whose results would pass the day's bytes fails,
once, with the quota's reason, and keeps no result. An organization whose day is used up is
refused before the heavy work starts: an import while its body is still being sent, an
analysis before it is queued."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from bijmantra.devstack.stack import DevStack, running_stack
from bijmantra.testkit.partial_requests import partly_sent as send_part
from bijmantra.testkit.servers import free_port
from bijmantra.testkit.vcf import diploid_gt_vcf

pytestmark = [pytest.mark.e2e]
PASSWORD = "pw-quota-manager-1"
READINGS = 20
EVENT_BYTES = 250_000
RESULT_BYTES = 2_000
UPLOAD_BYTES = 100_000
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
PROFILE = {
    "name": "logger",
    "metrics": [{"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70}],
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    env = {
        "QUOTA_TELEMETRY_READINGS_PER_DAY": str(READINGS),
        "QUOTA_EVENT_BYTES_PER_DAY": str(EVENT_BYTES),
        "QUOTA_ANALYSIS_RESULT_BYTES_PER_DAY": str(RESULT_BYTES),
        "QUOTA_UPLOAD_BYTES_PER_DAY": str(UPLOAD_BYTES),
        # The worker reports a device offline after 3 s of silence (production: 15 min).
        "DEVICE_OFFLINE_AFTER_SECONDS": "3",
        "SENSOR_CHECK_SECONDS": "1",
    }
    with running_stack(tmp_path_factory.mktemp("quotas"), env=env) as stack:
        yield stack


def member(stack: DevStack) -> httpx.Client:
    """A data manager of a new organization."""
    email = f"manager-{uuid.uuid4().hex[:8]}@quota.example.org"
    stack.register_member(email, PASSWORD, ["data-manager"])
    headers = {"Authorization": f"Bearer {stack.login(email, PASSWORD)}"}
    return httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=60)


def device(stack: DevStack, client: httpx.Client) -> tuple[str, str]:
    """A claimed device of the client's organization: (device id, credential)."""
    created = client.post("/brapi/v2/locations", json=[{"locationName": "store"}])
    assert created.status_code == 200, created.text
    location = created.json()["result"]["data"][0]["locationDbId"]
    profile = client.post("/api/v1/device-profiles", json=PROFILE)
    assert profile.status_code == 201, profile.text
    body = {"name": "d", "profileId": profile.json()["data"]["profileId"], "locationDbId": location}
    registered = client.post("/api/v1/devices", json=body)
    assert registered.status_code == 201, registered.text
    device_id = registered.json()["data"]["deviceId"]
    code = client.post(f"/api/v1/devices/{device_id}/claim-code").json()["data"]["claimCode"]
    with httpx.Client(base_url=stack.gateway_url, timeout=60) as anonymous:
        claimed = anonymous.post("/api/v1/devices/claim", json={"claimCode": code})
    assert claimed.status_code == 200, claimed.text
    return device_id, claimed.json()["data"]["credential"]


def send(stack: DevStack, credential: str, minutes: range) -> httpx.Response:
    readings = [
        {"metric": "air_temperature", "time": (NOW - timedelta(minutes=m)).isoformat(), "value": 1}
        for m in minutes
    ]
    with httpx.Client(base_url=stack.gateway_url, timeout=60) as client:
        return client.post(
            "/api/v1/telemetry",
            json={"readings": readings},
            headers={"Authorization": f"Device {credential}"},
        )


def stored(client: httpx.Client, device_id: str) -> int:
    query = {
        "metric": "air_temperature",
        "from": (NOW - timedelta(hours=2)).isoformat(),
        "to": NOW.isoformat(),
        "resolution": "1m",
    }
    answer = client.get(f"/api/v1/devices/{device_id}/telemetry", params=query)
    assert answer.status_code == 200, answer.text
    return sum(int(p["count"]) for p in answer.json()["data"]["points"])


def assert_quota_refusal(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 429, answer.text
    assert 1 <= int(answer.headers["Retry-After"]) <= 86_400
    return answer.json()  # type: ignore[no-any-return]


def test_a_batch_past_the_days_readings_is_refused_and_stores_nothing(stack: DevStack) -> None:
    with member(stack) as client, member(stack) as other:
        device_id, credential = device(stack, client)
        assert send(stack, credential, range(1, 16)).status_code == 200
        refused = assert_quota_refusal(send(stack, credential, range(20, 30)))
        assert refused["error"]["code"] == "rate_limited"
        assert "telemetry readings" in refused["error"]["message"]
        details = {d["location"]: d["message"] for d in refused["error"]["details"]}
        assert details["quota"] == "telemetry_readings"
        assert stored(client, device_id) == 15
        assert send(stack, credential, range(1, 16)).status_code == 200  # a replay costs nothing
        assert send(stack, credential, range(40, 45)).status_code == 200  # exactly the 20
        _, theirs = device(stack, other)
        assert send(stack, theirs, range(1, 21)).status_code == 200
    metrics = httpx.get(f"http://127.0.0.1:{stack.ports.domain_metrics}/metrics").text
    assert 'quota_refusals_total{resource="telemetry_readings"}' in metrics


def test_a_write_past_the_days_events_is_refused_in_the_brapi_envelope(stack: DevStack) -> None:
    padding = "x" * 60_000
    with member(stack) as client, member(stack) as other:

        def create(c: httpx.Client, name: str) -> httpx.Response:
            document = {
                "germplasmName": name,
                "germplasmPUI": f"{name}-{uuid.uuid4().hex[:6]}",
                "commonCropName": "Maize",
                "additionalInfo": {"padding": padding},
            }
            return c.post("/brapi/v2/germplasm", json=[document])

        answers = [create(client, f"g{i}") for i in range(6)]
        statuses = [a.status_code for a in answers]
        assert statuses[:3] == [200, 200, 200], answers[0].text
        assert 429 in statuses
        refused = create(client, "refused")
        body = assert_quota_refusal(refused)
        assert body["metadata"]["status"][0]["messageType"] == "ERROR"
        assert "daily quota of bytes of events" in body["metadata"]["status"][0]["message"]
        found = client.get("/brapi/v2/germplasm", params={"germplasmName": "refused"})
        assert found.json()["result"]["data"] == []
        assert create(other, "theirs").status_code == 200


def imported_set(client: httpx.Client, samples: int, variants: int) -> str:
    answer = client.post(
        "/api/v1/genotypes/imports",
        params={"name": f"quota-{uuid.uuid4().hex[:6]}", "commonCropName": "Cassava"},
        content=diploid_gt_vcf(samples, variants),
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"]["variantSetDbId"])


def test_an_analysis_past_the_days_result_bytes_fails_once_and_keeps_nothing(
    stack: DevStack,
) -> None:
    with member(stack) as client:
        set_id = imported_set(client, 20, 60)
        answer = client.post("/api/v1/analyses", json={"type": "qc", "variantSetDbId": set_id})
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["data"]["analysisDbId"]
        deadline, document = time.monotonic() + 90, {}
        while time.monotonic() < deadline:
            document = client.get(f"/api/v1/analyses/{job_id}").json()["data"]
            if document["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.2)
        assert document["status"] == "failed", document
        assert "daily quota of bytes of analysis results" in document["error"], document
        assert document["attempt"] == 1
    assert stack.database is not None
    with psycopg.connect(stack.database.owner_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM domain.analysis_results WHERE analysis_db_id = %s", (job_id,)
        ).fetchone()
    assert row == (0,)


def test_a_job_queued_before_its_organization_used_up_its_events_still_runs(
    stack: DevStack,
) -> None:
    """The worker's claim, progress and completion write events too; they carry out work
    already accepted and are not refused (else the job would be stranded, redelivered until
    dead-lettered). The organization's own limits (an operator's) make its day of events used
    up and its results' day large."""
    email = f"manager-{uuid.uuid4().hex[:8]}@quota.example.org"
    organization = stack.register_member(email, PASSWORD, ["data-manager"])
    assert stack.database is not None
    with psycopg.connect(stack.database.owner_url) as conn:
        conn.execute(
            "INSERT INTO domain.organization_quotas (tenant_id, resource, daily_limit) "
            "VALUES (%s, 'analysis_result_bytes', 1000000000)",
            (organization,),
        )
    headers = {"Authorization": f"Bearer {stack.login(email, PASSWORD)}"}
    with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=60) as client:
        set_id = imported_set(client, 20, 60)
        worker = stack.services.pop("analytics-worker")
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        answer = client.post("/api/v1/analyses", json={"type": "qc", "variantSetDbId": set_id})
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["data"]["analysisDbId"]
        with psycopg.connect(stack.database.owner_url) as conn:  # its day of events: used up
            conn.execute(
                "INSERT INTO domain.organization_quotas (tenant_id, resource, daily_limit) "
                "VALUES (%s, 'event_bytes', 1)",
                (organization,),
            )
        document = {"germplasmName": "g", "germplasmPUI": f"pui-{uuid.uuid4().hex}"}
        refused = client.post("/brapi/v2/germplasm", json=[{**document, "commonCropName": "M"}])
        assert refused.status_code == 429, refused.text
        stack.start_service(
            "analytics-worker", replica="-again", env={"WORKER_HEALTH_PORT": str(free_port())}
        )
        deadline, job = time.monotonic() + 90, {}
        while time.monotonic() < deadline:
            job = client.get(f"/api/v1/analyses/{job_id}").json()["data"]
            if job["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.2)
        assert job["status"] == "completed", job


def test_a_refused_keyed_write_is_neither_kept_nor_recorded_so_its_retry_runs(
    stack: DevStack,
) -> None:
    """A 429 is not an answer the gateway keeps for the ``Idempotency-Key``, and the refused
    transaction recorded no key: once the organization has room again (here its operator's
    own limit), the very same request is applied, once."""
    email = f"manager-{uuid.uuid4().hex[:8]}@quota.example.org"
    organization = stack.register_member(email, PASSWORD, ["data-manager"])
    assert stack.database is not None
    headers = {"Authorization": f"Bearer {stack.login(email, PASSWORD)}"}
    body = [
        {
            "germplasmName": "keyed",
            "germplasmPUI": f"pui-{uuid.uuid4().hex}",
            "commonCropName": "Maize",
            "additionalInfo": {"padding": "x" * 60_000},
        }
    ]
    with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=60) as client:
        for _ in range(6):  # the organization's day of events, used up
            filler = [{**body[0], "germplasmName": "filler", "germplasmPUI": uuid.uuid4().hex}]
            if client.post("/brapi/v2/germplasm", json=filler).status_code == 429:
                break
        keyed = {"Idempotency-Key": uuid.uuid4().hex}
        refused = client.post("/brapi/v2/germplasm", json=body, headers=keyed)
        assert refused.status_code == 429, refused.text
        with psycopg.connect(stack.database.owner_url) as conn:
            conn.execute(
                "INSERT INTO domain.organization_quotas (tenant_id, resource, daily_limit) "
                "VALUES (%s, 'event_bytes', 100000000)",
                (organization,),
            )
        applied = client.post("/brapi/v2/germplasm", json=body, headers=keyed)
        assert applied.status_code == 200, applied.text
        again = client.post("/brapi/v2/germplasm", json=body, headers=keyed)
        assert again.status_code == 200
        assert again.json() == applied.json()  # the kept answer, not a second write
        found = client.get("/brapi/v2/germplasm", params={"germplasmName": "keyed"})
        assert len(found.json()["result"]["data"]) == 1


def test_an_image_past_the_days_upload_bytes_is_refused_and_not_stored(stack: DevStack) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(60_000)
    with member(stack) as client, member(stack) as other:

        def upload(c: httpx.Client) -> tuple[str, httpx.Response]:
            created = c.post("/brapi/v2/images", json=[{"imageName": "leaf"}])
            assert created.status_code == 200, created.text
            db_id = created.json()["result"]["data"][0]["imageDbId"]
            headers = {"Content-Type": "image/png"}
            return db_id, c.put(
                f"/brapi/v2/images/{db_id}/imagecontent", content=png, headers=headers
            )

        _, first = upload(client)
        assert first.status_code == 200, first.text
        db_id, refused = upload(client)  # 120 kB of the day's 100 kB
        body = assert_quota_refusal(refused)
        assert "daily quota of bytes of uploaded files" in body["metadata"]["status"][0]["message"]
        image = client.get(f"/brapi/v2/images/{db_id}").json()["result"]
        assert image.get("imageFileSize") in (None, 0)  # nothing of it was kept
        assert upload(other)[1].status_code == 200


def test_a_device_goes_offline_even_when_its_organization_used_up_its_events(
    stack: DevStack,
) -> None:
    """The worker's presence report carries out accepted telemetry: not refused for the day."""
    email = f"manager-{uuid.uuid4().hex[:8]}@quota.example.org"
    organization = stack.register_member(email, PASSWORD, ["data-manager"])
    assert stack.database is not None
    headers = {"Authorization": f"Bearer {stack.login(email, PASSWORD)}"}
    with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=60) as client:
        device_id, credential = device(stack, client)
        assert send(stack, credential, range(1, 3)).status_code == 200
        with psycopg.connect(stack.database.owner_url) as conn:
            conn.execute(
                "INSERT INTO domain.organization_quotas (tenant_id, resource, daily_limit) "
                "VALUES (%s, 'event_bytes', 1)",
                (organization,),
            )
        assert send(stack, credential, range(5, 7)).status_code == 429  # intake is refused
        deadline, status = time.monotonic() + 30, ""
        while time.monotonic() < deadline:
            status = client.get(f"/api/v1/devices/{device_id}").json()["data"]["status"]
            if status == "offline":
                break
            time.sleep(0.5)
        assert status == "offline"


def member_of_new_organization(stack: DevStack) -> tuple[uuid.UUID, httpx.Client]:
    email = f"manager-{uuid.uuid4().hex[:8]}@quota.example.org"
    organization = stack.register_member(email, PASSWORD, ["data-manager"])
    headers = {"Authorization": f"Bearer {stack.login(email, PASSWORD)}"}
    return organization, httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=60)


def owner_sql(stack: DevStack, query: str, *args: object) -> int:
    assert stack.database is not None
    with psycopg.connect(stack.database.owner_url) as conn:
        row = conn.execute(query, args).fetchone()
    return int(row[0]) if row else 0


def partly_sent(
    stack: DevStack,
    client: httpx.Client,
    method: str,
    path: str,
    content_type: str,
    declared: int,
    first: bytes,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, bytes]:
    authorization = str(client.headers["Authorization"])
    return send_part(
        stack.gateway_url, authorization, method, path, content_type, declared, first, headers
    )


def vcf_text(samples: int, variants: int) -> str:
    names = "\t".join(f"S{i}" for i in range(samples))
    head = f"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{names}\n"
    row = "\t".join(["0/1"] * samples)
    return head + "".join(
        f"chr1\t{100 + i}\tm{i}\tA\tG\t50\tPASS\t.\tGT\t{row}\n" for i in range(variants)
    )


def refusals(stack: DevStack, resource: str) -> float:
    """domain-api's ``quota_refusals_total{resource}`` as scraped now."""
    metrics = httpx.get(f"http://127.0.0.1:{stack.ports.domain_metrics}/metrics").text
    sample = f'quota_refusals_total{{resource="{resource}"}} '
    found = [line for line in metrics.splitlines() if line.startswith(sample)]
    return float(found[0].split()[-1]) if found else 0.0


def assert_refused_early(answer: tuple[int, str, bytes], quota: bytes) -> None:
    status, retry_after, body = answer
    assert status == 429, body
    assert 1 <= int(retry_after) <= 86_400
    assert quota in body


def test_an_import_past_the_days_calls_is_refused_while_its_body_is_still_being_sent(
    stack: DevStack,
) -> None:
    """The organization's own limit is 20 x 60 calls: its first import takes them all. The
    next ones declare 512 MiB and send their first 256 kB: the 429 comes back then, without
    the rest (on the old code the gateway streamed on, or read the form, waiting for the
    body, and nothing came back), and no variant set was begun. A raw VCF body is refused
    by the import before it reads it; a multipart one by the gateway before it reads the form."""
    organization, client = member_of_new_organization(stack)
    owner_sql(
        stack,
        "INSERT INTO domain.organization_quotas (tenant_id, resource, daily_limit) "
        "VALUES (%s, 'genotype_calls', 1200) RETURNING 1",
        organization,
    )
    with client, member(stack) as other:
        imported_set(client, 20, 60)  # under its limit: imported, the day used up
        counted = refusals(stack, "genotype_calls")
        path = f"/api/v1/genotypes/imports?name=refused-{uuid.uuid4().hex[:6]}&commonCropName=C"
        first = vcf_text(20, 3000).encode()[: 256 << 10]
        raw = partly_sent(stack, client, "POST", path, "text/plain", 512 << 20, first)
        assert_refused_early(raw, b"daily quota of genotype calls")
        boundary = "quota-boundary"
        part = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="bed"; filename="a.bed"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + b"\x6c\x1b\x01"
            + bytes(256 << 10)
        )
        form = f"multipart/form-data; boundary={boundary}"
        multipart = partly_sent(stack, client, "POST", path, form, 512 << 20, part)
        assert_refused_early(multipart, b"daily quota of genotype calls")
        sets = owner_sql(
            stack, "SELECT count(*) FROM domain.variant_sets WHERE tenant_id = %s", organization
        )
        assert sets == 1  # the first import's only
        imported_set(other, 20, 60)  # another organization imports on
        assert refusals(stack, "genotype_calls") == counted + 2  # each refused request, once


def test_a_keyed_import_is_refused_before_it_is_spooled_and_a_completed_one_still_replays(
    stack: DevStack,
) -> None:
    """ADR 0347. An import sent with an ``Idempotency-Key`` once had its body spooled whole
    (up to 64 MiB) before the day's calls were read: the 32 MiB one below, of which 256 kB
    are sent, was answered only after the rest (here: never, the client times out). Now a
    key without a record is checked first and refused at once, raw or multipart; a retry of
    the completed import is still answered from its kept response though the day is used up
    now; a refused key claimed nothing, so it imports once the organization has room."""
    organization, client = member_of_new_organization(stack)
    limit = "INSERT INTO domain.organization_quotas (tenant_id, resource, daily_limit) "
    owner_sql(stack, limit + "VALUES (%s, 'genotype_calls', 1200) RETURNING 1", organization)
    path = f"/api/v1/genotypes/imports?name=keyed-{uuid.uuid4().hex[:6]}&commonCropName=C"
    vcf = diploid_gt_vcf(20, 60)
    with client, member(stack) as other:
        done = {"Idempotency-Key": uuid.uuid4().hex}
        first = client.post(path, content=vcf, headers=done)  # the day's 1,200 calls
        assert first.status_code == 201, first.text
        counted = refusals(stack, "genotype_calls")
        replayed = client.post(path, content=vcf, headers=done)
        assert replayed.status_code == 201, replayed.text
        assert replayed.headers["idempotent-replayed"] == "true"
        assert replayed.json() == first.json()
        fresh = {"Idempotency-Key": uuid.uuid4().hex}
        head = vcf_text(20, 3000).encode()[: 256 << 10]
        raw = partly_sent(stack, client, "POST", path, "text/plain", 32 << 20, head, fresh)
        assert_refused_early(raw, b"daily quota of genotype calls")
        boundary = "keyed-boundary"
        part = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="bed"; filename="a.bed"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode() + bytes(256 << 10)
        form = f"multipart/form-data; boundary={boundary}"
        multipart = partly_sent(stack, client, "POST", path, form, 32 << 20, part, fresh)
        assert_refused_early(multipart, b"daily quota of genotype calls")
        assert refusals(stack, "genotype_calls") == counted + 2  # not the replay
        email = f"viewer-{uuid.uuid4().hex[:8]}@quota.example.org"
        stack.register_member(email, PASSWORD, ["viewer"])
        viewer = {"Authorization": f"Bearer {stack.login(email, PASSWORD)}"}
        with httpx.Client(base_url=stack.gateway_url, headers=viewer, timeout=60) as reader:
            forbidden = partly_sent(
                stack, reader, "POST", path, "text/plain", 32 << 20, head, fresh
            )
        assert forbidden[0] == 403, forbidden  # a lower role: refused unread as well
        theirs = other.post(path, content=vcf, headers=fresh)  # another organization's key
        assert theirs.status_code == 201, theirs.text
        assert "idempotent-replayed" not in theirs.headers
        owner_sql(
            stack,
            "UPDATE domain.organization_quotas SET daily_limit = 2400 WHERE tenant_id = %s "
            "AND resource = 'genotype_calls' RETURNING 1",
            organization,
        )
        applied = client.post(path, content=vcf, headers=fresh)
        assert applied.status_code == 201, applied.text
        assert "idempotent-replayed" not in applied.headers
    sets = "SELECT count(*) FROM domain.variant_sets WHERE tenant_id = %s"
    assert owner_sql(stack, sets, organization) == 2


def test_an_image_past_the_days_upload_bytes_is_refused_before_its_body_is_read(
    stack: DevStack,
) -> None:
    """The day's 100 kB of uploads: 60 kB stored leave room for 40 kB. An image declaring
    60 kB is refused once its first kilobyte is sent; so is one declaring 120 kB in an
    organization that has stored nothing; one of 39 kB is stored."""
    png = b"\x89PNG\r\n\x1a\n" + bytes(60_000)
    with member(stack) as client, member(stack) as fresh:

        def image(c: httpx.Client) -> str:
            created = c.post("/brapi/v2/images", json=[{"imageName": "leaf"}])
            assert created.status_code == 200, created.text
            return str(created.json()["result"]["data"][0]["imageDbId"])

        def put(c: httpx.Client, declared: int) -> tuple[int, str, bytes]:
            path = f"/brapi/v2/images/{image(c)}/imagecontent"
            return partly_sent(stack, c, "PUT", path, "image/png", declared, png[:1000])

        stored = client.put(
            f"/brapi/v2/images/{image(client)}/imagecontent",
            content=png,
            headers={"Content-Type": "image/png"},
        )
        assert stored.status_code == 200, stored.text
        counted = refusals(stack, "upload_bytes")
        assert_refused_early(put(client, len(png)), b"daily quota of bytes of uploaded files")
        assert_refused_early(put(fresh, 120_000), b"daily quota of bytes of uploaded files")
        assert refusals(stack, "upload_bytes") == counted + 2
        smaller = client.put(
            f"/brapi/v2/images/{image(client)}/imagecontent",
            content=png[:39_000],
            headers={"Content-Type": "image/png"},
        )
        assert smaller.status_code == 200, smaller.text


def test_an_analysis_is_refused_before_it_is_queued_when_the_days_results_are_used_up(
    stack: DevStack,
) -> None:
    """The worker never computes a job whose results the day has no room for: no job row,
    no event; another organization's request, under its limit, is queued."""
    organization, client = member_of_new_organization(stack)
    with client, member(stack) as other:
        mine, theirs = imported_set(client, 20, 60), imported_set(other, 20, 60)
        owner_sql(  # its day of results, used up (on a shard of its own)
            stack,
            "INSERT INTO domain.organization_usage (tenant_id, resource, period, shard, used) "
            "VALUES (%s, 'analysis_result_bytes', (now() AT TIME ZONE 'UTC')::date, 31, %s) "
            "RETURNING 1",
            organization,
            RESULT_BYTES,
        )
        counted = refusals(stack, "analysis_result_bytes")
        refused = client.post("/api/v1/analyses", json={"type": "qc", "variantSetDbId": mine})
        body = assert_quota_refusal(refused)
        assert refusals(stack, "analysis_result_bytes") == counted + 1
        assert "daily quota of bytes of analysis results" in body["error"]["message"]
        jobs = "SELECT count(*) FROM domain.analysis_jobs WHERE tenant_id = %s"
        assert owner_sql(stack, jobs, organization) == 0
        requested = (
            "SELECT count(*) FROM domain.outbox WHERE tenant_id = %s AND type LIKE 'analysis.%%'"
        )
        assert owner_sql(stack, requested, organization) == 0  # nothing to publish
        queued = other.post("/api/v1/analyses", json={"type": "qc", "variantSetDbId": theirs})
        assert queued.status_code == 202, queued.text
