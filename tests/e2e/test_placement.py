"""Two organizations placed differently, through the four services (ADR 0102).

``bijmantra up --dedicated-org``'s stack: the demo organization in the shared database, the
dedicated demo organization in ``bijmantra_demo_dedicated``. A write of each lands in its own
database only; its event goes through that database's outbox relay to JetStream and comes back
to the analytics-worker's projection and domain-api's audit consumer, each writing into the
organization's own database; neither organization can read the other's ids.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from bijmantra.adapters.postgres.placement_admin import database_owner_url
from bijmantra.adapters.postgres.tenant_archive import read_manifest
from bijmantra.devstack.stack import (
    DEDICATED_DEMO_DATABASE,
    DEDICATED_DEMO_EMAIL,
    DEDICATED_DEMO_ORGANIZATION_ID,
    DEMO_ORGANIZATION_ID,
    DEMO_PASSWORD,
    DevStack,
    running_stack,
)

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_stack(tmp_path_factory.mktemp("placed"), dedicated_org=True) as stack:
        yield stack


@pytest.fixture(scope="module")
async def client(stack: DevStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        yield client


def _count(owner_url: str, sql: str, *params: object) -> int:
    with psycopg.connect(owner_url) as conn:
        conn.execute("SET row_security = off")
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


PROJECTED = (
    "SELECT count(*) FROM analytics.processed_events "
    "WHERE consumer = 'analytics-germplasm' AND subject = %s"
)
AUDITED = "SELECT count(*) FROM domain.audit_log WHERE subject = %s"


async def _until_recorded(owner_url: str, sql: str, db_id: str) -> None:
    """The consumers work after the write's response: wait (bounded) for their row."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _count(owner_url, sql, db_id) >= 1:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{sql} found nothing for {db_id}")


