"""Disaster recovery as tests (ADR 0100): the restore drill and the RPO check.

Drill: write, take a base backup, write more, note a time T, write more, destroy the data
directory, restore to T; exactly the writes up to T come back (counts and checksums) and the
services start against the restored database and accept writes.

RPO: SIGKILL PostgreSQL in the middle of a write load, lose its data directory, restore to
the end of the archive; no acknowledged write whose WAL segment had been archived is missing.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from bijmantra.adapters.postgres import libpq_url
from bijmantra.adapters.postgres.recovery import (
    BackupLocation,
    restore,
    take_base_backup,
    wait_until_promoted,
)
from bijmantra.devstack.ports import Ports
from bijmantra.devstack.stack import DevStack
from bijmantra.testkit.provision import provision
from bijmantra.testkit.servers import LocalPostgres, free_port

pytestmark = [pytest.mark.e2e]
SEGMENT = 16 * 1024 * 1024  # PostgreSQL's default WAL segment size
RESOURCES_DIGEST = (
    "SELECT count(*), md5(coalesce(string_agg(entity || ':' || db_id || ':' || "
    "encode(body, 'hex'), ',' ORDER BY entity, db_id), '')) FROM domain.resources"
)


def scalar_row(url: str, sql: str) -> tuple[object, ...]:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return tuple(row)


def archive_everything_written(owner_url: str) -> None:
    """Close the current WAL segment and wait until the archiver has copied it, which is
    what ``archive_timeout`` does on its own within its interval."""
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        switched = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        assert switched is not None
        deadline = time.monotonic() + 60
        while True:
            row = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()
            if row is not None and row[0] is not None and row[0] >= switched[0]:
                return
            assert time.monotonic() < deadline, f"segment {switched[0]} was never archived"
            time.sleep(0.1)


def post_germplasm(client: httpx.AsyncClient | httpx.Client, names: list[str]) -> None:
    body = [
        {"germplasmName": n, "germplasmPUI": f"doi:drill/{n}", "commonCropName": "Rice"}
        for n in names
    ]
    response = client.post("/brapi/v2/germplasm", json=body)
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200, response.text


def names_served(client: httpx.Client) -> set[str]:
    response = client.get(
        "/brapi/v2/germplasm", params={"pageSize": 1000, "commonCropName": "Rice"}
    )
    assert response.status_code == 200, response.text
    return {g["germplasmName"] for g in response.json()["result"]["data"]}


@pytest.fixture
def drill_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_template: Path
) -> Iterator[tuple[DevStack, LocalPostgres, BackupLocation]]:
    location = BackupLocation(tmp_path / "backups")
    postgres = LocalPostgres(tmp_path / "pgdata", archive=location, template=postgres_template)
    monkeypatch.setenv("DATABASE_URL", postgres.start())
    stack = DevStack(tmp_path / "stack", Ports(gateway=free_port()), log_dir=tmp_path / "logs")
    try:
        stack.start_servers()
        stack.seed(testdata=False)
        stack.start_services()
        yield stack, postgres, location
    except BaseException:
        print(stack.log_tails())
        raise
    finally:
        stack.stop()
        postgres.stop()


def test_restore_drill_brings_back_exactly_the_writes_up_to_t(
    drill_stack: tuple[DevStack, LocalPostgres, BackupLocation], tmp_path: Path
) -> None:
    stack, postgres, location = drill_stack
    assert stack.database is not None
    owner_url = stack.database.owner_url
    headers = {"Authorization": f"Bearer {stack.login()}"}
    with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=30) as client:
        post_germplasm(client, [f"before-backup-{n}" for n in range(15)])
        take_base_backup(owner_url, location)
        post_germplasm(client, [f"after-backup-{n}" for n in range(15)])
        expected_names = names_served(client)
        expected_digest = scalar_row(owner_url, RESOURCES_DIGEST)
        (target,) = scalar_row(owner_url, "SELECT clock_timestamp()")
        post_germplasm(client, [f"after-t-{n}" for n in range(15)])
        assert len(names_served(client)) == 45
    archive_everything_written(owner_url)

    # The disaster: services down, the server killed, its data directory gone.
    stack.stop_services()
    postgres.kill()
    shutil.rmtree(postgres.datadir)

    assert isinstance(target, datetime)
    restored = LocalPostgres(tmp_path / "pgdata-restored")
    restore(location, restored.datadir, target, os_user=restored.os_user)
    restored_url = restored.start()
    try:
        wait_until_promoted(restored_url)
        assert scalar_row(restored_url, RESOURCES_DIGEST) == expected_digest
        stack.database = provision(restored_url)
        stack.start_services()
        headers = {"Authorization": f"Bearer {stack.login()}"}
        with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=30) as client:
            served = names_served(client)
            assert served == expected_names
            assert len(served) == 30
            post_germplasm(client, ["after-restore"])
            assert "after-restore" in names_served(client)
    finally:
        stack.stop_services()
        restored.stop()


def archived_end_lsn(location: BackupLocation) -> int:
    """The WAL position up to which the archive is complete (timeline 1)."""
    segments = sorted(
        p.name for p in location.wal_dir.iterdir() if len(p.name) == 24 and p.name.isalnum()
    )
    assert segments, "nothing was archived"
    last = segments[-1]
    log, seg = int(last[8:16], 16), int(last[16:24], 16)
    return (log << 32) + (seg + 1) * SEGMENT


def lsn_value(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def test_a_crash_loses_no_write_whose_wal_was_archived(tmp_path: Path) -> None:
    location = BackupLocation(tmp_path / "backups")
    postgres = LocalPostgres(tmp_path / "pgdata", archive=location, archive_timeout_s=1)
    owner_url = postgres.start()
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        conn.execute("CREATE TABLE rpo_probe (id bigint PRIMARY KEY, payload text NOT NULL)")
    take_base_backup(owner_url, location)

    acknowledged: list[tuple[int, int, float]] = []  # id, WAL position after commit, when
    stop = threading.Event()

    def write_load() -> None:
        with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    conn.execute("INSERT INTO rpo_probe VALUES (%s, repeat('x', 100))", (n,))
                    row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
                except psycopg.OperationalError:
                    return  # the server died under us: this write was never acknowledged
                assert row is not None
                acknowledged.append((n, lsn_value(row[0]), time.monotonic()))

    writer = threading.Thread(target=write_load)
    writer.start()
    time.sleep(4)
    killed_at = time.monotonic()
    postgres.kill()
    stop.set()
    writer.join(30)
    shutil.rmtree(postgres.datadir)

    covered = archived_end_lsn(location)
    restored = LocalPostgres(tmp_path / "pgdata-restored")
    restore(location, restored.datadir, None, os_user=restored.os_user)
    restored_url = restored.start()
    try:
        wait_until_promoted(restored_url)
        with psycopg.connect(libpq_url(restored_url), autocommit=True) as conn:
            present = {row[0] for row in conn.execute("SELECT id FROM rpo_probe")}
    finally:
        restored.stop()

    missing = [(n, lsn, at) for n, lsn, at in acknowledged if n not in present]
    assert len(acknowledged) > 100, "the load wrote too little to test anything"
    assert not [m for m in missing if m[1] <= covered], "an archived write is missing"
    # No switch was forced: only archive_timeout can have archived segments during the load.
    assert covered > acknowledged[0][1], "archive_timeout archived nothing during the load"
    oldest_missing_age = max((killed_at - at for _, _, at in missing), default=0.0)
    print(
        f"RPO: {len(missing)} of {len(acknowledged)} acknowledged writes lost, the oldest "
        f"acknowledged {oldest_missing_age:.2f} s before the crash (archive_timeout 1 s)"
    )
