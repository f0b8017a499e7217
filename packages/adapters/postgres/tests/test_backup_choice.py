"""Which base backup a point-in-time restore starts from (pure rule, no server)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bijmantra.adapters.postgres.recovery import (
    BackupError,
    BackupLocation,
    BaseBackup,
    choose_base_backup,
    restore,
)

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def backup(minutes: int) -> BaseBackup:
    at = T0 + timedelta(minutes=minutes)
    return BaseBackup(Path(f"/b/{minutes}"), at - timedelta(seconds=30), at)


def test_the_newest_backup_consistent_before_the_target_is_chosen() -> None:
    backups = [backup(0), backup(60), backup(120)]
    assert choose_base_backup(backups, T0 + timedelta(minutes=90)).path == Path("/b/60")
    assert choose_base_backup(backups, T0 + timedelta(minutes=121)).path == Path("/b/120")
    assert choose_base_backup(backups, None).path == Path("/b/120")


def test_a_backup_finishing_at_the_target_cannot_reach_it() -> None:
    backups = [backup(0), backup(60)]
    assert choose_base_backup(backups, T0 + timedelta(minutes=60)).path == Path("/b/0")


def test_no_backup_before_the_target_is_an_error() -> None:
    with pytest.raises(BackupError, match="before the requested time"):
        choose_base_backup([backup(60)], T0)
    with pytest.raises(BackupError, match="no base backup"):
        choose_base_backup([], None)


def test_restore_refuses_a_naive_time_and_an_existing_data_directory(tmp_path: Path) -> None:
    location = BackupLocation(tmp_path / "backups")
    with pytest.raises(BackupError, match="time zone"):
        restore(location, tmp_path / "new", datetime(2026, 12, 6, 10, 0))
    (tmp_path / "existing").mkdir()
    with pytest.raises(BackupError, match="exists"):
        restore(location, tmp_path / "existing", T0)
