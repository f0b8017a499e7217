"""``bijmantra-migrate``: apply the Alembic migrations in ``db/`` as the owner role."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from bijmantra.adapters.postgres.engine import sqlalchemy_url


def migrations_dir() -> Path:
    """``MIGRATIONS_DIR``, else the nearest ``db/migrations`` above cwd or this file."""
    if configured := os.environ.get("MIGRATIONS_DIR"):
        return Path(configured)
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in (start, *start.parents):
            candidate = folder / "db" / "migrations"
            if (candidate / "env.py").is_file():
                return candidate
    raise FileNotFoundError("db/migrations not found; set MIGRATIONS_DIR")


def upgrade(owner_url: str, revision: str = "head") -> None:
    config = Config()
    folder = migrations_dir()
    config.set_main_option("script_location", str(folder))
    # Migrations import their own frozen helpers (``ddl_v1``), never live code.
    config.set_main_option("prepend_sys_path", str(folder))
    # Alembic's config is ConfigParser-based: a literal '%' must be doubled.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(owner_url).replace("%", "%%"))
    command.upgrade(config, revision)