async def test_each_organization_writes_reads_and_projects_in_its_own_database(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    assert stack.database is not None
    shared_url = stack.database.owner_url
    dedicated_url = database_owner_url(shared_url, DEDICATED_DEMO_DATABASE)
    tokens = {
        DEMO_ORGANIZATION_ID: stack.login(),
        DEDICATED_DEMO_ORGANIZATION_ID: stack.login(DEDICATED_DEMO_EMAIL, DEMO_PASSWORD),
    }
    created: dict[str, str] = {}
    for organization, token in tokens.items():
        name = f"Placed-{uuid.uuid4().hex[:8]}"
        response = await client.post(
            "/brapi/v2/germplasm",
            json=[{"germplasmName": name, "germplasmPUI": f"p:{name}", "commonCropName": "Rice"}],
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        created[organization] = response.json()["result"]["data"][0]["germplasmDbId"]
    for organization, db_id in created.items():
        home, away = (
            (dedicated_url, shared_url)
            if organization == DEDICATED_DEMO_ORGANIZATION_ID
            else (shared_url, dedicated_url)
        )
        sql = "SELECT count(*) FROM domain.resources WHERE db_id = %s AND tenant_id = %s"
        assert _count(home, sql, db_id, organization) == 1
        assert _count(away, sql, db_id, organization) == 0
        for reader, token in tokens.items():
            got = await client.get(
                f"/brapi/v2/germplasm/{db_id}", headers={"Authorization": f"Bearer {token}"}
            )
            assert got.status_code == (200 if reader == organization else 404)
        # The event went through this database's outbox and came back to both consumers,
        # which wrote into the same database.
        await _until_recorded(home, PROJECTED, db_id)
        await _until_recorded(home, AUDITED, db_id)
        assert _count(home, PROJECTED, db_id) == 1
        assert _count(away, PROJECTED, db_id) == 0
        assert _count(away, AUDITED, db_id) == 0


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


EXPORTS = "/api/v1/organization/exports"


async def _until_status(
    client: httpx.AsyncClient, token: str, export_id: str, wanted: str
) -> dict[str, object]:
    """Poll the job (bounded) until it reaches ``wanted``; progress never goes backwards."""
    deadline, last = time.monotonic() + 180, -1.0
    while time.monotonic() < deadline:
        response = await client.get(f"{EXPORTS}/{export_id}", headers=_bearer(token))
        assert response.status_code == 200, response.text
        job: dict[str, object] = response.json()["data"]
        assert job["status"] != "failed", job
        progress = float(str(job["progress"]))
        assert progress >= last
        last = progress
        if job["status"] == wanted:
            return job
        await asyncio.sleep(0.3)
    raise AssertionError(f"export {export_id} never became {wanted}")


async def test_an_admin_exports_a_dedicated_organization_through_the_api(
    client: httpx.AsyncClient, stack: DevStack, tmp_path: Path
) -> None:
    """ADR 0285: queued by an admin, built on the organization's own database by the CLI's
    code, followed, downloaded (checksummed) only by that organization, audited, expired."""
    assert stack.database is not None
    dedicated_url = database_owner_url(stack.database.owner_url, DEDICATED_DEMO_DATABASE)
    admin = stack.login(DEDICATED_DEMO_EMAIL, DEMO_PASSWORD)
    other_admin = stack.login()
    manager = await asyncio.to_thread(
        stack.register_member, "exports-manager@example.org", DEMO_PASSWORD, ["data-manager"]
    )
    manager_token = stack.login("exports-manager@example.org", DEMO_PASSWORD, str(manager))
    # A resource of this test's own for the archive to hold, whichever test ran before it.
    name = f"export-{uuid.uuid4().hex[:8]}"
    written = await client.post(
        "/brapi/v2/germplasm",
        json=[{"germplasmName": name, "germplasmPUI": f"p:{name}", "commonCropName": "Rice"}],
        headers=_bearer(admin),
    )
    assert written.status_code == 200, written.text

    refused = await client.post(EXPORTS, headers=_bearer(manager_token))
    assert refused.status_code == 403, refused.text
    queued = await client.post(EXPORTS, headers=_bearer(admin))
    assert queued.status_code == 202, queued.text
    export_id = queued.json()["data"]["id"]
    assert queued.headers["location"] == f"{EXPORTS}/{export_id}"
    again = await client.post(EXPORTS, headers=_bearer(admin))
    assert again.status_code in (202, 409), again.text  # 409 while the first is pending
    if again.status_code == 202:  # the first finished in between: wait for the second too
        await _until_status(client, admin, again.json()["data"]["id"], "ready")

    job = await _until_status(client, admin, export_id, "ready")
    assert job["tablesDone"] == job["tablesTotal"]
    assert job["progress"] == 1.0
    for path in (f"{EXPORTS}/{export_id}", f"{EXPORTS}/{export_id}/archive"):
        # another organization's admin: not found; a lower role: refused before any lookup
        response = await client.get(path, headers=_bearer(other_admin))
        assert response.status_code == 404, (path, response.text)
        response = await client.get(path, headers=_bearer(manager_token))
        assert response.status_code == 403, (path, response.text)

    archive = tmp_path / "export.tar"
    async with client.stream(
        "GET", f"{EXPORTS}/{export_id}/archive", headers=_bearer(admin)
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-disposition"].startswith("attachment;")
        with archive.open("wb") as out:
            async for piece in response.aiter_bytes():
                out.write(piece)
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == job["archiveSha256"]
    assert archive.stat().st_size == job["archiveBytes"]
    manifest = read_manifest(archive)  # every table file against its checksum
    assert manifest["organization"]["id"] == DEDICATED_DEMO_ORGANIZATION_ID
    rows = {entry["table"]: entry["rows"] for entry in manifest["tables"]}
    assert rows["identity.organizations"] == 1
    assert rows["domain.resources"] > 0
    assert "domain.organization_export_chunks" not in rows  # no archive inside the archive

    audited = "SELECT count(*) FROM domain.audit_log WHERE subject = %s AND event_type = "
    for event_type in ("tenancy.export_requested", "tenancy.export_downloaded"):
        await _until_recorded(dedicated_url, f"{audited}'{event_type}'", export_id)

    with psycopg.connect(dedicated_url) as conn:  # its day has passed
        conn.execute("SET row_security = off")
        conn.execute(
            "UPDATE domain.organization_exports SET expires_at = now() - interval '1 second' "
            "WHERE id = %s",
            (export_id,),
        )
    await _until_status(client, admin, export_id, "expired")
    gone = await client.get(f"{EXPORTS}/{export_id}/archive", headers=_bearer(admin))
    assert gone.status_code == 404, gone.text
    pieces = "SELECT count(*) FROM domain.organization_export_chunks WHERE export_id = %s"
    assert _count(dedicated_url, pieces, export_id) == 0
