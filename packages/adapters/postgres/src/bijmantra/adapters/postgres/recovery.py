"""Continuous backups and point-in-time restore with PostgreSQL's own tools (ADR 0100).

A backup location holds base backups (``pg_basebackup``, plain format, each checked with
``pg_verifybackup``) under ``base/`` and the archived WAL under ``wal/`` (``archive_command``
copies each finished segment there). Restoring copies the newest base backup that finished
before the target time into a new data directory and lets PostgreSQL replay the archive up to
that time (``recovery_target_time``), then promote.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from bijmantra.adapters.postgres.engine import libpq_url
from psycopg.conninfo import conninfo_to_dict, make_conninfo

# Archive a finished WAL segment at most this long after its first write (the RPO bound).
DEFAULT_ARCHIVE_TIMEOUT_S = 60
BACKUP_INFO = "bijmantra-backup.json"


def pg_bin_dir() -> Path | None:
    """``PG_BIN_DIR``, else the PostgreSQL 16 binaries that the pgserver wheel ships (the dev
    stack, and domain-api's image, which runs the backup CronJob), else None: ``PATH``."""
    if configured := os.environ.get("PG_BIN_DIR"):
        return Path(configured)
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "pginstall" / "bin"


def _tool(name: str) -> str:
    folder = pg_bin_dir()
    if folder is not None and (folder / name).is_file():
        return str(folder / name)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found: set PG_BIN_DIR or install the client tools")
    return found


def _run(args: Sequence[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        list(args), capture_output=True, text=True, check=False, env=env and {**os.environ, **env}
    )
    if result.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr}")
    return result.stdout


class BackupError(RuntimeError):
    """A backup or restore step failed; the message carries the tool's own words."""


@dataclass(frozen=True)
class BackupLocation:
    """Where base backups and archived WAL live (a mounted volume in Kubernetes)."""

    root: Path

    @property
    def base_dir(self) -> Path:
        return self.root / "base"

    @property
    def wal_dir(self) -> Path:
        return self.root / "wal"

    def prepare(self, os_user: str | None = None) -> None:
        """Create both folders; the server's OS user must be able to write the WAL archive."""
        for folder in (self.root, self.base_dir, self.wal_dir):
            folder.mkdir(parents=True, exist_ok=True)
        if os_user is not None:
            shutil.chown(self.wal_dir, os_user, os_user)

    def archive_settings(self, timeout_s: int = DEFAULT_ARCHIVE_TIMEOUT_S) -> dict[str, str]:
        """Server settings for continuous archiving into this location (restart to apply)."""
        wal = shlex.quote(str(self.wal_dir))
        return {
            "wal_level": "replica",
            "archive_mode": "on",
            # Never overwrite: a segment archived twice keeps its first, complete copy.
            "archive_command": f"test ! -f {wal}/%f && cp %p {wal}/%f",
            "archive_timeout": f"{timeout_s}s",
        }

    def base_backups(self) -> list[BaseBackup]:
        """The verified base backups here, oldest first."""
        found = []
        for info in sorted(self.base_dir.glob(f"*/{BACKUP_INFO}")):
            data = json.loads(info.read_text())
            found.append(
                BaseBackup(
                    path=info.parent / "data",
                    started_at=datetime.fromisoformat(data["started_at"]),
                    finished_at=datetime.fromisoformat(data["finished_at"]),
                )
            )
        return sorted(found, key=lambda backup: backup.finished_at)


@dataclass(frozen=True)
class BaseBackup:
    path: Path
    started_at: datetime
    finished_at: datetime  # server time once the backup was consistent


def choose_base_backup(backups: Sequence[BaseBackup], target: datetime | None) -> BaseBackup:
    """The newest backup that was consistent before ``target`` (any backup for "latest")."""
    usable = [b for b in backups if target is None or b.finished_at < target]
    if not usable:
        raise BackupError(
            "no base backup finished before the requested time"
            if backups
            else "no base backup in the backup location"
        )
    return max(usable, key=lambda backup: backup.finished_at)


def configure_archiving(
    owner_url: str, location: BackupLocation, timeout_s: int = DEFAULT_ARCHIVE_TIMEOUT_S
) -> None:
    """``ALTER SYSTEM`` the archive settings (superuser); ``archive_mode`` needs a restart."""
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        for name, value in location.archive_settings(timeout_s).items():
            conn.execute(
                psycopg.sql.SQL("ALTER SYSTEM SET {} = {}").format(
                    psycopg.sql.Identifier(name), psycopg.sql.Literal(value)
                )
            )


def _server_time(owner_url: str) -> datetime:
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    value: datetime = row[0]
    return value


def take_base_backup(owner_url: str, location: BackupLocation) -> BaseBackup:
    """``pg_basebackup`` (WAL streamed in, so the backup stands alone), then
    ``pg_verifybackup``; a backup that does not verify is removed and the call fails."""
    started_at = _server_time(owner_url)
    label = started_at.strftime("%Y%m%dT%H%M%S%fZ")
    target = location.base_dir / label / "data"
    # The password goes through the environment, never the command line (`ps` shows that).
    connection = conninfo_to_dict(libpq_url(owner_url))
    password = connection.pop("password", None)
    try:
        _run(
            [
                _tool("pg_basebackup"),
                "--dbname",
                make_conninfo("", **connection),
                "--pgdata",
                str(target),
                "--format=plain",
                "--wal-method=stream",
                "--checkpoint=fast",
                "--manifest-checksums=SHA256",
                "--label",
                f"bijmantra {label}",
                "--no-password",
            ],
            env={"PGPASSWORD": str(password)} if password else None,
        )
        _run([_tool("pg_verifybackup"), str(target)])
    except BackupError:
        shutil.rmtree(target.parent, ignore_errors=True)  # a half-written backup is never kept
        raise
    finished_at = _server_time(owner_url)
    # Written last and beside the data: only a verified backup is ever listed.
    (target.parent / BACKUP_INFO).write_text(
        json.dumps({"started_at": started_at.isoformat(), "finished_at": finished_at.isoformat()})
    )
    return BaseBackup(target, started_at, finished_at)


def restore(
    location: BackupLocation,
    datadir: Path,
    target: datetime | None = None,
    os_user: str | None = None,
) -> BaseBackup:
    """Lay out ``datadir`` so that PostgreSQL, once started on it, replays the archive up to
    ``target`` (every transaction committed at or before it; the end of the archive when
    None) and then promotes. ``datadir`` must not exist: a restore never overwrites."""
    if target is not None and target.tzinfo is None:
        raise BackupError("the restore target needs a time zone (e.g. 2026-12-06T10:00:00Z)")
    if datadir.exists():
        raise BackupError(f"{datadir} exists; restore into a new, empty data directory")
    chosen = choose_base_backup(location.base_backups(), target)
    _run([_tool("pg_verifybackup"), str(chosen.path)])
    shutil.copytree(chosen.path, datadir)
    wal = shlex.quote(str(location.wal_dir))
    settings = {"restore_command": f"cp {wal}/%f %p", "recovery_target_action": "promote"}
    if target is not None:
        settings |= {"recovery_target_time": target.isoformat(), "recovery_target_inclusive": "on"}
    with (datadir / "postgresql.auto.conf").open("a") as conf:
        conf.write("# bijmantra restore\n")
        for name, value in settings.items():
            escaped = value.replace("'", "''")
            conf.write(f"{name} = '{escaped}'\n")
    (datadir / "recovery.signal").touch()
    (datadir / "postmaster.pid").unlink(missing_ok=True)
    datadir.chmod(0o700)
    if os_user is not None:
        for folder, _, files in os.walk(datadir):
            shutil.chown(folder, os_user, os_user)
            for name in files:
                shutil.chown(Path(folder) / name, os_user, os_user)
    return chosen


def wait_until_promoted(owner_url: str, timeout_s: float = 120.0) -> None:
    """Block until a restored server has replayed to its target and accepts writes."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row is not None and not row[0]:
                return
        except psycopg.OperationalError:
            pass  # still starting up
        if time.monotonic() > deadline:
            raise BackupError(f"the restored server was still recovering after {timeout_s} s")
        time.sleep(0.2)


def main(argv: Sequence[str] | None = None) -> None:
    """``bijmantra-backup``: what the Kubernetes CronJob and an operator run.

    ``configure`` sets the archive settings, ``base`` takes and verifies a base backup,
    ``list`` shows the base backups, ``restore --to TIME --datadir DIR`` lays out a data
    directory for point-in-time recovery. ``DATABASE_OWNER_URL`` names the server (a
    superuser or a role with REPLICATION), ``BACKUP_DIR`` the backup location.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="bijmantra-backup")
    commands = parser.add_subparsers(dest="command", required=True)
    configure = commands.add_parser("configure", help="ALTER SYSTEM the archive settings")
    configure.add_argument("--archive-timeout", type=int, default=DEFAULT_ARCHIVE_TIMEOUT_S)
    commands.add_parser("base", help="take and verify a base backup")
    commands.add_parser("list", help="list the base backups")
    restore_cmd = commands.add_parser("restore", help="lay out a data directory for PITR")
    restore_cmd.add_argument("--to", type=datetime.fromisoformat, default=None)
    restore_cmd.add_argument("--datadir", type=Path, required=True)
    args = parser.parse_args(argv)
    location = BackupLocation(Path(os.environ.get("BACKUP_DIR", "backups")))
    owner_url = os.environ.get("DATABASE_OWNER_URL") or os.environ.get("DATABASE_URL", "")
    try:
        if args.command == "configure":
            location.prepare()
            configure_archiving(owner_url, location, args.archive_timeout)
            print("archive settings written; restart PostgreSQL to apply archive_mode")
        elif args.command == "base":
            location.prepare()
            backup = take_base_backup(owner_url, location)
            print(f"{backup.path} verified, consistent at {backup.finished_at.isoformat()}")
        elif args.command == "list":
            for backup in location.base_backups():
                print(f"{backup.finished_at.isoformat()}  {backup.path}")
        else:
            chosen = restore(location, args.datadir, args.to)
            print(f"{args.datadir} laid out from {chosen.path}; start PostgreSQL on it")
    except BackupError as error:
        sys.exit(str(error))
