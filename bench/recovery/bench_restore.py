"""Point-in-time restore of a ``BENCH_RESTORE_MB`` (1024) MB database (ADR 0100), timed.

A PostgreSQL with WAL archiving gets a table of that size, a verified base backup, then
``BENCH_RESTORE_REPLAY_MB`` (256) MB more writes, a target time T and writes after T. The
server is killed and its data directory deleted; ``restore`` to T, start, wait until promoted.
Measured in the same run:

* the restore: verify + copy of the base backup, then WAL replay to T and promotion, split;
* baseline: a plain copy of the same base backup directory (``shutil.copytree``), the least a
  restore from files can cost on this disk. Reported: restore / plain copy, and the RTO for a
  100 GB database extrapolated linearly from the copy and replay rates (same base backup
  frequency, i.e. the same replay volume per GB).

    uv run python -m bench.recovery.bench_restore
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from bijmantra.adapters.postgres import libpq_url
from bijmantra.adapters.postgres.recovery import (
    BackupLocation,
    restore,
    take_base_backup,
    wait_until_promoted,
)
from bijmantra.testkit.servers import LocalPostgres
from psycopg import sql

from bench.run import ROOT

RESULTS = ROOT / "bench" / "results" / "restore.json"
SIZE_MB = int(os.environ.get("BENCH_RESTORE_MB", "1024"))
REPLAY_MB = int(os.environ.get("BENCH_RESTORE_REPLAY_MB", "256"))
# ~1 kB of text per row (md5 hex repeated: PostgreSQL stores it uncompressed below 2 kB).
FILL = (
    "INSERT INTO {} SELECT g, repeat(md5(g::text), 30) "
    "FROM generate_series(CAST(%s AS bigint), CAST(%s AS bigint)) g"
)


def _fill(url: str, table: str, megabytes: int) -> None:
    rows_per_mb = 1000
    name = sql.Identifier(table)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (g bigint, payload text)").format(name))
        rows = megabytes * rows_per_mb
        for start in range(0, rows, 100_000):
            conn.execute(sql.SQL(FILL).format(name), (start, min(start + 100_000, rows) - 1))


def _one(url: str, query: str) -> Any:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main() -> None:
    work = ROOT / ".bijmantra" / "bench-restore"
    shutil.rmtree(work, ignore_errors=True)
    location = BackupLocation(work / "backups")
    postgres = LocalPostgres(work / "pgdata", archive=location)
    url = postgres.start()
    try:
        print(f"Restore: filling {SIZE_MB} MB …", flush=True)
        _fill(url, "bulk", SIZE_MB)
        database_mb = int(_one(url, "SELECT pg_database_size(current_database())")) / 2**20
        backup = take_base_backup(url, location)
        _fill(url, "after_backup", REPLAY_MB)
        target = _one(url, "SELECT clock_timestamp()")
        expected = _one(url, "SELECT count(*) FROM after_backup")
        _fill(url, "after_target", 16)
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute("SELECT pg_switch_wal()")
        time.sleep(2)  # the archiver copies the closed segment
    finally:
        postgres.kill()
    shutil.rmtree(postgres.datadir)
    assert isinstance(target, datetime)

    started = time.perf_counter()
    shutil.copytree(backup.path, work / "plain-copy")
    plain_copy_s = time.perf_counter() - started
    shutil.rmtree(work / "plain-copy")

    restored = LocalPostgres(work / "pgdata-restored")
    started = time.perf_counter()
    restore(location, restored.datadir, target, os_user=restored.os_user)
    laid_out = time.perf_counter()
    restored_url = restored.start()
    try:
        wait_until_promoted(restored_url, timeout_s=3600)
        promoted = time.perf_counter()
        found = _one(restored_url, "SELECT count(*) FROM after_backup")
        after_target = _one(restored_url, "SELECT to_regclass('after_target') IS NULL")
    finally:
        restored.stop()
    assert found == expected, (found, expected)
    assert after_target is True  # nothing written after T came back
    copy_s, replay_s = laid_out - started, promoted - laid_out
    base_mb = _size_mb(backup.path)
    rto_100gb_s = (copy_s + replay_s) * (100 * 1024 / database_mb)
    report = {
        "meta": {"machine": platform.machine(), "cpus": os.cpu_count()},
        "database_mb": round(database_mb),
        "base_backup_mb": round(base_mb),
        "replayed_wal_mb_written": REPLAY_MB,
        "restore_layout_seconds": round(copy_s, 1),
        "replay_and_promote_seconds": round(replay_s, 1),
        "restore_seconds": round(copy_s + replay_s, 1),
        "baseline_plain_copy_seconds": round(plain_copy_s, 1),
        "ratio_restore_to_plain_copy": round((copy_s + replay_s) / plain_copy_s, 2),
        "rto_100gb_extrapolated_minutes": round(rto_100gb_s / 60, 1),
    }
    print(json.dumps(report, indent=2), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
