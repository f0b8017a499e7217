"""``bijmantra backup`` and ``bijmantra restore``: the local stack's side of ADR 0100.

``just up`` archives the local database's WAL into ``.bijmantra/backups``; ``backup`` takes a
verified base backup there while the platform runs; ``restore`` (platform stopped) moves the
current data directory aside, never deleting it, and replays the archive up to ``--to``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

from bijmantra.adapters.postgres.recovery import (
    BackupError,
    BackupLocation,
    take_base_backup,
    wait_until_promoted,
)
from bijmantra.adapters.postgres.recovery import restore as lay_out_restore
from bijmantra.testkit.servers import LocalPostgres


def aware_time(text: str) -> datetime:
    """An ISO 8601 time that names its zone (``Z`` or an offset)."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("give the time zone, e.g. 2026-12-06T10:00:00Z")
    return value


def backup(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    state = workdir / "stack.json"
    if not state.exists():
        sys.exit("Is `just up` running? (no .bijmantra/stack.json)")
    owner_url = json.loads(state.read_text())["owner_url"]
    try:
        taken = take_base_backup(owner_url, BackupLocation(workdir / "backups"))
    except BackupError as error:
        sys.exit(str(error))
    print(f"base backup {taken.path} verified; consistent at {taken.finished_at.isoformat()}")


def restore(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir).resolve()
    if (workdir / "stack.json").exists():
        sys.exit("Stop the platform first (Ctrl-C in the `just up` terminal).")
    datadir = workdir / "postgres"
    aside = workdir / f"postgres.before-restore-{int(time.time())}"
    if datadir.exists():
        datadir.rename(aside)
    server = LocalPostgres(datadir)
    try:
        chosen = lay_out_restore(
            BackupLocation(workdir / "backups"), datadir, args.to, os_user=server.os_user
        )
        wait_until_promoted(server.start())
    except BackupError as error:
        server.stop()
        if datadir.exists():  # a failed restore is kept for a look, never used
            datadir.rename(workdir / f"postgres.failed-restore-{int(time.time())}")
        if aside.exists():
            aside.rename(datadir)
        sys.exit(str(error))
    server.stop()
    target = args.to.isoformat() if args.to else "the end of the archive"
    print(f"restored from {chosen.path} to {target}; the previous data is in {aside}")
    print("Start the platform again with `just up`.")
